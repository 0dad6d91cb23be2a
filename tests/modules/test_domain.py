import pytest

from opensipsg.modules.domain import DomainMIError, DomainModule
from opensipsg.registry import F
from tests.auth.helpers import make_db

from .conftest import INVITE, PV, make_ctx


@pytest.fixture
def db(core, tmp_path):
    database = make_db(tmp_path / "d.db", ["domain"])
    database.insert("domain", {"domain": "example.com"})
    database.insert("domain", {"domain": "Other.ORG"})
    core.database = lambda url: database
    return database


def module(core, mode):
    mod = DomainModule(core)
    mod.db_url = "sqlite:///x"
    mod.db_mode = mode
    mod.init()
    return mod


@pytest.mark.parametrize("mode", [0, 1])
def test_functions(core, db, mode):
    mod = module(core, mode)
    ctx = make_ctx(core, INVITE)
    assert mod.is_from_local(ctx) == 1
    assert mod.is_uri_host_local(ctx) == 1
    ctx.new_uri = "sip:bob@OTHER.org"
    assert mod.is_uri_host_local(ctx) == 1
    ctx.new_uri = "sip:bob@evil.net"
    assert mod.is_uri_host_local(ctx) == -1
    assert mod.w_is_domain_local(ctx, PV("other.org")) == 1
    assert mod.w_is_domain_local(ctx, PV("x' OR '1'='1")) == -1
    assert mod.w_is_domain_local(ctx, PV(None)) == -1


def test_failure_route_uses_request_uri(core, db):
    mod = module(core, 0)
    ctx = make_ctx(core, INVITE, route_type=F)
    assert mod.is_uri_host_local(ctx) == 1


def test_cache_reload_and_dump(core, db):
    mod = module(core, 1)
    assert mod.mi_domain_dump([]) == ["Domain:: example.com", "Domain:: other.org"]
    db.insert("domain", {"domain": "new.example"})
    ctx = make_ctx(core, INVITE)
    assert mod.w_is_domain_local(ctx, PV("new.example")) == -1
    assert mod.mi_domain_reload([]) == []
    assert mod.w_is_domain_local(ctx, PV("new.example")) == 1
    db.execute("DROP TABLE domain")
    with pytest.raises(DomainMIError) as err:
        mod.mi_domain_reload([])
    assert err.value.status == 500
    assert mod.w_is_domain_local(ctx, PV("new.example")) == 1  # the old cache stays


def test_mi_needs_cache(core, db):
    mod = module(core, 0)
    with pytest.raises(DomainMIError, match="command not activated"):
        mod.mi_domain_dump([])
    assert DomainModule.mi_commands == {"domain_reload": "mi_domain_reload", "domain_dump": "mi_domain_dump"}


def test_db_error_is_not_local(core, db, caplog):
    mod = module(core, 0)
    db.execute("DROP TABLE domain")
    assert mod.w_is_domain_local(make_ctx(core, INVITE), PV("example.com")) == -1
    assert any(r.levelname == "ERROR" for r in caplog.records)
