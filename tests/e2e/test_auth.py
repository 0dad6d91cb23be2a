"""Digest authentication end to end: opensipsg with auth/auth_db/domain/alias_db/
group/uri over a SQLite database in the test's directory, driven by SIPp and by
hand-built requests (for stale and replayed nonces, which SIPp cannot script).
"""
from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path

import pytest

from opensipsg.db import connect
from opensipsg.db.schema import create_database
from opensipsg.sip import digest
from tests.e2e import harness
from tests.e2e.harness import LOCALHOST, run_sipp, scenario, sip_request, write_users_csv

pytestmark = pytest.mark.integration

CFG = (Path(__file__).resolve().parent.parent / "data" / "cfg" / "auth_test.cfg").read_text()
NONCE_EXPIRE = 3


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def make_database(path: Path) -> str:
    db = connect(f"sqlite:///{path}")
    create_database(db, ["subscriber", "domain", "dbaliases", "grp", "uri"])
    for user, domain, password in [("alice", "example.com", "alicepw"), ("bob", "example.com", "bobpw"),
                                   ("alice", "other.org", "otherpw"), ("x'--", "example.com", "q")]:
        db.insert("subscriber", {"username": user, "domain": domain, "password": password,
                                 "ha1": md5(f"{user}:{domain}:{password}"),
                                 "ha1b": md5(f"{user}@{domain}:{domain}:{password}")})
    for domain in ("example.com", "other.org"):
        db.insert("domain", {"domain": domain})
    db.insert("dbaliases", {"alias_username": "robert", "alias_domain": "example.com",
                            "username": "bob", "domain": "example.com"})
    db.insert("grp", {"username": "alice", "domain": "example.com", "grp": "intl"})
    db.close()
    return f"sqlite:///{path}"


@pytest.fixture
def server(server_factory, tmp_workdir, sipp):
    port = harness.free_port("both")
    db_url = make_database(tmp_workdir / "opensips.db")
    cfg = harness.fill(CFG, port=port, db_url=db_url, nonce_expire=NONCE_EXPIRE, qop=0)
    return server_factory(cfg)


@pytest.fixture
def server_qop(server_factory, tmp_workdir, sipp):
    port = harness.free_port("both")
    db_url = make_database(tmp_workdir / "opensips_qop.db")
    return server_factory(harness.fill(CFG, port=port, db_url=db_url, nonce_expire=NONCE_EXPIRE, qop=1))


def header(reply: str, name: str) -> str | None:
    match = re.search(rf"(?mi)^{name}:\s*(.*?)\r?$", reply)
    return match.group(1) if match else None


REGISTER = """REGISTER sip:{domain} SIP/2.0
Max-Forwards: 70
From: <sip:{user}@{domain}>;tag=t{cseq}
To: <sip:{user}@{domain}>
Call-ID: reg-{user}-{domain}@test
CSeq: {cseq} REGISTER
Contact: <sip:{user}@127.0.0.1:5999>
Expires: 60
{auth}Content-Length: 0

"""

INVITE = """INVITE sip:{target}@example.com SIP/2.0
Max-Forwards: 70
From: <sip:alice@example.com>;tag=inv{cseq}
To: <sip:{target}@example.com>
Call-ID: inv-{target}-{cseq}@test
CSeq: {cseq} INVITE
Contact: <sip:alice@127.0.0.1:5998>
{auth}Content-Length: 0

"""


def credentials(challenge: str, user: str, password: str, method: str, uri: str,
                name: str = "Authorization", nc: int = 1) -> str:
    params = digest.parse_challenge(challenge)
    realm, nonce = params["realm"], params["nonce"]
    ha1 = digest.ha1(user, realm, password)
    if "qop" in params:
        nc_text = f"{nc:08x}"
        resp = digest.response(ha1, nonce, method, uri, "auth", nc_text, "abc123")
        extra = f", qop=auth, nc={nc_text}, cnonce=\"abc123\""
    else:
        resp = digest.response(ha1, nonce, method, uri)
        extra = ""
    return (f'{name}: Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
            f'response="{resp}"{extra}\n')


def register(server, user="alice", domain="example.com", password="alicepw", cseq=1, digest_user=None):
    status, reply = sip_request(LOCALHOST, server.udp_port, REGISTER.format(
        user=user, domain=domain, cseq=cseq, auth=""))
    assert status == 401, reply + server.log_tail()
    challenge = header(reply, "WWW-Authenticate")
    auth = credentials(challenge, digest_user or user, password, "REGISTER", f"sip:{domain}")
    status, reply = sip_request(LOCALHOST, server.udp_port, REGISTER.format(
        user=user, domain=domain, cseq=cseq + 1, auth=auth))
    return status, reply, auth


def test_sipp_register_right_and_wrong_password(server, tmp_workdir):
    users = write_users_csv(tmp_workdir / "ok.csv", [
        "alice;example.com;[authentication username=alice password=alicepw]",
        "bob;example.com;[authentication username=bob password=bobpw]",
        "alice;other.org;[authentication username=alice password=otherpw]",
    ])
    result = run_sipp([f"{LOCALHOST}:{server.udp_port}", "-sf", scenario("reg_auth.xml"),
                       "-inf", str(users), "-m", "3"], tmp_workdir, timeout=20)
    assert result.ok and result.successful == 3, result.describe() + server.log_tail()
    bad = write_users_csv(tmp_workdir / "bad.csv", [
        "alice;example.com;[authentication username=alice password=wrong]",
        "alice;other.org;[authentication username=alice password=alicepw]",
    ])
    result = run_sipp([f"{LOCALHOST}:{server.udp_port}", "-sf", scenario("reg_auth_wrong.xml"),
                       "-inf", str(bad), "-m", "2"], tmp_workdir, timeout=20)
    assert result.ok and result.successful == 2, result.describe() + server.log_tail()


