import pytest

from opensipsg.modules.uri import UriModule
from opensipsg.registry import REGISTRY
from opensipsg.sip.digest import Credentials

from .conftest import INVITE, PV, make_ctx


@pytest.fixture
def mod(core):
    return UriModule(core)


def test_registered_and_obsolete():
    assert REGISTRY.modules["uri"] is UriModule
    for name in ("check_to", "check_from", "does_uri_exist", "does_uri_user_exist", "get_auth_id"):
        assert name in UriModule.obsolete
        assert "obsolete" in UriModule.obsolete[name]
        assert name not in UriModule.functions


def test_has_totag(core, mod):
    assert mod.has_totag(make_ctx(core, INVITE)) == -1
    ctx = make_ctx(core, INVITE.replace("To: Bob <sip:bob@example.com>", "To: Bob <sip:bob@example.com>;tag=xy"))
    assert mod.has_totag(ctx) == 1


def test_is_user(core, mod):
    ctx = make_ctx(core, INVITE)
    assert mod.is_user(ctx, "alice") == -1
    ctx.extra["authorized_credentials"] = Credentials("Digest", "alice", "example.com", "n", "sip:x", "r")
    assert mod.is_user(ctx, "alice") == 1
    assert mod.is_user(ctx, "Alice") == -1


def test_uri_param_and_add(core, mod):
    ctx = make_ctx(core, INVITE.replace("INVITE sip:bob@example.com", "INVITE sip:bob@example.com;user=phone;foo"))
    assert mod.uri_param(ctx, "user") == 1
    assert mod.uri_param(ctx, "user", "phone") == 1
    assert mod.uri_param(ctx, "user", "ip") == -1
    assert mod.uri_param(ctx, "foo") == 1
    assert mod.uri_param(ctx, "foo", "x") == -1
    assert mod.uri_param(ctx, "bar") == -1
    assert mod.add_uri_param(ctx, "nat=yes") == 1
    assert ctx.ruri == "sip:bob@example.com;user=phone;foo;nat=yes"
    assert mod.uri_param(ctx, "nat", "yes") == 1
    ctx.new_uri = "sip:bob@example.com?subject=hi"
    assert mod.add_uri_param(ctx, "a=b") == 1
    assert ctx.ruri == "sip:bob@example.com;a=b?subject=hi"


def test_tel2sip(core, mod):
    ctx = make_ctx(core, INVITE)
    assert mod.tel2sip(ctx) == 1
    assert ctx.new_uri is None
    ctx = make_ctx(core, INVITE.replace("INVITE sip:bob@example.com", "INVITE tel:+4930123456"))
    assert mod.tel2sip(ctx) == 1
    assert ctx.ruri == "sip:+4930123456@example.com;user=phone"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("sip:+4930123456@example.com", 1),
        ("sip:+49@example.com", 1),
        ("sip:4930123456@example.com", -1),
        ("sip:+1234567890123456@example.com", -1),
        ("sip:+12a4@example.com", -1),
        ("not a uri", -1),
        (None, -1),
    ],
)
def test_is_uri_user_e164(core, mod, value, expected):
    ctx = make_ctx(core, INVITE)
    assert mod.is_uri_user_e164(ctx, PV(value)) == expected
