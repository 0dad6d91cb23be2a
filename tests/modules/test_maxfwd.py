import pytest

from opensipsg.modules.maxfwd import MaxfwdModule
from opensipsg.registry import REGISTRY, R

from .conftest import INVITE, make_ctx


@pytest.fixture
def mod(core):
    m = MaxfwdModule(core)
    m.init()
    return m


def test_registration():
    assert REGISTRY.modules["maxfwd"] is MaxfwdModule
    assert MaxfwdModule.functions["mf_process_maxfwd_header"].routes == R


def test_decrement(core, mod):
    ctx = make_ctx(core, INVITE)
    assert mod.mf_process_maxfwd_header(ctx, 10) == 1
    assert ctx.msg.get("max-forwards") == "69"
    assert b"\r\nMax-Forwards: 69\r\n" in ctx.msg.to_bytes()


def test_missing_header_is_added(core, mod):
    ctx = make_ctx(core, INVITE.replace("Max-Forwards: 70\n", ""))
    assert mod.mf_process_maxfwd_header(ctx, 10) == 2
    assert ctx.msg.headers[0].raw == "Max-Forwards: 10"


def test_zero_and_bad(core, mod):
    ctx = make_ctx(core, INVITE.replace("Max-Forwards: 70", "Max-Forwards: 0"))
    assert mod.mf_process_maxfwd_header(ctx, 10) == -1
    assert ctx.msg.get("max-forwards") == "0"
    ctx = make_ctx(core, INVITE.replace("Max-Forwards: 70", "Max-Forwards: 300"))
    assert mod.mf_process_maxfwd_header(ctx, 10) == -2
    assert mod.is_maxfwd_lt(ctx, 5) == -3


def test_max_limit_caps(core):
    mod = MaxfwdModule(core)
    mod.set_param("max_limit", 16)
    mod.init()
    ctx = make_ctx(core, INVITE)
    assert mod.mf_process_maxfwd_header(ctx, 10) == 1
    assert ctx.msg.get("max-forwards") == "16"


def test_bad_max_limit(core):
    mod = MaxfwdModule(core)
    mod.set_param("max_limit", 0)
    with pytest.raises(ValueError):
        mod.init()


def test_is_maxfwd_lt(core, mod):
    ctx = make_ctx(core, INVITE)
    assert mod.is_maxfwd_lt(ctx, 71) == 1
    assert mod.is_maxfwd_lt(ctx, 70) == -1
    ctx = make_ctx(core, INVITE.replace("Max-Forwards: 70\n", ""))
    assert mod.is_maxfwd_lt(ctx, 5) == -2
