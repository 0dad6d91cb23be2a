"""acc end to end: SIPp calls through opensipsg, records in a real FreeRADIUS's detail
file, in MariaDB, and through a RADIUS outage (spooled, then delivered exactly once).

Each test starts its own opensipsg (tests/data/cfg/acc_test.cfg, relaying only
to 127.0.0.1) and SIPp peers on free ports of 127.0.0.1; every process is
stopped by PID. No timing assertions: results are polled with bounded waits.
"""
from __future__ import annotations

import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest

from opensipsg.db import connect
from opensipsg.db.schema import create_database
from tests.e2e import harness
from tests.e2e.harness import LOCALHOST, run_sipp, scenario, write_users_csv

pytestmark = pytest.mark.integration

CFG = (Path(__file__).resolve().parent.parent / "data" / "cfg" / "acc_test.cfg").read_text()


def wait_for(condition, timeout=30.0, interval=0.2, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def detail_records(radius) -> list[dict[str, str]]:
    """The accounting requests of the detail files: [{attribute: value}]."""
    records = []
    for block in radius.detail_text().split("\n\n"):
        fields = {}
        for line in block.splitlines():
            if line.startswith("\t") and " = " in line:
                name, _, value = line.strip().partition(" = ")
                fields[name] = value.strip('"')
        if fields:
            records.append(fields)
    return records


def records_of(radius, call_ids) -> list[dict[str, str]]:
    return [r for r in detail_records(radius) if r.get("Acct-Session-Id") in call_ids]


def make_proxy(server_factory, tmp_workdir, radius=None, db_url=None, cdr_interval=0):
    port = harness.free_port("both")
    if db_url is None:
        db_url = f"sqlite:///{tmp_workdir}/acc.db"
    db = connect(db_url)
    create_database(db, ["acc", "missed_calls", "cdrs"])
    cfg = harness.fill(
        CFG, port=port,
        aaa_url=radius.aaa_url(timeout=0.5, retries=1) if radius else "",
        aaa_flag=1 if radius else -1, aaa_missed_flag=2 if radius else -1,
        db_url=db_url, db_flag=1, db_missed_flag=2, spool_dir=tmp_workdir / "spool",
        cdr_interval=cdr_interval)
    server = server_factory(cfg)
    server.db = db
    return server


def register(workdir: Path, proxy_port: int, user: str, port: int):
    users = write_users_csv(workdir / f"reg_{user}_{port}.csv", [user])
    result = run_sipp([f"{LOCALHOST}:{proxy_port}", "-sf", scenario("register.xml"), "-inf", str(users),
                       "-key", "expires", "300", "-p", str(port), "-m", "1"], workdir, timeout=15)
    assert result.ok, result.describe()


def calls(proxy, tmp_workdir, sipp_factory, user, count):
    uas_port = harness.free_port("both", exclude=[proxy.udp_port])
    register(tmp_workdir, proxy.udp_port, user, uas_port)
    uas = sipp_factory(["-sf", scenario("uas_rr.xml"), "-p", str(uas_port), "-m", str(count)], timeout=60)
    uac = run_sipp([f"{LOCALHOST}:{proxy.udp_port}", "-sf", scenario("uac_rr.xml"), "-s", user,
                    "-d", "100", "-m", str(count), "-r", "10"], tmp_workdir, timeout=60)
    assert uac.ok and uac.successful == count, uac.describe() + proxy.log_tail()
    assert uas.wait().ok


def acc_rows(db, table="acc"):
    return db.select(table, ["method", "from_tag", "to_tag", "callid", "sip_code", "sip_reason"], order_by="id")


def spool_count(tmp_workdir) -> int:
    path = tmp_workdir / "spool" / "acc-spool.sqlite"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]


