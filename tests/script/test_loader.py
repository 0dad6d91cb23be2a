import pytest

from opensipsg.errors import ScriptError
from opensipsg.script.loader import load_modules, module_name
from opensipsg.script.parser import parse_config
from tests.script.test_compiler import FakeCore  # also registers the test modules


def load(text: str):
    return load_modules(parse_config(text, "m.cfg"), FakeCore())


def test_module_name():
    assert module_name("/usr/lib/opensips/modules/tm.so") == "tm"
    assert module_name("sl.so") == "sl"
    assert module_name("textops") == "textops"


def test_load_and_typed_params():
    mods = load('loadmodule "/x/testmod.so"\n'
                'modparam("testmod", "code", 7)\n'
                'modparam("TESTMOD", "label", "hello")\n'
                'modparam("test.*", "multi", "a")\nmodparam("testmod", "multi", "b")\n')
    mod = mods["testmod"]
    assert mod.code == 7 and mod.label == "hello" and mod.multi == ["a", "b"]


def test_xlog_module_is_core():
    mods = load('loadmodule "xlog.so"\nloadmodule "testmod.so"\nmodparam("xlog", "buf_size", 8192)\n')
    assert list(mods) == ["testmod"]


def test_unknown_module_position():
    with pytest.raises(ScriptError) as err:
        load('\n\nloadmodule "/usr/lib/nosuchmod.so"\n')
    assert err.value.message.startswith("module nosuchmod not found")
    assert (err.value.file, err.value.line, err.value.col) == ("m.cfg", 3, 1)


def test_module_loaded_twice():
    with pytest.raises(ScriptError) as err:
        load('loadmodule "testmod.so"\nloadmodule "/a/testmod.so"\n')
    assert "twice" in err.value.message and err.value.line == 2


def test_modparam_unknown_module_and_param():
    with pytest.raises(ScriptError) as err:
        load('loadmodule "testmod.so"\n modparam("tm", "fr_timer", 5)\n')
    assert (err.value.line, err.value.col) == (2, 2) and "tm" in err.value.message
    with pytest.raises(ScriptError) as err:
        load('loadmodule "testmod.so"\nmodparam("testmod", "nope", 5)\n')
    assert err.value.message == "Parameter <nope> not found in module <testmod>"
    assert err.value.line == 2


def test_modparam_type_mismatch():
    with pytest.raises(ScriptError) as err:
        load('loadmodule "testmod.so"\nmodparam("testmod", "code", "2")\n')
    assert "Parameter <code> not found in module <testmod>" in err.value.message
    assert "integer" in err.value.message and err.value.line == 2
    with pytest.raises(ScriptError) as err:
        load('loadmodule "testmod.so"\nmodparam("testmod", "label", 3)\n')
    assert "string parameter" in err.value.message


def test_modparam_before_loadmodule_fails():
    with pytest.raises(ScriptError):
        load('modparam("testmod", "code", 2)\nloadmodule "testmod.so"\n' if False else
             'modparam("testmod", "code", 2)\n')


def test_depends():
    with pytest.raises(ScriptError) as err:
        load('loadmodule "testdep.so"\n')
    assert "depends on module testmod" in err.value.message
    assert set(load('loadmodule "testmod.so"\nloadmodule "testdep.so"\n')) == {"testmod", "testdep"}


def test_real_module_imported_on_demand():
    mods = load('loadmodule "maxfwd.so"\nmodparam("maxfwd", "max_limit", 70)\n')
    assert mods["maxfwd"].max_limit == 70
