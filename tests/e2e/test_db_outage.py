"""The database goes away under a running proxy: authenticated REGISTERs get a
quick 500 and a log line, the proxy keeps serving everything that does not need
the database, and it authenticates again once the database is back."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from opensipsg.db import connect
from opensipsg.db.schema import create_database
from opensipsg.sip import digest
from tests.e2e import harness
from tests.e2e.harness import LOCALHOST, sip_request
from tests.e2e.test_auth import register

pytestmark = pytest.mark.integration

CFG = (Path(__file__).resolve().parent.parent / "data" / "cfg" / "auth_test.cfg").read_text()


def test_database_stopped_mid_run(mariadb, server_factory, sipp):
    db = connect(mariadb.url)
    create_database(db, ["subscriber", "domain", "dbaliases", "grp", "uri"])
    db.delete("subscriber", {"username": "outage", "domain": "example.com"})
    db.insert("subscriber", {"username": "outage", "domain": "example.com", "password": "pw",
                             "ha1": digest.ha1("outage", "example.com", "pw"),
                             "ha1b": digest.ha1("outage@example.com", "example.com", "pw")})
    if not db.select("domain", ["domain"], {"domain": "example.com"}):
        db.insert("domain", {"domain": "example.com"})
    db.close()
    port = harness.free_port("both")
    # the 500 during the outage comes from auth_db itself, as in 1.6
    server = server_factory(harness.fill(CFG, port=port, db_url=mariadb.url, nonce_expire=30, qop=0))

    status, reply, _ = register(server, user="outage", password="pw")
    assert status == 200, reply + server.log_tail()

    mariadb.stop()
    try:
        started = time.monotonic()
        status, reply, _ = register(server, user="outage", password="pw", cseq=11)
        waited = time.monotonic() - started
        assert status == 500, reply + server.log_tail()
        assert waited < 30  # a bound against hanging, not a performance figure
        # requests that need no database are still served
        code, _ = sip_request(LOCALHOST, port, harness.options_request(LOCALHOST, port))
        assert code is not None
    finally:
        mariadb.start()
    status, reply, _ = register(server, user="outage", password="pw", cseq=21)
    assert status == 200, reply + server.log_tail()
    assert "auth_db" in server.log_text() or "database" in server.log_text().lower()
