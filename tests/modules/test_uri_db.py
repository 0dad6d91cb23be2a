import pytest

from opensipsg.modules.uri import UriModule
from opensipsg.sip.digest import Credentials
from tests.auth.helpers import add_subscriber, make_db

from .conftest import INVITE, PV, Fmt, make_ctx


@pytest.fixture
def env(core, tmp_path):
    db = make_db(tmp_path / "uri.db", ["subscriber", "uri"])
    core.database = lambda url: db
    mod = UriModule(core)
    mod.db_url = "sqlite:///x"
    mod.init()
    add_subscriber(db, "alice", "example.com", "pw")
    add_subscriber(db, "bob", "example.com", "pw")
    add_subscriber(db, "bob", "other.org", "pw")
    return mod, db


def creds(user="alice", realm="example.com"):
    return Credentials("Digest", user, realm, "n", "sip:x", "r")


def test_check_from_and_to(core, env):
    mod, _ = env
    ctx = make_ctx(core, INVITE)  # From alice, To bob
    assert mod.db_check_from(ctx) == -2
    ctx.extra["authorized_credentials"] = creds("ALICE")
    assert mod.db_check_from(ctx) == 1
    assert mod.db_check_to(ctx) == -10
    assert core.stats.get("uri:positive checks") == 1
    assert core.stats.get("uri:negative_checks") == 2
    ctx = make_ctx(core, INVITE.replace("From: Alice <sip:alice@example.com>", "From: <sip:example.com>"))
    ctx.extra["authorized_credentials"] = creds()
    assert mod.db_check_from(ctx) == -4


def test_check_with_uri_table(core, env):
    mod, db = env
    mod.use_uri_table = 1
    mod.db_table = "uri"
    db.insert("uri", {"username": "alice", "domain": "example.com", "uri_user": "bob"})
    ctx = make_ctx(core, INVITE)
    ctx.extra["authorized_credentials"] = creds()
    assert mod.db_check_to(ctx) == 1
    assert mod.db_check_from(ctx) == -9  # no row alice -> alice in the uri table
    ctx.extra["authorized_credentials"] = creds("alice@example.com", "elsewhere")
    assert mod.db_check_to(ctx) == 1
    db.execute("DROP TABLE uri")
    assert mod.db_check_to(ctx) == -8


def test_does_uri_exist(core, env):
    mod, _ = env
    ctx = make_ctx(core, INVITE)
    assert mod.db_does_uri_exist(ctx) == 1
    ctx.new_uri = "sip:carol@example.com"
    assert mod.db_does_uri_exist(ctx) == -5
    ctx.new_uri = "sip:alice@other.org"
    assert mod.db_does_uri_exist(ctx) == 1
    mod.use_domain = 1
    assert mod.db_does_uri_exist(ctx) == -5
    ctx.new_uri = "sip:x'%20OR%20'1'='1@example.com"
    assert mod.db_does_uri_exist(ctx) == -5


def test_get_auth_id(core, env):
    mod, db = env
    ctx = make_ctx(core, INVITE)
    user, realm = PV(), PV()
    assert mod.db_get_auth_id(ctx, Fmt("sip:alice@example.com"), user, realm) == 1
    assert (user.value, realm.value) == ("alice", "example.com")
    assert mod.db_get_auth_id(ctx, Fmt("sip:nobody@example.com"), user, realm) == -4
    assert mod.db_get_auth_id(ctx, Fmt("not a uri"), user, realm) == -1
    mod.use_uri_table = 1
    mod.db_table = "uri"
    db.insert("uri", {"username": "alice", "domain": "example.com", "uri_user": "4711"})
    assert mod.db_get_auth_id(ctx, Fmt("sip:4711@example.com"), user, realm) == 1
    assert user.value == "alice"


def test_no_db_url(core):
    mod = UriModule(core)
    mod.init()
    ctx = make_ctx(core, INVITE)
    assert mod.db_does_uri_exist(ctx) == -4
