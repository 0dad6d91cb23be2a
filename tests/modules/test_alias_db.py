import pytest

from opensipsg.modules.alias_db import AliasDbModule
from tests.auth.helpers import make_db

from .conftest import INVITE, Fmt, make_ctx


@pytest.fixture
def env(core, tmp_path):
    db = make_db(tmp_path / "a.db", ["dbaliases"])
    core.database = lambda url: db
    for alias_user, alias_domain, user, domain in [
        ("bob", "example.com", "robert", "example.com"),
        ("sales", "example.com", "carol", "example.com"),
        ("sales", "other.org", "dave", "other.org"),
        ("x' OR '1'='1", "example.com", "mallory", "example.com"),
    ]:
        db.insert("dbaliases", {"alias_username": alias_user, "alias_domain": alias_domain,
                                "username": user, "domain": domain})
    mod = AliasDbModule(core)
    mod.db_url = "sqlite:///x"
    mod.init()
    return mod, db


def test_lookup(core, env):
    mod, _ = env
    ctx = make_ctx(core, INVITE.replace("INVITE sip:bob@example.com", "INVITE sip:bob@example.com:5070;transport=udp"))
    assert mod.alias_db_lookup(ctx, Fmt("dbaliases")) == 1
    assert ctx.ruri == "sip:robert@example.com"
    ctx.new_uri = "sip:nobody@example.com"
    assert mod.alias_db_lookup(ctx, Fmt("dbaliases")) == -1
    assert ctx.ruri == "sip:nobody@example.com"


def test_use_domain_prefix_and_flags(core, env):
    mod, _ = env
    mod.use_domain = 1
    mod.domain_prefix = "sip."
    ctx = make_ctx(core, INVITE)
    ctx.new_uri = "sip:sales@sip.other.org"
    assert mod.alias_db_lookup(ctx, Fmt("dbaliases")) == 1
    assert ctx.ruri == "sip:dave@other.org"
    ctx.new_uri = "sip:carol@example.com"
    assert mod.alias_db_lookup(ctx, Fmt("dbaliases"), "r") == 1
    assert ctx.ruri == "sip:sales@example.com"
    ctx.new_uri = "sip:bob@elsewhere.net"
    assert mod.alias_db_lookup(ctx, Fmt("dbaliases")) == -1
    assert mod.alias_db_lookup(ctx, Fmt("dbaliases"), "d") == 1


def test_append_branches(core, env):
    mod, _ = env
    mod.append_branches = 1
    ctx = make_ctx(core, INVITE)
    ctx.new_uri = "sip:sales@example.com"
    assert mod.alias_db_lookup(ctx, Fmt("dbaliases")) == 1
    uris = {ctx.ruri} | {b.uri for b in ctx.branches}
    assert uris == {"sip:carol@example.com", "sip:dave@other.org"}


def test_metacharacters_and_db_error(core, env):
    mod, db = env
    ctx = make_ctx(core, INVITE)
    ctx.new_uri = "sip:x'%20OR%20'1'='1@example.com"
    assert mod.alias_db_lookup(ctx, Fmt("dbaliases")) == 1
    assert ctx.ruri == "sip:mallory@example.com"
    ctx.new_uri = "sip:'%20OR%20''='@example.com"
    assert mod.alias_db_lookup(ctx, Fmt("dbaliases")) == -1
    assert mod.alias_db_lookup(ctx, Fmt("no_such_table")) == -1
