"""Registrations in a database, seen from the outside: they survive a restart of
opensipsg (db_mode 1, SQLite), and two opensipsg instances on one MariaDB in
db_mode 3 find each other's users."""
from __future__ import annotations

from pathlib import Path

import pytest

from opensipsg.db import connect
from opensipsg.db.schema import create_database
from tests.e2e import harness
from tests.e2e.harness import LOCALHOST, run_sipp, scenario, write_users_csv

pytestmark = pytest.mark.integration

CFG = (Path(__file__).resolve().parent.parent / "data" / "cfg" / "usrloc_db_test.cfg").read_text()


def register(workdir: Path, proxy_port: int, user: str, contact_port: int) -> None:
    users = write_users_csv(workdir / f"{user}_{proxy_port}.csv", [user])
    result = run_sipp([f"{LOCALHOST}:{proxy_port}", "-sf", scenario("register.xml"), "-inf", str(users),
                       "-key", "expires", "300", "-p", str(contact_port), "-m", "1"], workdir, timeout=15)
    assert result.ok, result.describe()


def call(workdir: Path, proxy_port: int, callee: str, uas_port: int, sipp_factory) -> None:
    uas = sipp_factory(["-sf", scenario("uas_rr.xml"), "-p", str(uas_port), "-m", "1"], timeout=30)
    result = run_sipp([f"{LOCALHOST}:{proxy_port}", "-sf", scenario("uac_rr.xml"), "-s", callee,
                       "-d", "100", "-m", "1"], workdir, timeout=30)
    assert result.ok, result.describe()
    assert uas.wait().ok


def test_registrations_survive_a_restart(server_factory, sipp, sipp_factory, tmp_workdir):
    path = tmp_workdir / "location.sqlite"
    db = connect(f"sqlite:///{path}")
    create_database(db, ["location"])
    db.close()
    port = harness.free_port("both")
    uas_port = harness.free_port("both", exclude=[port])
    cfg = harness.fill(CFG, port=port, db_mode=1, db_url=f"sqlite:///{path}")
    first = server_factory(cfg)
    register(tmp_workdir, port, "rita", uas_port)
    first.stop()
    server_factory(cfg)  # the same configuration, a new process
    call(tmp_workdir, port, "rita", uas_port, sipp_factory)


def test_two_instances_share_registrations_in_db_mode_3(mariadb, server_factory, sipp, sipp_factory,
                                                        tmp_workdir):
    db = connect(mariadb.url)
    create_database(db, ["location"])
    db.delete("location", {"username": "sam"})
    db.close()
    port_a = harness.free_port("both")
    port_b = harness.free_port("both", exclude=[port_a])
    uas_port = harness.free_port("both", exclude=[port_a, port_b])
    server_factory(harness.fill(CFG, port=port_a, db_mode=3, db_url=mariadb.url))
    server_factory(harness.fill(CFG, port=port_b, db_mode=3, db_url=mariadb.url))
    register(tmp_workdir, port_a, "sam", uas_port)  # registered at A ...
    call(tmp_workdir, port_b, "sam", uas_port, sipp_factory)  # ... found by B
