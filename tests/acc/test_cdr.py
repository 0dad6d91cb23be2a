"""CDR pairing from acc rows, the CLI helpers."""
from __future__ import annotations

import io

import pytest

from opensipsg.acc.cdr import build_cdrs, cdr_export_csv, cdr_show, pair_calls
from opensipsg.db import connect, time_to_db
from opensipsg.db.schema import create_database

T0 = 1700000000


@pytest.fixture
def db(tmp_path):
    database = connect(f"sqlite:///{tmp_path}/acc.db")
    create_database(database, ["acc", "missed_calls", "cdrs"])
    yield database
    database.close()


def acc(db, method, callid, ftag, ttag, when, code="200", **extra):
    db.insert("acc", {"method": method, "from_tag": ftag, "to_tag": ttag, "callid": callid,
                      "sip_code": code, "sip_reason": "OK", "time": time_to_db(when), **extra})


def test_pair_calls_pure_either_orientation_earliest():
    invites = [{"id": 1, "callid": "c", "from_tag": "a", "to_tag": "b", "time": 10},
               {"id": 5, "callid": "c", "from_tag": "a", "to_tag": "b", "time": 20}]  # re-INVITE
    byes = [{"id": 7, "callid": "c", "from_tag": "b", "to_tag": "a", "time": 40},
            {"id": 6, "callid": "c", "from_tag": "a", "to_tag": "b", "time": 30}]
    pairs = pair_calls(invites, byes)
    assert [(i["id"], b["id"]) for i, b in pairs] == [(1, 6)]
    # another dialog of the same call-id (forking) is not paired with these
    assert pair_calls([{"id": 1, "callid": "c", "from_tag": "a", "to_tag": "x", "time": 1}], byes) == []


@pytest.mark.parametrize("swapped", [False, True])
def test_build_cdrs_tags_in_either_orientation(db, swapped):
    acc(db, "INVITE", "call-1", "caller", "callee", T0)
    if swapped:
        acc(db, "BYE", "call-1", "callee", "caller", T0 + 42)
    else:
        acc(db, "BYE", "call-1", "caller", "callee", T0 + 42)
    assert build_cdrs(db, now=T0 + 100) == 1
    rows = cdr_show(db)
    assert len(rows) == 1
    cdr = rows[0]
    assert cdr["duration"] == 42 and cdr["sip_call_id"] == "call-1"
    assert (cdr["sip_from_tag"], cdr["sip_to_tag"]) == ("caller", "callee")
    assert cdr["call_start_time"] == time_to_db(T0)
    assert build_cdrs(db) == 0  # idempotent


def test_open_and_failed_calls_give_no_cdr(db):
    acc(db, "INVITE", "open", "a", "b", T0)
    acc(db, "INVITE", "failed", "a", "", T0, code="486")
    acc(db, "BYE", "failed", "a", "", T0 + 1)
    assert build_cdrs(db) == 0
    acc(db, "BYE", "open", "b", "a", T0 + 5)  # the Stop arrives later
    assert build_cdrs(db) == 1
    assert cdr_show(db, call_id="open")[0]["duration"] == 5


def test_caller_columns_copied_from_acc_extras(db):
    db.execute("ALTER TABLE acc ADD COLUMN src_user VARCHAR(64)")
    db.execute("ALTER TABLE acc ADD COLUMN dst_user VARCHAR(64)")
    db.execute("ALTER TABLE acc ADD COLUMN src_ip VARCHAR(64)")
    acc(db, "INVITE", "c2", "a", "b", T0, src_user="alice", dst_user="bob", src_ip="127.0.0.1")
    acc(db, "BYE", "c2", "a", "b", T0 + 3)
    assert build_cdrs(db) == 1
    cdr = cdr_show(db)[0]
    assert (cdr["src_username"], cdr["dst_username"], cdr["src_ip"]) == ("alice", "bob", "127.0.0.1")


def test_show_limit_and_csv_export(db):
    for n in range(5):
        acc(db, "INVITE", f"c{n}", "a", "b", T0 + n * 10)
        acc(db, "BYE", f"c{n}", "b", "a", T0 + n * 10 + n)
    assert build_cdrs(db) == 5
    newest = cdr_show(db, limit=2)
    assert [r["sip_call_id"] for r in newest] == ["c4", "c3"]
    out = io.StringIO()
    assert cdr_export_csv(db, out, since=time_to_db(T0 + 20)) == 3
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("cdr_id,src_username") and len(lines) == 4
    assert lines[1].split(",")[8] == "c2"
