"""auth_aaa: the Access-Request 1.6 sends, SIP-AVP parsing, and the real thing against FreeRADIUS."""
from __future__ import annotations

import time

import pytest

from opensipsg.errors import ConfigError
from opensipsg.modules.aaa_radius import AaaRadiusModule
from opensipsg.modules.auth import AuthModule
from opensipsg.modules.auth_aaa import AuthAaaModule, parse_sip_avp
from tests.auth.helpers import authorization
from tests.freeradius import dead_udp_port
from tests.modules.conftest import PV, FakeCore, Fmt, make_ctx

URI = "sip:example.com"


def request(extra=(), user="alice", domain="example.com", method="REGISTER", call_id="reg-1",
            ruri=URI):
    lines = [
        f"{method} {ruri} SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKreg1",
        "Max-Forwards: 70",
        f"To: <sip:{'bob' if method != 'REGISTER' else user}@{domain}>",
        f"From: <sip:{user}@{domain}>;tag=456248",
        f"Call-ID: {call_id}",
        f"CSeq: 1 {method}",
        *extra,
        "Content-Length: 0",
    ]
    return "\n" + "\n".join(lines) + "\n\n"


class Setup:
    def __init__(self, aaa_url, **params):
        self.core = FakeCore()
        self.auth = AuthModule(self.core)
        self.auth.secret = "k"
        self.core.modules = {"auth": self.auth}
        self.auth.init()
        self.radius = AaaRadiusModule(self.core)
        self.core.modules["aaa_radius"] = self.radius
        self.aaa = AuthAaaModule(self.core)
        self.aaa.aaa_url = aaa_url
        for name, value in params.items():
            setattr(self.aaa, name, value)
        self.aaa.init()
        self.core.modules["auth_aaa"] = self.aaa

    def challenge(self, realm="", qop=0, proxy=False, method="REGISTER", domain="example.com"):
        ctx = make_ctx(self.core, request(method=method, domain=domain))
        if proxy:
            self.auth.proxy_challenge(ctx, Fmt(realm), qop)
            return self.core.last_reply.header("Proxy-Authenticate")
        self.auth.www_challenge(ctx, Fmt(realm), qop)
        return self.core.last_reply.header("WWW-Authenticate")

    def authorize(self, line, realm="", proxy=False, method="REGISTER", uri_user=None, **kw):
        ctx = make_ctx(self.core, request([line], method=method, **kw))
        if proxy:
            return self.aaa.aaa_proxy_authorize(ctx, Fmt(realm), uri_user), ctx
        return self.aaa.aaa_www_authorize(ctx, Fmt(realm)), ctx

    def login(self, user="alice", password="alicepw", qop=0, proxy=False, method="REGISTER", **kw):
        header = "Proxy-Authorization" if proxy else "Authorization"
        uri = URI
        line = authorization(self.challenge(qop=qop, proxy=proxy, method=method), user, password,
                             method, uri, header=header)
        return self.authorize(line, proxy=proxy, method=method, **kw)


# -- SIP-AVP ------------------------------------------------------------------------------
@pytest.mark.parametrize("text, parsed", [
    ("rpid:sip:alice@example.com", (("s", "rpid"), "sip:alice@example.com")),
    ("email:a#b", (("s", "email"), "a#b")),
    ("count#12", (("s", "count"), 12)),
    ("#14:text", (("i", 14), "text")),
    ("#14#28", (("i", 14), 28)),
    ("#14#-3", (("i", 14), -3)),
    ("name:", (("s", "name"), "")),
])
def test_sip_avp(text, parsed):
    assert parse_sip_avp(text) == parsed


@pytest.mark.parametrize("text", ["novalue", ":x", "#x:1", "n#abc", "#", ""])
def test_bad_sip_avp(text):
    with pytest.raises(ValueError):
        parse_sip_avp(text)


