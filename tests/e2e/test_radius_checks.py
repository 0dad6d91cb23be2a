"""RADIUS checks end to end: a MESSAGE -> opensipsg (group + uri + aaa_radius,
tests/data/cfg/radius_checks_test.cfg) -> FreeRADIUS (raddb/users); the script
reports the return codes of aaa_is_user_in / aaa_does_uri_exist /
aaa_does_uri_user_exist and a SIP-AVP of the Call-Check reply in its 200.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e import harness
from tests.e2e.harness import LOCALHOST, sip_request

pytestmark = pytest.mark.integration

CFG = (Path(__file__).resolve().parent.parent / "data" / "cfg" / "radius_checks_test.cfg").read_text()

MESSAGE = """MESSAGE sip:{to}@127.0.0.1 SIP/2.0
Max-Forwards: 70
To: <sip:{to}@127.0.0.1>
From: <sip:{sender}@127.0.0.1>;tag=chk{to}
Call-ID: [call_id]
CSeq: 1 MESSAGE
Content-Type: text/plain
Content-Length: 0

"""


@pytest.fixture
def proxy(server_factory, freeradius_running):
    port = harness.free_port("udp")
    cfg = harness.fill(CFG, port=port, aaa_url=freeradius_running.aaa_url(timeout=0.5, retries=1))
    return server_factory(cfg)


def headers(reply: str) -> dict[str, str]:
    found = {}
    for line in reply.splitlines():
        name, sep, value = line.partition(":")
        if sep and name.lower().startswith("x-"):
            found[name.lower()] = value.strip()
    return found


def check(proxy, sender: str, to: str) -> dict[str, str]:
    status, reply = sip_request(LOCALHOST, proxy.udp_port, MESSAGE.format(sender=sender, to=to), timeout=5)
    assert status == 200, reply + proxy.log_tail()
    return headers(reply)


def test_member_and_existing_uri(proxy):
    # alice@127.0.0.1 is in "gold"; bob@127.0.0.1 exists (Call-Check) with a SIP-AVP; User-Name
    # "alice" (aaa_does_uri_user_exist of the From user) exists too
    assert check(proxy, "alice", "bob") == {"x-group": "1", "x-uri": "1", "x-user": "1",
                                            "x-callee": "alice"}


def test_not_member_and_unknown_uri(proxy):
    assert check(proxy, "bob", "mallory") == {"x-group": "-12", "x-uri": "-1", "x-user": "-1"}


def test_radius_down(proxy, freeradius_running):
    freeradius_running.stop()
    started = time.monotonic()
    assert check(proxy, "alice", "bob") == {"x-group": "-12", "x-uri": "-2", "x-user": "-2"}
    assert time.monotonic() - started < 4.5  # three checks, 0.5 s x 2 tries each
