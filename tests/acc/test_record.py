"""Pure record building: Sip-Method bits, Acct-Status-Type, extras syntax, renderings."""
from __future__ import annotations

import pytest

from opensipsg.acc import record as rec


@pytest.mark.parametrize("method,bit", [
    ("INVITE", 1), ("CANCEL", 2), ("ACK", 4), ("BYE", 8), ("INFO", 16), ("OPTIONS", 32),
    ("UPDATE", 64), ("REGISTER", 128), ("MESSAGE", 256), ("SUBSCRIBE", 512), ("NOTIFY", 1024),
    ("PRACK", 2048), ("REFER", 4096), ("PUBLISH", 8192), ("FOO", 16384), ("invite", 1),
])
def test_sip_method_bits_are_16s_internal_values(method, bit):
    assert rec.sip_method_bit(method) == bit


def _record(method="INVITE", code="200", in_dialog=False, **kw):
    base = dict(from_tag="ft", to_tag="tt", call_id="cid@x", reason="OK", timestamp=1700000000)
    base.update(kw)
    return rec.AccRecord(method=method, code=code, in_dialog=in_dialog, **base)


@pytest.mark.parametrize("method,code,in_dialog,status", [
    ("INVITE", "200", False, rec.STATUS_START),
    ("INVITE", "486", False, rec.STATUS_FAILED),
    ("BYE", "200", True, rec.STATUS_STOP),
    ("CANCEL", "200", False, rec.STATUS_STOP),
    ("INVITE", "200", True, rec.STATUS_ALIVE),
    ("INFO", "200", True, rec.STATUS_ALIVE),
    ("MESSAGE", "200", False, rec.STATUS_FAILED),
    ("REGISTER", "200", False, rec.STATUS_FAILED),
])
def test_acct_status_type(method, code, in_dialog, status):
    assert rec.aaa_status(_record(method, code, in_dialog)) == status


def test_aaa_attributes_in_16_order_and_empty_values_left_out():
    record = _record(to_tag="", extras=(("User-Name", "alice"), ("Calling-Station-Id", None)))
    attrs = rec.aaa_attributes(record)
    assert [a[0] for a in attrs] == ["Acct-Status-Type", "Service-Type", "Sip-Response-Code", "Sip-Method",
                                     "Event-Timestamp", "Sip-From-Tag", "Acct-Session-Id", "User-Name"]
    assert attrs[0] == ("Acct-Status-Type", 1)
    assert attrs[1] == ("Service-Type", 15)
    assert ("Sip-Method", 1) in attrs and ("Event-Timestamp", 1700000000) in attrs


def test_legs_all_in_one_radius_record():
    record = _record(legs=((("Sip-Leg", "a"),), (("Sip-Leg", "b"),)))
    attrs = rec.aaa_attributes(record)
    assert [v for n, v in attrs if n == "Sip-Leg"] == ["a", "b"]


def test_log_line_format():
    record = _record(extras=(("src_user", "alice"), ("x", None)))
    assert rec.log_line(rec.ACC_ANSWERED, record) == (
        "ACC: transaction answered:timestamp=1700000000;method=INVITE;from_tag=ft;to_tag=tt;"
        "call_id=cid@x;code=200;reason=OK;src_user=alice;x=")


def test_db_rows_one_per_leg_with_column_names():
    columns = dict(rec.DEFAULT_COLUMNS, acc_callid_column="call_id")
    record = _record(extras=(("src_user", "alice"),), legs=((("leg", "1"),), (("leg", "2"),)))
    rows = rec.db_rows(record, columns, "2023-11-14 22:13:20")
    assert len(rows) == 2
    assert rows[0]["call_id"] == "cid@x" and rows[0]["leg"] == "1" and rows[1]["leg"] == "2"
    assert rows[0]["src_user"] == "alice" and rows[0]["time"] == "2023-11-14 22:13:20"
    assert rows[0]["sip_code"] == "200" and rows[0]["method"] == "INVITE"


def test_parse_extra():
    specs = rec.parse_extra(" src_user = $fU ; dst=$avp(s:x)/reply;;Sip-Translated-Request-URI=$ru ")
    assert [(s.name, s.pv_text, s.on_reply) for s in specs] == [
        ("src_user", "$fU", False), ("dst", "$avp(s:x)", True), ("Sip-Translated-Request-URI", "$ru", False)]
    assert rec.parse_extra("") == []


@pytest.mark.parametrize("text", ["src_user", "=$fU", "a=fU", "a b=$fU", "a="])
def test_parse_extra_errors(text):
    with pytest.raises(rec.ExtraSyntaxError):
        rec.parse_extra(text)


@pytest.mark.parametrize("comment,expected", [
    ("404 Not Found", ("404", "Not Found")),
    ("200", ("200", "")),
    ("487   Request Terminated  ", ("487", "Request Terminated")),
    ("just text", ("", "just text")),
    ("2000 x", ("", "2000 x")),
])
def test_parse_comment(comment, expected):
    assert rec.parse_comment(comment) == expected
