import pytest

from opensipsg.modules.group import GroupModule
from opensipsg.sip.digest import Credentials
from tests.auth.helpers import make_db

from .conftest import INVITE, PV, make_ctx


@pytest.fixture
def env(core, tmp_path):
    db = make_db(tmp_path / "g.db", ["grp", "re_grp"])
    core.database = lambda url: db
    for user, domain, grp in [("alice", "example.com", "ld"), ("bob", "example.com", "intl"),
                              ("alice", "other.org", "intl"), ("x' OR '1'='1", "example.com", "ld")]:
        db.insert("grp", {"username": user, "domain": domain, "grp": grp})
    db.insert("re_grp", {"reg_exp": "^sip:[0-9]+@", "group_id": 3})
    db.insert("re_grp", {"reg_exp": "@example\\.com$", "group_id": 7})
    mod = GroupModule(core)
    mod.db_url = "sqlite:///x"
    mod.re_table = "re_grp"
    mod.init()
    return mod, db


def test_sources(core, env):
    mod, _ = env
    ctx = make_ctx(core, INVITE)  # R-URI/To bob, From alice
    assert mod.db_is_user_in(ctx, "from", "ld") == 1
    assert mod.db_is_user_in(ctx, "from", "intl") == 1  # no use_domain: any domain
    assert mod.db_is_user_in(ctx, "ruri", "intl") == 1
    assert mod.db_is_user_in(ctx, "to", "ld") == -6
    assert mod.db_is_user_in(ctx, "credentials", "ld") == -1
    ctx.extra["authorized_credentials"] = Credentials("Digest", "alice@other.org", "example.com", "n", "u", "r")
    mod.use_domain = 1
    assert mod.db_is_user_in(ctx, "credentials", "intl") == 1
    assert mod.db_is_user_in(ctx, "credentials", "ld") == -6
    assert mod.db_is_user_in(ctx, "from", "intl") == -6
    assert mod.db_is_user_in(ctx, PV("sip:alice@other.org"), "intl") == 1
    assert mod.db_is_user_in(ctx, PV(None), "intl") == -1
    assert mod.db_is_user_in(ctx, PV("sip:x'%20OR%20'1'='1@example.com"), "ld") == 1
    assert mod.db_is_user_in(ctx, PV("sip:x'%20OR%20'1'='2@example.com"), "ld") == -6


def test_db_error(core, env):
    mod, db = env
    db.execute("DROP TABLE grp")
    assert mod.db_is_user_in(make_ctx(core, INVITE), "from", "ld") == -5


def test_get_user_group(core, env):
    mod, _ = env
    ctx = make_ctx(core, INVITE)
    out = PV()
    values = []
    out.set = lambda c, v: values.append(v)
    assert mod.db_get_user_group(ctx, "from", out) == 1
    assert values == [7]
    values.clear()
    assert mod.db_get_user_group(ctx, PV("sip:123@example.com"), out) == 2
    assert values == [3, 7]
    mod.multiple_gid = 0
    values.clear()
    assert mod.db_get_user_group(ctx, PV("sip:123@example.com"), out) == 1
    assert mod.db_get_user_group(ctx, PV("sip:x@elsewhere"), out) == -1


def test_obsolete():
    assert "is_user_in" in GroupModule.obsolete and "get_user_group" in GroupModule.obsolete
    assert "is_user_in" not in GroupModule.functions
