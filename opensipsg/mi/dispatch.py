"""Finding and running MI commands: core ones (``REGISTRY.core_mi_commands``
with no module), module methods marked ``@mi_command``, and module commands
registered from outside a module's class with :func:`module_mi` (so usrloc's
MI lives in opensipsg/mi/usrloc_cmds.py, apart from its storage code).
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from ..registry import REGISTRY, MICommand
from .tree import MIReply, as_reply, failed, not_available

log = logging.getLogger("opensipsg.mi")


def module_mi(module: str, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``handler(module_instance, args)`` as MI command ``name`` of ``module``;
    it is available only when that module is loaded."""

    def mark(handler: Callable[..., Any]) -> Callable[..., Any]:
        REGISTRY.core_mi_commands[name] = MICommand(name, handler, module)
        return handler

    return mark


def _loaded(core: Any) -> dict[str, Any]:
    return dict(getattr(core, "modules", {}) or {})


def find(core: Any, name: str) -> Callable[[list[str]], Any] | None:
    """A callable ``(args) -> result`` for the command, or None when not available."""
    spec = REGISTRY.core_mi_commands.get(name)
    modules = _loaded(core)
    if spec is not None:
        if spec.module is None:
            return lambda args: spec.handler(core, args)
        instance = modules.get(spec.module)
        if instance is not None:
            return lambda args: spec.handler(instance, args)
    for instance in modules.values():
        method_name = getattr(instance, "mi_commands", {}).get(name)
        if method_name:
            return getattr(instance, method_name)
    return None


def available(core: Any) -> list[str]:
    """Every available command: core first, then per loaded module in load order."""
    names = [n for n, spec in REGISTRY.core_mi_commands.items() if spec.module is None]
    for module_name, instance in _loaded(core).items():
        for name in getattr(instance, "mi_commands", {}) or {}:
            if name not in names:
                names.append(name)
        for name, spec in REGISTRY.core_mi_commands.items():
            if spec.module == module_name and name not in names:
                names.append(name)
    return names


def run(core: Any, name: str, args: list[str] | tuple[str, ...] = ()) -> MIReply:
    """Run MI command ``name``; never raises (a crash is ``500 command 'x' failed``)."""
    handler = find(core, name)
    if handler is None:
        return not_available(name)
    try:
        result = handler([str(a) for a in args])
    except Exception as exc:
        status, reason = getattr(exc, "status", None), getattr(exc, "reason", None)
        if isinstance(status, int) and isinstance(reason, str):
            return MIReply(code=status, reason=reason)  # e.g. domain's DomainMIError(500, ...)
        log.exception("MI command %s failed", name)
        return failed(name)
    return as_reply(name, result)
