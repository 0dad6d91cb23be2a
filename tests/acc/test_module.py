"""The acc module on a real Core (no sockets): tm callbacks, functions, end_call, start-up errors."""
from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from opensipsg.acc.spool import Deliverer
from opensipsg.core import Core
from opensipsg.errors import ScriptError
from opensipsg.registry import RouteType
from opensipsg.script.context import AvpStore, Branch, RouteContext
from opensipsg.script.parser import parse_config
from opensipsg.sip.message import parse
from opensipsg.db import connect
from opensipsg.db.schema import create_database

INVITE = (
    "{method} sip:bob@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\n"
    "From: <sip:alice@example.com>;tag=caller-tag\r\n"
    "To: <sip:bob@example.com>{to_tag}\r\n"
    "Call-ID: call-{n}@test\r\n"
    "CSeq: 1 {method}\r\n"
    "Content-Length: 0\r\n\r\n"
)

REPLY = (
    "SIP/2.0 {status} {reason}\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\n"
    "From: <sip:alice@example.com>;tag=caller-tag\r\n"
    "To: <sip:bob@example.com>;tag=callee-tag\r\n"
    "Call-ID: call-{n}@test\r\n"
    "CSeq: 1 {method}\r\n"
    "Content-Length: 0\r\n\r\n"
)

CFG = """
listen=udp:127.0.0.1:5999
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "acc.so"
modparam("acc", "log_flag", 1)
modparam("acc", "log_missed_flag", 2)
modparam("acc", "db_flag", 1)
modparam("acc", "db_missed_flag", 2)
modparam("acc", "failed_transaction_flag", 3)
modparam("acc", "db_url", "sqlite:///{db}")
modparam("acc", "spool_dir", "{spool}")
modparam("acc", "log_extra", "src_user=$fU;dst_user=$rU;totag=$tt/reply")
modparam("acc", "db_extra", "src_user=$fU;dst_user=$rU")
{extra}
route {{ exit; }}
"""


def make_core(tmp_path, extra=""):
    path = tmp_path / "acc.db"
    db = connect(f"sqlite:///{path}")
    create_database(db, ["acc", "missed_calls", "cdrs"])
    for table in ("acc", "missed_calls"):
        db.execute(f"ALTER TABLE {table} ADD COLUMN src_user VARCHAR(64)")
        db.execute(f"ALTER TABLE {table} ADD COLUMN dst_user VARCHAR(64)")
    db.close()
    text = CFG.format(db=path, spool=tmp_path / "spool", extra=extra)
    core = Core(parse_config(text, "acc_test.cfg"))
    return core, core.module("acc")


def deliver(acc):
    for name, deliverer in acc.deliverers.items():
        deliverer.deliver_some()


def rows(acc, table):
    return acc.db.select(table, ["method", "from_tag", "to_tag", "callid", "sip_code", "sip_reason",
                                 "src_user", "dst_user"], order_by="id")


def tx_for(method="INVITE", flags=0, n=1, to_tag="", branches=("sip:bob@127.0.0.1:5080",)):
    request = parse(INVITE.format(method=method, n=n, to_tag=f";tag={to_tag}" if to_tag else "").encode())
    tx = SimpleNamespace(request=request, method=method, invite=method == "INVITE", flags=flags,
                         avps=AvpStore(), src_ip="127.0.0.1", src_port=5070, proto="udp", listener=None,
                         branches=[])
    for uri in branches:
        tx.branches.append(SimpleNamespace(branch=Branch(uri), final=None))
    return tx


def reply_for(status, reason, method="INVITE", n=1):
    return parse(REPLY.format(status=status, reason=reason, method=method, n=n).encode())


