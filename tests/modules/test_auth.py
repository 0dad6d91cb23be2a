import pytest

from opensipsg.modules.auth import AuthModule
from opensipsg.registry import REGISTRY
from opensipsg.sip.digest import parse_challenge

from .conftest import INVITE, Fmt, make_ctx


def register(extra=()):
    lines = [
        "REGISTER sip:example.com SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKreg1",
        "Max-Forwards: 70",
        "To: <sip:alice@example.com>",
        "From: <sip:alice@other.example.org>;tag=456248",
        "Call-ID: reg-1",
        "CSeq: 1 REGISTER",
        *extra,
        "Content-Length: 0",
    ]
    return "\n" + "\n".join(lines) + "\n\n"


@pytest.fixture
def auth(core):
    mod = AuthModule(core)
    mod.secret = "test-secret"
    mod.init()
    return mod


def test_registered():
    assert REGISTRY.modules["auth"] is AuthModule
    for name in ("www_challenge", "proxy_challenge", "consume_credentials", "is_rpid_user_e164",
                 "append_rpid_hf"):
        assert name in AuthModule.functions


def test_www_challenge_realm_from_to_and_stops_script(core, auth):
    ctx = make_ctx(core, register())
    assert auth.www_challenge(ctx, Fmt(""), 0) == 0
    reply = core.last_reply
    assert (reply.status, reply.reason) == (401, "Unauthorized")
    value = reply.header("WWW-Authenticate")
    params = parse_challenge(value)
    assert params["realm"] == "example.com"
    assert "qop" not in params and "stale" not in params and "algorithm" not in params
    assert auth.nonces.verify(params["nonce"])
    assert value.startswith('Digest realm="example.com", nonce="')


def test_proxy_challenge_realm_from_from_with_qop(core, auth):
    ctx = make_ctx(core, register())
    assert auth.proxy_challenge(ctx, Fmt(""), 1) == 0
    reply = core.last_reply
    assert (reply.status, reply.reason) == (407, "Proxy Authentication Required")
    value = reply.header("Proxy-Authenticate")
    assert parse_challenge(value)["realm"] == "other.example.org"
    assert value.endswith(', qop="auth"')
    ctx = make_ctx(core, INVITE)
    auth.proxy_challenge(ctx, Fmt("my.realm"), 0)
    assert parse_challenge(core.last_reply.header("Proxy-Authenticate"))["realm"] == "my.realm"


def test_realm_prefix_and_send_failure(core, auth):
    auth.realm_prefix = "sip."
    ctx = make_ctx(core, register().replace("To: <sip:alice@example.com>", "To: <sip:alice@sip.example.com>"))
    auth.www_challenge(ctx, Fmt(""), 0)
    assert parse_challenge(core.last_reply.header("WWW-Authenticate"))["realm"] == "example.com"
    core.reply_result = -1
    assert auth.www_challenge(make_ctx(core, register()), Fmt(""), 0) == -1


def test_stale_flag_in_challenge(core, auth):
    ctx = make_ctx(core, register())
    ctx.extra["auth_stale"] = {"authorization"}
    auth.www_challenge(ctx, Fmt(""), 0)
    assert parse_challenge(core.last_reply.header("WWW-Authenticate"))["stale"] == "true"
    ctx.extra["auth_stale"] = {"proxy-authorization"}
    auth.www_challenge(ctx, Fmt(""), 0)
    assert "stale" not in parse_challenge(core.last_reply.header("WWW-Authenticate"))


def test_random_secret_per_start(core):
    a, b = AuthModule(core), AuthModule(core)
    a.init()
    b.init()
    nonce = a.nonces.issue(1000)
    assert a.nonces.verify(nonce) and not b.nonces.verify(nonce)


def test_consume_credentials_without_auth(core, auth):
    ctx = make_ctx(core, register(['Authorization: Digest username="a", realm="r", nonce="n", uri="u", response="x"']))
    assert auth.consume_credentials(ctx) == -1
    assert ctx.msg.has("authorization")


def test_rpid(core, auth):
    ctx = make_ctx(core, INVITE)
    assert auth.is_rpid_user_e164(ctx) == -1
    assert auth.append_rpid_hf(ctx) == -1
    ctx.avps.add(("s", "rpid"), "<sip:+4930123456@example.com>")
    assert auth.is_rpid_user_e164(ctx) == 1
    assert auth.append_rpid_hf(ctx) == 1
    assert ctx.msg.get("remote-party-id") == (
        "<sip:+4930123456@example.com>;party=calling;id-type=subscriber;screen=yes")
    assert auth.append_rpid_hf(ctx, "\"A\" ", ";x=1") == 1
    assert ctx.msg.get_all("remote-party-id")[1] == '"A" <sip:+4930123456@example.com>;x=1'
    ctx.avps.replace(("s", "rpid"), "sip:alice@example.com")
    assert auth.is_rpid_user_e164(ctx) == -1
