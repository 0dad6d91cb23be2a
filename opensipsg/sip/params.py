"""``;name=value`` parameter lists, as URIs and name-addr headers keep them.

Pure: no I/O.  A list is a tuple of ``(name, value)`` pairs in the order
written; ``value`` is None for a value-less parameter.  Names compare
case-insensitively; names and values are kept as written.
"""
from __future__ import annotations

from collections.abc import Iterable

__all__ = ["Params", "find_param", "set_param", "drop_param", "params_text"]

Params = tuple[tuple[str, "str | None"], ...]


def find_param(params: Iterable[tuple[str, str | None]], name: str) -> str | None:
    """Value of the first parameter ``name``: None if absent, '' if value-less."""
    lname = name.lower()
    for pname, value in params:
        if pname == lname or pname.lower() == lname:  # (names are mostly written in lower case: no copy)
            return "" if value is None else value
    return None


def set_param(params: Params, name: str, value: str | None) -> Params:
    """Set ``name`` in place of its first occurrence (dropping the others), else append it."""
    lname = name.lower()
    out = []
    found = False
    for pname, pvalue in params:
        if pname.lower() == lname:
            if not found:
                out.append((name, value))
                found = True
            continue
        out.append((pname, pvalue))
    if not found:
        out.append((name, value))
    return tuple(out)


def drop_param(params: Params, name: str) -> Params:
    """Without every parameter ``name``; ``params`` itself when there is none."""
    lname = name.lower()
    out = tuple(p for p in params if p[0].lower() != lname)
    return params if len(out) == len(params) else out


def params_text(params: Params) -> str:
    """``;a=b;c`` for (('a', 'b'), ('c', None)); '' for none."""
    return "".join(f";{name}" if value is None else f";{name}={value}" for name, value in params)