# -- the request as 1.6 builds it ---------------------------------------------------------------
@pytest.fixture
def offline(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("x\n")
    secret.chmod(0o600)
    return Setup(f"radius://{secret}@127.0.0.1:{dead_udp_port()}?timeout=0.2&retries=0")


def digest_tlvs(attrs):
    return [(v[0], v[2:].decode()) for n, v in attrs if n == "Digest-Attributes"]


def test_request_attributes_order_no_qop(offline):
    line = authorization(offline.challenge(), "alice", "alicepw", "REGISTER", URI)
    ctx = make_ctx(offline.core, request([line], user="al%69ce"))
    code, creds, _ = offline.auth.pre_auth(ctx, "", "authorization")
    attrs = offline.aaa.request_attributes(ctx, creds)
    assert [n for n, _ in attrs] == ["User-Name"] + ["Digest-Attributes"] * 5 + [
        "Digest-Response", "Service-Type", "Sip-Uri-User", "Acct-Session-Id", "Cisco-AVPair"]
    assert attrs[0] == ("User-Name", "alice@example.com")
    assert digest_tlvs(attrs) == [(10, "alice"), (1, "example.com"), (2, creds.nonce), (4, URI),
                                  (3, "REGISTER")]
    values = dict(attrs[6:])
    assert values == {"Digest-Response": creds.response, "Service-Type": 15, "Sip-Uri-User": "alice",
                      "Acct-Session-Id": "reg-1", "Cisco-AVPair": "call-id=reg-1"}


def test_request_attributes_qop_ruri_flag_and_uri_user(offline):
    offline.aaa.use_ruri_flag = 3
    offline.aaa.service_type = 1
    line = authorization(offline.challenge(qop=1, proxy=True, method="INVITE"), "bob@other.org",
                         "pw", "INVITE", URI, header="Proxy-Authorization")
    ctx = make_ctx(offline.core, request([line], method="INVITE", ruri="sip:bob@10.0.0.9"))
    ctx.flags |= 1 << 3
    code, creds, _ = offline.auth.pre_auth(ctx, "", "proxy-authorization")
    attrs = offline.aaa.request_attributes(ctx, creds, PV("carol"))
    assert attrs[0] == ("User-Name", "bob@other.org")  # has '@': sent as is
    assert digest_tlvs(attrs) == [(10, "bob@other.org"), (1, "example.com"), (2, creds.nonce),
                                  (4, "sip:bob@10.0.0.9"), (3, "INVITE"), (5, "auth"), (9, "00000001"),
                                  (8, "0a4f113b")]
    values = dict(attrs)
    assert values["Service-Type"] == 1 and values["Sip-Uri-User"] == "carol"


def test_no_credentials_stale_and_ack(offline):
    assert offline.authorize("X-Nothing: 1")[0] == -4
    forged = authorization(offline.challenge(), "alice", "alicepw", "REGISTER", URI, nonce="0" * 80)
    code, ctx = offline.authorize(forged)
    assert code == -3 and "authorization" in ctx.extra["auth_stale"]
    assert offline.authorize("X-Nothing: 1", method="ACK")[0] == 1
    bad = 'Authorization: Digest username="alice", realm="example.com"'
    assert offline.authorize(bad)[0] == 0 and offline.core.last_reply.status == 400


def test_dead_server_is_a_quick_error(offline, caplog):
    started = time.monotonic()
    code, _ = offline.login()
    assert code == -5 and time.monotonic() - started < 1.0
    assert "did not answer" in caplog.text


def test_init_refuses_world_readable_secret(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("x\n")
    secret.chmod(0o644)
    with pytest.raises(ConfigError, match="auth_aaa: .*readable by everyone"):
        Setup(f"radius://{secret}@127.0.0.1")


def test_init_refuses_a_dictionary_without_sip_avp(tmp_path):
    secret = tmp_path / "servers"
    secret.write_text("localhost x\n")
    secret.chmod(0o600)
    (tmp_path / "dictionary").write_text("ATTRIBUTE User-Name 1 string\n")
    (tmp_path / "radiusclient.conf").write_text("authserver localhost\nservers servers\ndictionary dictionary\n")
    with pytest.raises(ConfigError, match="lacks .*SIP-AVP"):
        Setup(f"radius:{tmp_path}/radiusclient.conf")


# -- against FreeRADIUS ------------------------------------------------------------------------
@pytest.fixture
def live(freeradius_running):
    return Setup(freeradius_running.aaa_url(timeout=0.5, retries=1))


@pytest.mark.integration
def test_right_password_and_sip_avps(live):
    code, ctx = live.login()
    assert code == 1
    assert ctx.avps.get(("s", "rpid")) == "sip:alice@example.com"
    assert ctx.avps.get(("i", 14)) == 28
    assert ctx.extra["authorized_credentials"].username == "alice"


@pytest.mark.integration
def test_qop_and_proxy_authorize(live):
    assert live.login(qop=1)[0] == 1
    assert live.login(user="bob", password="bobpw", proxy=True, method="INVITE")[0] == 1


@pytest.mark.integration
def test_ha1_user(live):
    assert live.login(user="carol", password="carolpw")[0] == 1


@pytest.mark.integration
def test_wrong_password_and_unknown_user(live):
    code, ctx = live.login(password="wrong")
    assert code == -5 and ctx.avps.get(("s", "rpid")) is None
    assert live.login(user="mallory", password="x")[0] == -5


@pytest.mark.integration
def test_replayed_nonce_is_stale(live):
    line = authorization(live.challenge(), "alice", "alicepw", "REGISTER", URI)
    assert live.authorize(line)[0] == 1
    code, ctx = live.authorize(line)
    assert code == -3 and "authorization" in ctx.extra["auth_stale"]


@pytest.mark.integration
def test_stopped_server_fails_fast_then_recovers(live, freeradius_running):
    freeradius_running.stop()
    started = time.monotonic()
    assert live.login()[0] == -5
    assert time.monotonic() - started < 2.0  # 0.5 s x 2 tries
    freeradius_running.start()
    assert live.login()[0] == 1


@pytest.mark.integration
def test_failover_to_second_server(freeradius_running):
    radius = freeradius_running
    url = (f"radius://{radius.secret_file}@127.0.0.1:{dead_udp_port()},"
           f"127.0.0.1:{radius.auth_port}:{radius.acct_port}?timeout=0.3&retries=0")
    setup = Setup(url)
    started = time.monotonic()
    assert setup.login()[0] == 1
    assert time.monotonic() - started < 1.5
    assert setup.aaa.client.send_accounting([("Acct-Status-Type", "Start"), ("Acct-Session-Id", "fo-1")])


@pytest.mark.integration
def test_concurrent_greenlets_each_get_a_socket(live):
    gevent = pytest.importorskip("gevent")
    # without monkey-patching the requests run one after another, but each checks its own
    # client out of the pool; with it (the daemon) they overlap
    jobs = [gevent.spawn(live.login) for _ in range(10)]
    gevent.joinall(jobs, timeout=20)
    assert [job.value[0] for job in jobs] == [1] * 10


@pytest.mark.integration
def test_accounting_reaches_the_detail_file(live, freeradius_running):
    client = live.aaa.client
    now = int(time.time())
    assert client.send_accounting([
        ("Acct-Status-Type", "Start"), ("Service-Type", "Sip-Session"), ("Sip-Response-Code", 200),
        ("Sip-Method", 1), ("Event-Timestamp", now), ("Sip-From-Tag", "ft1"), ("Sip-To-Tag", ""),
        ("Acct-Session-Id", "acct-call-1")])
    records = [r for r in freeradius_running.detail_text().split("\n\n") if '"acct-call-1"' in r]
    assert len(records) == 1
    record = records[0]
    assert "OpenSIPS-Sip-Method = Invite" in record and "Acct-Status-Type = Start" in record
    assert 'OpenSIPS-Sip-From-Tag = "ft1"' in record and "To-Tag" not in record  # empty: left out
    assert "Service-Type = SIP-Session-15" in record and "OpenSIPS-Sip-Response-Code = 200" in record