def test_answered_invite_and_bye_go_to_log_and_db(tmp_path, caplog):
    core, acc = make_core(tmp_path)
    caplog.set_level(logging.INFO, logger="opensipsg.acc")
    tx = tx_for(flags=1 << 1)
    reply = reply_for(200, "OK")
    tx.branches[0].final = reply
    core.tm._fire("final_reply", tx, 200, "OK", reply)
    bye = tx_for("BYE", flags=1 << 1, to_tag="callee-tag")
    core.tm._fire("final_reply", bye, 200, "OK", reply_for(200, "OK", "BYE"))
    deliver(acc)
    got = rows(acc, "acc")
    assert [(r["method"], r["sip_code"], r["from_tag"], r["to_tag"]) for r in got] == [
        ("INVITE", "200", "caller-tag", "callee-tag"), ("BYE", "200", "caller-tag", "callee-tag")]
    assert got[0]["src_user"] == "alice" and got[0]["dst_user"] == "bob"
    lines = [r.getMessage() for r in caplog.records if r.name == "opensipsg.acc"]
    assert lines[0].startswith("ACC: transaction answered:timestamp=")
    assert ";method=INVITE;from_tag=caller-tag;to_tag=callee-tag;call_id=call-1@test;code=200;reason=OK;" \
           "src_user=alice;dst_user=bob;totag=callee-tag" in lines[0]
    core.stop()


def test_failed_transactions_only_with_failed_transaction_flag(tmp_path):
    core, acc = make_core(tmp_path)
    core.tm._fire("final_reply", tx_for(flags=1 << 1), 486, "Busy Here", reply_for(486, "Busy Here"))
    deliver(acc)
    assert rows(acc, "acc") == []
    core.tm._fire("final_reply", tx_for(flags=(1 << 1) | (1 << 3)), 486, "Busy Here", reply_for(486, "Busy Here"))
    deliver(acc)
    assert [(r["method"], r["sip_code"], r["sip_reason"]) for r in rows(acc, "acc")] == [("INVITE", "486", "Busy Here")]
    core.stop()


def test_missed_call_reported_once_per_flag_setting(tmp_path):
    core, acc = make_core(tmp_path)
    tx = tx_for(flags=1 << 2, branches=("sip:bob@127.0.0.1:5080", "sip:vm@127.0.0.1:5090"))
    # first serial attempt fails (before the failure route)
    core.tm._fire("failure", tx, 486, reply_for(486, "Busy Here"))
    assert not tx.flags & (1 << 2)
    # the failure route does not set it again: the next failure and the final reply are silent
    core.tm._fire("failure", tx, 408, None)
    core.tm._fire("final_reply", tx, 408, "Request Timeout", None)
    deliver(acc)
    got = rows(acc, "missed_calls")
    assert [(r["sip_code"], r["sip_reason"], r["to_tag"]) for r in got] == [("486", "Busy Here", "callee-tag")]
    assert got[0]["dst_user"] == "vm"  # $rU of the last branch, as 1.6 on_missed
    # a failure route that sets the flag again gets the next attempt reported
    tx.flags |= 1 << 2
    core.tm._fire("failure", tx, 408, None)
    deliver(acc)
    assert [(r["sip_code"], r["sip_reason"], r["to_tag"]) for r in rows(acc, "missed_calls")][1] == (
        "408", "Request Timeout", "")
    core.stop()


def test_missed_call_without_failure_callback_on_final_reply(tmp_path):
    core, acc = make_core(tmp_path)
    tx = tx_for(flags=1 << 2)
    core.tm._fire("final_reply", tx, 404, "Not Found", None)  # local t_reply
    deliver(acc)
    assert [(r["sip_code"], r["to_tag"]) for r in rows(acc, "missed_calls")] == [("404", "")]
    core.stop()


def test_acc_db_request_and_comment(tmp_path):
    core, acc = make_core(tmp_path)
    request = parse(INVITE.format(method="INVITE", n=7, to_tag="").encode())
    ctx = RouteContext(core, request, RouteType.REQUEST)
    assert acc.acc_db_request(ctx, "404", "Not Found", "missed_calls") == 1
    deliver(acc)
    assert [(r["method"], r["sip_code"], r["sip_reason"]) for r in rows(acc, "missed_calls")] == [
        ("INVITE", "404", "Not Found")]
    core.stop()