def test_replayed_credentials_rejected(server):
    status, reply, auth = register(server)
    assert status == 200, reply + server.log_tail()
    status, reply = sip_request(LOCALHOST, server.udp_port, REGISTER.format(
        user="alice", domain="example.com", cseq=5, auth=auth))
    assert status == 401, reply
    assert digest.parse_challenge(header(reply, "WWW-Authenticate")).get("stale") == "true"


def test_expired_nonce_gets_stale_challenge(server):
    status, reply = sip_request(LOCALHOST, server.udp_port, REGISTER.format(
        user="bob", domain="example.com", cseq=1, auth=""))
    assert status == 401
    auth = credentials(header(reply, "WWW-Authenticate"), "bob", "bobpw", "REGISTER", "sip:example.com")
    time.sleep(NONCE_EXPIRE + 1.2)
    status, reply = sip_request(LOCALHOST, server.udp_port, REGISTER.format(
        user="bob", domain="example.com", cseq=2, auth=auth))
    assert status == 401, reply
    assert digest.parse_challenge(header(reply, "WWW-Authenticate")).get("stale") == "true"


def test_metacharacter_username_and_foreign_domain(server):
    status, reply, _ = register(server, user="x'--", password="q")
    assert status == 200, reply + server.log_tail()
    status, reply, _ = register(server, digest_user="x' OR '1'='1", password="q")
    assert status == 401, reply
    status, reply = sip_request(LOCALHOST, server.udp_port, REGISTER.format(
        user="alice", domain="evil.net", cseq=1, auth=""))
    assert status == 403, reply


def invite(server, target, cseq, auth=""):
    return sip_request(LOCALHOST, server.udp_port, INVITE.format(target=target, cseq=cseq, auth=auth))


def proxy_auth_invite(server, target, user="alice", password="alicepw", cseq=1):
    status, reply = invite(server, target, cseq)
    assert status == 407, reply + server.log_tail()
    challenge = header(reply, "Proxy-Authenticate")
    auth = credentials(challenge, user, password, "INVITE", f"sip:{target}@example.com",
                       name="Proxy-Authorization")
    return invite(server, target, cseq + 1, auth)


def test_invite_proxy_auth_alias_and_acl(server, server_qop):
    # authenticated, to a user nobody registered: 404 from lookup
    status, reply = proxy_auth_invite(server, "carol")
    assert status == 404, reply + server.log_tail()
    # wrong password: challenged again
    status, reply = proxy_auth_invite(server, "carol", password="nope", cseq=3)
    assert status == 407, reply
    # alice is in group intl: 00... numbers pass the ACL (then 404); bob is not
    status, reply = proxy_auth_invite(server, "0049301234", cseq=5)
    assert status == 404, reply
    status, reply = invite(server, "0049301234", 7)
    bob_auth = credentials(header(reply, "Proxy-Authenticate"), "bob", "bobpw", "INVITE",
                           "sip:0049301234@example.com", name="Proxy-Authorization")
    status, reply = sip_request(LOCALHOST, server.udp_port, INVITE.replace(
        "From: <sip:alice@example.com>", "From: <sip:bob@example.com>").format(
        target="0049301234", cseq=8, auth=bob_auth))
    assert status == 403 and "No international calls" in reply, reply
    # an INVITE whose From user is not the digest user: 403 Forbidden auth ID
    status, reply = invite(server, "carol", 9)
    bob_auth = credentials(header(reply, "Proxy-Authenticate"), "bob", "bobpw", "INVITE",
                           "sip:carol@example.com", name="Proxy-Authorization")
    status, reply = invite(server, "carol", 10, bob_auth)
    assert status == 403 and "Forbidden auth ID" in reply, reply
    # the same with qop=auth on the second server
    status, reply = proxy_auth_invite(server_qop, "carol")
    assert status == 404, reply + server_qop.log_tail()


def test_call_to_alias_reaches_registered_user(server, tmp_workdir, sipp_factory):
    uas_port = harness.free_port("both", exclude=[server.udp_port])
    users = write_users_csv(tmp_workdir / "bob.csv", ["bob;example.com;[authentication username=bob password=bobpw]"])
    reg = harness.scenario_copy("reg_auth.xml", tmp_workdir, {})
    result = run_sipp([f"{LOCALHOST}:{server.udp_port}", "-sf", reg, "-inf", str(users), "-m", "1",
                       "-p", str(uas_port)], tmp_workdir, timeout=20)
    assert result.ok, result.describe() + server.log_tail()
    uas = sipp_factory(["-sf", scenario("uas_rr.xml"), "-p", str(uas_port), "-m", "1"], timeout=30)
    status, reply = proxy_auth_invite(server, "robert")
    # the UAS (bob's registered contact) answers the call to the alias with 200;
    # it is stopped by the fixture (no ACK/BYE follow from this hand-built UAC)
    assert status == 200, reply + server.log_tail()
    assert uas is not None
