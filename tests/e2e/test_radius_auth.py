"""Digest authentication over RADIUS end to end: SIPp -> opensipsg (auth + aaa_radius +
auth_aaa, tests/data/cfg/radius_test.cfg) -> FreeRADIUS (raddb/, tests/freeradius.py).
"""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from opensipsg.sip import digest
from tests.e2e import harness
from tests.e2e.harness import LOCALHOST, run_sipp, scenario, scenario_copy, sip_request, write_users_csv

pytestmark = pytest.mark.integration

CFG = (Path(__file__).resolve().parent.parent / "data" / "cfg" / "radius_test.cfg").read_text()


@pytest.fixture
def proxy(server_factory, freeradius_running, sipp):
    port = harness.free_port("both")
    cfg = harness.fill(CFG, port=port, qop=0, aaa_url=freeradius_running.aaa_url(timeout=0.5, retries=1))
    return server_factory(cfg)


def users_csv(workdir: Path, name: str, entries: list[tuple[str, str]]) -> Path:
    return write_users_csv(workdir / name, [
        f"{user};[authentication username={user} password={password}]" for user, password in entries])


def register(workdir: Path, proxy, user: str, password: str, port: int | None = None, expect: int = 200):
    users = users_csv(workdir, f"reg_{user}_{expect}.csv", [(user, password)])
    sf = scenario("reg_auth_radius.xml")
    if expect != 200:
        sf = scenario_copy("reg_auth_radius.xml", workdir, {'<recv response="200"/>': f'<recv response="{expect}"/>'})
    args = [f"{LOCALHOST}:{proxy.udp_port}", "-sf", sf, "-inf", str(users), "-m", "1"]
    if port is not None:
        args += ["-p", str(port)]
    return run_sipp(args, workdir, timeout=15)


def test_register_right_passwords(proxy, tmp_workdir):
    users = users_csv(tmp_workdir, "ok.csv", [("alice", "alicepw"), ("bob", "bobpw")])
    result = run_sipp([f"{LOCALHOST}:{proxy.udp_port}", "-sf", scenario("reg_auth_radius.xml"),
                       "-inf", str(users), "-m", "2", "-r", "10"], tmp_workdir, timeout=20)
    assert result.ok and result.successful == 2, result.describe() + proxy.log_tail()


def test_register_wrong_password_and_unknown_user(proxy, tmp_workdir):
    assert register(tmp_workdir, proxy, "alice", "wrong", expect=403).ok, proxy.log_tail()
    assert register(tmp_workdir, proxy, "mallory", "x", expect=403).ok, proxy.log_tail()


def test_call_with_proxy_authorization(proxy, tmp_workdir, sipp_factory):
    uas_port = harness.free_port("both", exclude=[proxy.udp_port])
    registered = register(tmp_workdir, proxy, "bob", "bobpw", port=uas_port)
    assert registered.ok, registered.describe() + proxy.log_tail()
    uas = sipp_factory(["-sf", scenario("uas_rr.xml"), "-p", str(uas_port), "-m", "1"], timeout=30)
    callers = users_csv(tmp_workdir, "caller.csv", [("alice", "alicepw")])
    uac = run_sipp([f"{LOCALHOST}:{proxy.udp_port}", "-sf", scenario("uac_auth_radius.xml"), "-s", "bob",
                    "-inf", str(callers), "-d", "100", "-m", "1"], tmp_workdir, timeout=30)
    assert uac.ok and uac.successful == 1, uac.describe() + proxy.log_tail()
    assert uas.wait().ok
    assert "radius_proxy_authorize: -4" in proxy.log_text()  # the first INVITE was challenged


REGISTER = """REGISTER sip:127.0.0.1 SIP/2.0
Max-Forwards: 70
From: <sip:alice@127.0.0.1>;tag=t{cseq}
To: <sip:alice@127.0.0.1>
Call-ID: radius-down-{cseq}@test
CSeq: {cseq} REGISTER
Contact: <sip:alice@127.0.0.1:5999>
Expires: 60
{auth}Content-Length: 0

"""


def challenge_and_answer(proxy, cseq: int) -> str:
    status, reply = sip_request(LOCALHOST, proxy.udp_port, REGISTER.format(cseq=cseq, auth=""))
    assert status == 401, reply
    params = digest.parse_challenge(re.search(r"(?mi)^WWW-Authenticate:\s*(.*?)\r?$", reply).group(1))
    ha1 = digest.ha1("alice", params["realm"], "alicepw")
    response = digest.response(ha1, params["nonce"], "REGISTER", "sip:127.0.0.1")
    return (f'Authorization: Digest username="alice", realm="{params["realm"]}", '
            f'nonce="{params["nonce"]}", uri="sip:127.0.0.1", response="{response}"\n')


def test_radius_down_fails_fast_and_recovers(proxy, freeradius_running):
    auth = challenge_and_answer(proxy, 1)
    freeradius_running.stop()
    started = time.monotonic()
    status, reply = sip_request(LOCALHOST, proxy.udp_port, REGISTER.format(cseq=2, auth=auth), timeout=5)
    elapsed = time.monotonic() - started
    assert status == 403, reply
    assert elapsed < 2.5, elapsed  # 0.5 s x 2 tries, no hung transaction
    assert "did not answer" in proxy.log_text()
    # the proxy still serves others meanwhile, and works again once RADIUS is back
    freeradius_running.start()
    auth = challenge_and_answer(proxy, 3)
    status, reply = sip_request(LOCALHOST, proxy.udp_port, REGISTER.format(cseq=4, auth=auth))
    assert status == 200, reply + proxy.log_tail()