def test_functions_bound_by_the_script(tmp_path):
    core, acc = make_core(tmp_path)
    text = CFG.replace("route {{ exit; }}", 'route {{ acc_db_request("486 Busy", "acc"); acc_log_request("hi"); exit; }}')
    core2 = Core(parse_config(text.format(db=tmp_path / "acc.db", spool=tmp_path / "spool2", extra=""), "x.cfg"))
    request = parse(INVITE.format(method="INVITE", n=8, to_tag="").encode())
    ctx = RouteContext(core2, request, RouteType.REQUEST)
    core2.script.run("request", "0", ctx)
    deliver(core2.module("acc"))
    assert [(r["sip_code"], r["sip_reason"]) for r in rows(core2.module("acc"), "acc")] == [("486", "Busy")]
    core.stop()
    core2.stop()


def test_end_call_writes_a_stop_that_pairs_into_a_cdr(tmp_path):
    core, acc = make_core(tmp_path)
    tx = tx_for(flags=1 << 1)
    reply = reply_for(200, "OK")
    core.tm._fire("final_reply", tx, 200, "OK", reply)
    acc.clock = lambda: 2_000_000_000.0
    assert acc.end_call("call-1@test", "callee-tag", "caller-tag", "Dialog Timeout") == 2  # log + db
    deliver(acc)
    got = rows(acc, "acc")
    assert got[-1]["method"] == "BYE" and got[-1]["sip_reason"] == "Dialog Timeout"
    assert got[-1]["src_user"] is None
    assert acc.build_cdrs() == 1
    cdr = acc.db.select("cdrs", ["sip_call_id", "duration"])[0]
    assert cdr["sip_call_id"] == "call-1@test" and cdr["duration"] > 0
    core.stop()


def test_records_survive_a_restart_in_the_spool(tmp_path):
    core, acc = make_core(tmp_path)
    tx = tx_for(flags=1 << 1)
    core.tm._fire("final_reply", tx, 200, "OK", reply_for(200, "OK"))
    assert acc.spool.count("db") == 1
    core.stop()  # nothing delivered: the row stays on disk
    core2 = Core(parse_config(CFG.format(db=tmp_path / "acc.db", spool=tmp_path / "spool", extra=""), "x.cfg"))
    acc2 = core2.module("acc")
    acc2._open_spool()
    assert acc2.spool.count("db") == 1
    deliver(acc2)
    assert [r["method"] for r in rows(acc2, "acc")] == ["INVITE"]
    core2.stop()


@pytest.mark.parametrize("extra,message", [
    ('modparam("acc", "log_extra", "src_user")', "expected name=$pv"),
    ('modparam("acc", "db_extra", "x=$nosuchpv")', "unknown pseudo-variable"),
    ('modparam("acc", "multi_leg_info", "x=$fU")', "leg values must be AVPs"),
    ('modparam("acc", "log_flag", 40)', "out of range"),
])
def test_bad_modparams_are_startup_errors(tmp_path, extra, message):
    with pytest.raises(ScriptError) as info:
        make_core(tmp_path, extra)
    assert message in str(info.value) and "acc_test.cfg" in str(info.value)


def test_multi_leg_info_one_db_row_per_leg(tmp_path):
    core, acc = make_core(tmp_path, 'modparam("acc", "multi_leg_info", "dst_user=$avp(s:leg)")')
    tx = tx_for(flags=1 << 1)
    tx.avps.add(("s", "leg"), "first")
    tx.avps.add(("s", "leg"), "second")
    core.tm._fire("final_reply", tx, 200, "OK", reply_for(200, "OK"))
    deliver(acc)
    assert sorted(r["dst_user"] for r in rows(acc, "acc")) == ["first", "second"]
    core.stop()
