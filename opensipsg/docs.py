"""Module reference pages, generated from the registry (so they never drift).

``python -m opensipsg.docs --write docs/modules`` writes one Markdown page per
module in OpenSIPS's README order: overview (the module's docstring),
parameters with types and defaults, script functions with their argument
counts and allowed route types, MI commands and pseudo-variables; plus an index.
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import sys
from pathlib import Path

from .registry import REGISTRY, ROUTE_TYPE_NAMES, FunctionSpec, Module, RouteType

ROUTE_LETTERS = [
    (RouteType.REQUEST, "request"),
    (RouteType.FAILURE, "failure"),
    (RouteType.ONREPLY, "onreply"),
    (RouteType.BRANCH, "branch"),
    (RouteType.ERROR, "error"),
    (RouteType.LOCAL, "local"),
    (RouteType.STARTUP, "startup"),
    (RouteType.TIMER, "timer"),
]


def load_all_modules() -> list[type[Module]]:
    """Import every module file and return the registered module classes, by name."""
    package = importlib.import_module("opensipsg.modules")
    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"opensipsg.modules.{info.name}")
    # only our own modules (tests register modules of their own in the same registry)
    return [cls for name, cls in sorted(REGISTRY.modules.items()) if cls.__module__.startswith("opensipsg.")]


def _routes(spec: FunctionSpec) -> str:
    names = [label for flag, label in ROUTE_LETTERS if spec.routes & flag]
    return "any route" if len(names) == len(ROUTE_LETTERS) else ", ".join(names)


def _arguments(spec: FunctionSpec) -> str:
    low, high = spec.min_args, spec.max_args
    return str(low) if low == high else f"{low}-{high}"


def _default(value: object) -> str:
    if value is None or value == "":
        return "(none)"
    return f"`{value!r}`" if isinstance(value, str) else f"`{value}`"


def module_page(cls: type[Module]) -> str:
    doc = inspect.getdoc(inspect.getmodule(cls)) or inspect.getdoc(cls) or ""
    lines = [f"# {cls.name}", "", "Generated from the code by `python -m opensipsg.docs`; do not edit.", ""]
    lines += ["## Overview", "", doc.strip() or "(no description)", ""]
    if cls.depends:
        lines += ["## Dependencies", "", ", ".join(f"`{name}`" for name in cls.depends), ""]
    if cls.params:
        lines += ["## Parameters", "", "| name | type | default |", "| --- | --- | --- |"]
        for name, param in sorted(cls.params.items()):
            kind = param.type.__name__ + (" (repeatable)" if param.multi else "")
            lines.append(f"| `{name}` | {kind} | {_default(param.default)} |")
        lines.append("")
    functions: dict[str, list[str]] = {}
    for name, spec in cls.functions.items():
        functions.setdefault(spec.handler.__name__, []).append(name)
    if cls.functions:
        lines += ["## Functions", "", "| function | arguments | allowed in |", "| --- | --- | --- |"]
        for name, spec in sorted(cls.functions.items()):
            aliases = [n for n in functions[spec.handler.__name__] if n != name]
            note = f" (also {', '.join(f'`{a}`' for a in sorted(aliases))})" if aliases else ""
            lines.append(f"| `{name}`{note} | {_arguments(spec)} | {_routes(spec)} |")
        lines.append("")
    if cls.obsolete:
        lines += ["Names refused at start-up (obsolete since 1.6): "
                  + ", ".join(f"`{name}`" for name in sorted(cls.obsolete)), ""]
    if cls.mi_commands:
        lines += ["## MI commands", "", ", ".join(f"`{name}`" for name in sorted(cls.mi_commands)), ""]
    if cls.pseudo_variables:
        lines += ["## Pseudo-variables", "", ", ".join(f"`${spec.name}`" for spec in cls.pseudo_variables), ""]
    return "\n".join(lines)


def index_page(classes: list[type[Module]]) -> str:
    lines = ["# Modules", "", "Generated from the code by `python -m opensipsg.docs`; do not edit.", "",
             "| module | summary |", "| --- | --- |"]
    for cls in classes:
        doc = (inspect.getdoc(inspect.getmodule(cls)) or "").strip().splitlines()
        summary = doc[0] if doc else ""
        lines.append(f"| [{cls.name}]({cls.name}.md) | {summary} |")
    routes = ", ".join(ROUTE_TYPE_NAMES.values())
    lines += ["", f"Route types: {routes}.", ""]
    return "\n".join(lines)


def core_page() -> str:
    """The core functions and pseudo-variables (no module needed)."""
    importlib.import_module("opensipsg.script.compiler")  # registers the core functions and PVs
    lines = ["# Core functions and pseudo-variables", "",
             "Generated from the code by `python -m opensipsg.docs`; do not edit.", "",
             "## Functions", "", "| function | arguments | allowed in |", "| --- | --- | --- |"]
    for name, spec in sorted(REGISTRY.core_functions.items()):
        if not spec.handler.__module__.startswith("opensipsg."):
            continue
        lines.append(f"| `{name}` | {_arguments(spec)} | {_routes(spec)} |")
    lines += ["", "Statements: `if`/`else`, `switch`/`case`/`default`/`break`, `while`, `route(name)`, "
              "`return[(n)]`, `exit`, `drop`, assignments (`=`, `:=`, `+=` ...).", "",
              "## Pseudo-variables", "", "| name | writable | module |", "| --- | --- | --- |"]
    for name, spec in sorted(REGISTRY.pseudo_variables.items()):
        if not getattr(spec.getter, "__module__", "opensipsg.").startswith("opensipsg."):
            continue
        written = f"${name}(...)" if spec.needs_param else f"${name}"
        lines.append(f"| `{written}` | {'yes' if spec.setter else 'no'} | {spec.module or 'core'} |")
    lines.append("")
    return "\n".join(lines)


def pages() -> dict[str, str]:
    classes = load_all_modules()
    out = {f"{cls.name}.md": module_page(cls) for cls in classes}
    out["README.md"] = index_page(classes) + "\nCore functions and pseudo-variables: [core](core.md).\n"
    out["core.md"] = core_page()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", metavar="DIR", required=True, help="folder for the pages")
    args = parser.parse_args(argv)
    folder = Path(args.write)
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in pages().items():
        (folder / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