def test_call_start_and_stop_land_in_freeradius_detail(server_factory, tmp_workdir, sipp_factory,
                                                       freeradius_running):
    radius = freeradius_running
    proxy = make_proxy(server_factory, tmp_workdir, radius)
    calls(proxy, tmp_workdir, sipp_factory, "bob", 2)
    rows = wait_for(lambda: len(acc_rows(proxy.db)) >= 4 and acc_rows(proxy.db), what="acc rows")
    call_ids = {r["callid"] for r in rows}
    assert len(call_ids) == 2
    assert Counter(r["method"] for r in rows) == {"INVITE": 2, "BYE": 2}
    wait_for(lambda: len(records_of(radius, call_ids)) >= 4, what="detail records")
    records = records_of(radius, call_ids)
    for call_id in call_ids:
        mine = [r for r in records if r["Acct-Session-Id"] == call_id]
        start = [r for r in mine if r["Acct-Status-Type"] == "Start"]
        stop = [r for r in mine if r["Acct-Status-Type"] == "Stop"]
        assert len(start) == 1 and len(stop) == 1, mine
        start, stop = start[0], stop[0]
        assert start["OpenSIPS-Sip-Method"] == "Invite" and stop["OpenSIPS-Sip-Method"] == "Bye"
        assert start["OpenSIPS-Sip-Response-Code"] == "200"
        assert start["Service-Type"] == "SIP-Session-15"
        assert start["User-Name"] == "sipp" and start["Calling-Station-Id"].startswith("sip:sipp@")
        assert start["Called-Station-Id"].startswith("sip:bob@127.0.0.1")  # the winning branch's R-URI
        assert start["OpenSIPS-Sip-From-Tag"] == stop["OpenSIPS-Sip-From-Tag"]
        assert start["OpenSIPS-Sip-To-Tag"] and start["OpenSIPS-Sip-To-Tag"] == stop["OpenSIPS-Sip-To-Tag"]
        assert start["NAS-Port"] == "5060"
    # CDRs from the database rows
    from opensipsg.acc.cdr import build_cdrs, cdr_show
    assert build_cdrs(proxy.db) == 2
    assert {c["sip_call_id"] for c in cdr_show(proxy.db)} == call_ids


def test_missed_call_is_a_failed_record(server_factory, tmp_workdir, freeradius_running):
    radius = freeradius_running
    proxy = make_proxy(server_factory, tmp_workdir, radius)
    uac = run_sipp([f"{LOCALHOST}:{proxy.udp_port}", "-sf", scenario("uac_404.xml"), "-s", "nobody", "-m", "1"],
                   tmp_workdir, timeout=15)
    assert uac.ok, uac.describe()
    missed = wait_for(lambda: acc_rows(proxy.db, "missed_calls"), what="missed_calls row")
    assert [(r["method"], r["sip_code"], r["sip_reason"]) for r in missed] == [("INVITE", "404", "Not Found")]
    assert acc_rows(proxy.db) == []  # no failed_transaction_flag: nothing in acc
    call_id = missed[0]["callid"]
    record = wait_for(lambda: records_of(radius, {call_id}), what="detail record")[0]
    assert record["Acct-Status-Type"] == "Failed"
    assert record["OpenSIPS-Sip-Response-Code"] == "404"
    assert "OpenSIPS-Sip-To-Tag" not in record  # a local reply: the request's (empty) To tag
    assert "ACC: call missed:" in proxy.log_text()


def test_radius_outage_records_spooled_then_delivered_exactly_once(server_factory, tmp_workdir,
                                                                   sipp_factory, freeradius_running):
    radius = freeradius_running
    proxy = make_proxy(server_factory, tmp_workdir, radius)
    calls(proxy, tmp_workdir, sipp_factory, "carol", 1)  # one call while the server is up
    radius.stop()
    try:
        calls(proxy, tmp_workdir, sipp_factory, "carol", 4)  # SIP goes on while RADIUS is down
        rows = wait_for(lambda: len(acc_rows(proxy.db)) >= 10 and acc_rows(proxy.db), what="acc rows")
        assert spool_count(tmp_workdir) > 0
    finally:
        radius.start()
    call_ids = {r["callid"] for r in rows}
    assert len(call_ids) == 5
    wait_for(lambda: spool_count(tmp_workdir) == 0, timeout=60, what="the spool to drain")
    records = records_of(radius, call_ids)
    counts = Counter((r["Acct-Session-Id"], r["Acct-Status-Type"]) for r in records)
    assert counts == {(c, s): 1 for c in call_ids for s in ("Start", "Stop")}, counts


def test_acc_rows_in_mariadb(server_factory, tmp_workdir, sipp_factory, mariadb):
    db = connect(mariadb.url)
    for table in ("acc", "missed_calls", "cdrs"):
        db.execute(f"DROP TABLE IF EXISTS {table}")
    proxy = make_proxy(server_factory, tmp_workdir, None, db_url=mariadb.url, cdr_interval=1)
    calls(proxy, tmp_workdir, sipp_factory, "dave", 2)
    rows = wait_for(lambda: len(acc_rows(db)) >= 4 and acc_rows(db), what="acc rows in MariaDB")
    assert Counter((r["method"], r["sip_code"]) for r in rows) == {("INVITE", "200"): 2, ("BYE", "200"): 2}
    # the periodic CDR job (cdr_interval) pairs them
    cdrs = wait_for(lambda: db.select("cdrs", ["sip_call_id", "duration"]), what="cdrs rows")
    wait_for(lambda: len(db.select("cdrs", ["sip_call_id"])) == 2, what="two CDRs")
    assert {c["sip_call_id"] for c in db.select("cdrs", ["sip_call_id"])} == {r["callid"] for r in rows}
    db.close()
