import time

import pytest

from opensipsg.modules.cfgutils import CfgutilsModule, parse_var_setting
from opensipsg.script.pvars import time_part
from opensipsg.registry import REGISTRY

from .conftest import INVITE, make_ctx


@pytest.fixture
def mod(core):
    m = CfgutilsModule(core)
    core.modules = {"cfgutils": m}
    m.set_param("shvset", "debug=i:1")
    m.set_param("shvset", "gw=s:10.0.0.9")
    m.set_param("varset", "count=i:0")
    m.init()
    return m


def pv(name):
    # the module's own specs: the registry entry may be overridden by a core PV of the same name
    return {spec.name: spec for spec in CfgutilsModule.pseudo_variables}[name]


def test_registered():
    assert REGISTRY.modules["cfgutils"] is CfgutilsModule
    for name in ("RANDOM", "shv"):
        assert pv(name).module == "cfgutils"
        assert name in REGISTRY.pseudo_variables


def test_var_settings(core, mod):
    assert mod.shared == {"debug": 1, "gw": "10.0.0.9"}
    assert core.script_vars["count"] == 0
    with pytest.raises(ValueError):
        parse_var_setting("x=q:1")


def test_shv_pv(core, mod):
    ctx = make_ctx(core, INVITE)
    spec = pv("shv")
    assert spec.getter(ctx, "gw") == "10.0.0.9"
    spec.setter(ctx, "debug", 5)
    assert spec.getter(ctx, "debug") == 5
    spec.setter(ctx, "debug", None)
    assert spec.getter(ctx, "debug") == 0
    assert spec.getter(ctx, "missing") is None


def test_time_and_random(core, mod):
    ctx = make_ctx(core, INVITE)
    spec = REGISTRY.pseudo_variables["time"]  # the core PV serves cfgutils' field names and strftime formats
    assert spec.getter(ctx, "year") == time.localtime().tm_year
    assert spec.getter(ctx, "%Y") == str(time.localtime().tm_year)
    # 2010-08-02 was a Monday: wday 2 (Sunday = 1); mon is 1..12
    ts = time.mktime((2010, 8, 2, 12, 0, 0, 0, 0, -1))
    assert time_part("wday", ts) == 2
    assert time_part("mon", ts) == 8
    assert time_part("yday", ts) == 214
    value = pv("RANDOM").getter(ctx, None)
    assert isinstance(value, int) and 0 <= value < 2**31


def test_probability(core, mod):
    ctx = make_ctx(core, INVITE)
    assert mod.rand_get_prob(ctx) == 10
    assert mod.rand_set_prob(ctx, 0) == 1
    assert all(mod.rand_event(ctx) == -1 for _ in range(50))
    assert mod.rand_set_prob(ctx, 100) == 1
    assert all(mod.rand_event(ctx) == 1 for _ in range(50))
    assert mod.rand_set_prob(ctx, 50) == 1
    results = {mod.rand_event(ctx) for _ in range(200)}
    assert results == {1, -1}
    assert mod.rand_set_prob(ctx, 101) == -1
    assert mod.rand_reset_prob(ctx) == 1
    assert mod.rand_get_prob(ctx) == 10


def test_sleep(core, mod):
    gevent = pytest.importorskip("gevent")
    ctx = make_ctx(core, INVITE)
    start = time.monotonic()
    assert mod.usleep(ctx, 20000) == 1
    assert mod.sleep(ctx, 0) == 1
    assert time.monotonic() - start >= 0.015
    assert gevent


def test_bad_initial_probability(core):
    m = CfgutilsModule(core)
    m.set_param("initial_probability", 200)
    with pytest.raises(ValueError):
        m.init()
