"""``loadmodule`` and ``modparam`` (reference 1.1 items 2-3, Appendix A 14, 16).

:func:`load_modules` instantiates the module classes a config loads and applies
its modparams with 1.6's typing rules; every problem is a ScriptError at the
statement's file:line:col.
"""
from __future__ import annotations

import importlib
import os
import re
from typing import Any

from ..errors import ScriptError
from ..registry import REGISTRY, Module
from . import ast

__all__ = ["load_modules", "module_name"]

# modules that are part of the core here (xlog became core in 1.6.3)
CORE_MODULES = frozenset({"xlog"})


def module_name(path: str) -> str:
    """``/usr/lib/opensips/modules/tm.so`` -> ``tm``."""
    base = os.path.basename(path.strip())
    if base.endswith(".so"):
        base = base[:-3]
    return base


def _error(node: Any, message: str) -> ScriptError:
    pos = node.pos
    return ScriptError(message, pos.file, pos.line, pos.col)


def _find_class(name: str) -> type[Module] | None:
    importlib.import_module("opensipsg.modules")  # registers the names of older releases
    cls = REGISTRY.module_class(name)
    if cls is not None:
        return cls
    target = REGISTRY.module_aliases.get(name.lower(), name.lower())
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", target):
        return None
    try:
        importlib.import_module(f"opensipsg.modules.{target}")
    except ModuleNotFoundError as exc:
        if exc.name and (exc.name == f"opensipsg.modules.{target}"
                         or f"opensipsg.modules.{target}".startswith(exc.name + ".")
                         or exc.name.startswith(f"opensipsg.modules.{target}")):
            return None
        raise
    return REGISTRY.module_class(name)


def load_modules(config: ast.Config, core: Any) -> dict[str, Module]:
    """Load every module of ``config`` (in file order) and apply its modparams."""
    modules: dict[str, Module] = {}
    where: dict[str, ast.LoadModule] = {}
    for load in config.loadmodules:
        name = module_name(load.path)
        if name.lower() in CORE_MODULES:
            continue
        cls = _find_class(name)
        if cls is None:
            raise _error(load, f"module {name} not found (loadmodule \"{load.path}\")")
        if cls.name in modules:
            first = where[cls.name].pos
            raise _error(load, f"module {cls.name} loaded twice (first at {first})")
        modules[cls.name] = cls(core)
        where[cls.name] = load
    for name, module in modules.items():
        for dep in module.depends:
            if dep not in modules:
                raise _error(where[name], f"module {name} depends on module {dep}, "
                                          "which is not loaded")
    for mp in config.modparams:
        apply_modparam(mp, modules)
    return modules


def apply_modparam(mp: ast.ModParam, modules: dict[str, Module]) -> None:
    try:
        pattern = re.compile(f"^({mp.module_regex})$", re.IGNORECASE)
    except re.error as exc:
        raise _error(mp, f"bad module name regex '{mp.module_regex}': {exc}") from None
    targets = [m for name, m in modules.items() if pattern.match(name)]
    if not targets:
        if mp.module_regex.lower() in CORE_MODULES:
            return  # modparam("xlog", ...) of the 1.6.0-1.6.2 module: nothing to set
        raise _error(mp, f"modparam: no loaded module matches '{mp.module_regex}' "
                         "(loadmodule must come before modparam)")
    for module in targets:
        param = module.params.get(mp.param)
        if param is None:
            raise _error(mp, f"Parameter <{mp.param}> not found in module <{module.name}>")
        value = mp.value
        if param.type is int and not isinstance(value, int):
            raise _error(mp, f"Parameter <{mp.param}> not found in module <{module.name}>: "
                             f"it is an integer parameter; write {value} without quotes")
        if param.type is str and not isinstance(value, str):
            raise _error(mp, f"Parameter <{mp.param}> not found in module <{module.name}>: "
                             f"it is a string parameter; write \"{value}\" in quotes")
        module.set_param(mp.param, value)
