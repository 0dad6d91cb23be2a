"""Transformations ``{class.op,args}`` of OpenSIPS 1.6 (reference section 3.3).

:func:`compile_chain` turns the transformations of one pseudo-variable into a
single function ``apply(ctx, value) -> value`` at load time.  A transformation
that cannot apply (bad URI, index out of range...) gives NULL (None), as
OpenSIPS does.  Unknown transformations or wrong argument counts raise
ScriptError at the transformation's position.
"""
from __future__ import annotations

import hashlib
import zlib
from typing import Any, Callable
from urllib.parse import quote, unquote

from ..errors import OpensipsgError, ScriptError
from ..sip.nameaddr import parse_name_addr, parse_params
from ..sip.params import find_param
from ..sip.uri import parse_uri
from . import ast

Value = int | str | None
Transform = Callable[[Any, Value], Value]

__all__ = ["compile_chain", "TRANSFORMATIONS"]


def _text(value: Value) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


# --- s.* ------------------------------------------------------------------------

def _s_len(value: Value) -> Value:
    text = _text(value)
    return 0 if text is None else len(text)


def _s_int(value: Value) -> Value:
    if isinstance(value, int):
        return value
    text = (value or "").strip()
    digits = []
    for i, ch in enumerate(text):
        if ch.isdigit() or (i == 0 and ch in "+-"):
            digits.append(ch)
        else:
            break
    try:
        return int("".join(digits))
    except ValueError:
        return 0


def _s_md5(value: Value) -> Value:
    text = _text(value)
    return None if text is None else hashlib.md5(text.encode("utf-8", "surrogateescape")).hexdigest()


def _s_crc32(value: Value) -> Value:
    text = _text(value)
    return None if text is None else zlib.crc32(text.encode("utf-8", "surrogateescape"))


def _s_hexa(value: Value) -> Value:
    text = _text(value)
    return None if text is None else text.encode("utf-8", "surrogateescape").hex()


def _s_dehexa(value: Value) -> Value:
    text = _text(value)
    try:
        return None if text is None else bytes.fromhex(text).decode("utf-8", "surrogateescape")
    except ValueError:
        return None


_COMMON_ESCAPES = {"'": "\\'", '"': '\\"', "\\": "\\\\", "\0": "\\0"}


def _s_escape_common(value: Value) -> Value:
    text = _text(value)
    return None if text is None else "".join(_COMMON_ESCAPES.get(c, c) for c in text)


def _s_unescape_common(value: Value) -> Value:
    text = _text(value)
    if text is None:
        return None
    out = []
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append("\0" if nxt == "0" else nxt)
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


# RFC 3261 user-unreserved / param-unreserved plus unreserved
_USER_SAFE = "-_.!~*'()&=+$,;?/"
_PARAM_SAFE = "-_.!~*'()[]/:&+$"


def _escaper(safe: str) -> Callable[[Value], Value]:
    def escape(value: Value) -> Value:
        text = _text(value)
        return None if text is None else quote(text, safe=safe)
    return escape


def _unescape(value: Value) -> Value:
    text = _text(value)
    return None if text is None else unquote(text)


def _lower(value: Value) -> Value:
    text = _text(value)
    return None if text is None else text.lower()


def _upper(value: Value) -> Value:
    text = _text(value)
    return None if text is None else text.upper()


# --- uri.* ----------------------------------------------------------------------

def _uri_field(getter: Callable[[Any], Value]) -> Callable[[Value], Value]:
    def apply(value: Value) -> Value:
        text = _text(value)
        if not text:
            return None
        try:
            uri = parse_uri(text.strip())
        except OpensipsgError:
            return None
        result = getter(uri)
        return "" if result is None else result
    return apply


def _uri_params_text(uri: Any) -> str:
    return ";".join(n if v is None else f"{n}={v}" for n, v in uri.params)


def _uri_headers_text(uri: Any) -> str:
    return "&".join(f"{n}={v}" for n, v in uri.headers)


_URI_FIELDS: dict[str, Callable[[Any], Value]] = {
    "user": lambda u: u.user,
    "host": lambda u: u.host,
    "domain": lambda u: u.host,
    "passwd": lambda u: u.password,
    "port": lambda u: "" if u.port is None else str(u.port),
    "params": _uri_params_text,
    "headers": _uri_headers_text,
    "transport": lambda u: u.param("transport"),
    "ttl": lambda u: u.param("ttl"),
    "uparam": lambda u: u.param("user"),
    "maddr": lambda u: u.param("maddr"),
    "method": lambda u: u.param("method"),
    "lr": lambda u: u.param("lr"),
    "r2": lambda u: u.param("r2"),
}


# --- param.* --------------------------------------------------------------------

def _params_of(value: Value) -> list[tuple[str, str | None]] | None:
    text = _text(value)
    if text is None:
        return None
    text = text.strip()
    if text.startswith(";"):
        text = text[1:]
    if not text:
        return []
    try:
        return list(parse_params(";" + text))
    except OpensipsgError:
        out = []
        for part in text.split(";"):
            name, eq, val = part.partition("=")
            out.append((name.strip(), val.strip() if eq else None))
        return out


# --- compilation ----------------------------------------------------------------

# name -> (number of arguments, builder(args) -> fn(value) or fn(ctx, value, *args))
_SIMPLE: dict[str, Callable[[Value], Value]] = {
    "s.len": _s_len,
    "s.int": _s_int,
    "s.md5": _s_md5,
    "s.crc32": _s_crc32,
    "s.encode.hexa": _s_hexa,
    "s.decode.hexa": _s_dehexa,
    "s.escape.common": _s_escape_common,
    "s.unescape.common": _s_unescape_common,
    "s.escape.user": _escaper(_USER_SAFE),
    "s.unescape.user": _unescape,
    "s.escape.param": _escaper(_PARAM_SAFE),
    "s.unescape.param": _unescape,
    "s.tolower": _lower,
    "s.toupper": _upper,
    "param.count": lambda v: None if (p := _params_of(v)) is None else len(p),
    "nameaddr.len": lambda v: _s_len(v),
}
for _field, _getter in _URI_FIELDS.items():
    _SIMPLE["uri." + _field] = _uri_field(_getter)


def _nameaddr(value: Value) -> Any:
    text = _text(value)
    if not text:
        return None
    try:
        return parse_name_addr(text.strip())
    except OpensipsgError:
        return None


def _na_name(value: Value) -> Value:
    na = _nameaddr(value)
    return None if na is None else (na.display or "")


def _na_uri(value: Value) -> Value:
    na = _nameaddr(value)
    return None if na is None else na.uri_text


_SIMPLE["nameaddr.name"] = _na_name
_SIMPLE["nameaddr.uri"] = _na_uri

# transformations taking arguments: name -> allowed argument counts
_WITH_ARGS = {
    "s.substr": (2,),
    "s.select": (2,),
    "uri.param": (1,),
    "param.value": (1,),
    "param.valueat": (1,),
    "param.name": (1,),
    "nameaddr.param": (1,),
}

TRANSFORMATIONS = frozenset(_SIMPLE) | frozenset(_WITH_ARGS)


def _arg_getter(arg: Any, binder: Any) -> Callable[[Any], Value]:
    if isinstance(arg, ast.PVRef):
        pv = binder.pv_ref(arg)
        return pv.get
    return lambda ctx, _v=arg: _v


def _int_arg(value: Value) -> int | None:
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _substr(value: Value, offset: Value, length: Value) -> Value:
    text = _text(value)
    off = _int_arg(offset)
    ln = _int_arg(length)
    if text is None or off is None or ln is None:
        return None
    if off < 0:
        off += len(text)
        if off < 0:
            return None
    if off >= len(text) and text:
        return None
    if ln == 0:
        return text[off:]
    if ln < 0:
        end = len(text) + ln
        return text[off:end] if end >= off else None
    return text[off:off + ln]


def _select(value: Value, index: Value, sep: Value) -> Value:
    text = _text(value)
    idx = _int_arg(index)
    separator = _text(sep)
    if text is None or idx is None or not separator:
        return None
    parts = text.split(separator[0])
    try:
        return parts[idx]
    except IndexError:
        return None


def _one(name: str, args: tuple[Callable[[Any], Value], ...]) -> Transform:
    if name == "s.substr":
        a, b = args
        return lambda ctx, v: _substr(v, a(ctx), b(ctx))
    if name == "s.select":
        a, b = args
        return lambda ctx, v: _select(v, a(ctx), b(ctx))
    (a,) = args
    if name == "uri.param":
        def uri_param(ctx: Any, v: Value) -> Value:
            text = _text(v)
            if not text:
                return None
            try:
                return parse_uri(text.strip()).param(str(a(ctx)))
            except OpensipsgError:
                return None
        return uri_param
    if name == "param.value":
        return lambda ctx, v: None if (p := _params_of(v)) is None else find_param(p, str(a(ctx)))

    if name in ("param.valueat", "param.name"):
        want_name = name == "param.name"

        def at(ctx: Any, v: Value) -> Value:
            params = _params_of(v)
            idx = _int_arg(a(ctx))
            if params is None or idx is None:
                return None
            try:
                pname, pvalue = params[idx]
            except IndexError:
                return None
            return pname if want_name else ("" if pvalue is None else pvalue)
        return at
    if name == "nameaddr.param":
        def na_param(ctx: Any, v: Value) -> Value:
            na = _nameaddr(v)
            return None if na is None else na.param(str(a(ctx)))
        return na_param
    raise AssertionError(name)


def compile_one(tr: ast.Transform, binder: Any) -> Transform:
    name = tr.name.lower()
    if name == "uri.domain":
        name = "uri.host"
    simple = _SIMPLE.get(name)
    if simple is not None:
        if tr.args:
            raise ScriptError(f"transformation '{tr.name}' takes no arguments",
                              tr.pos.file, tr.pos.line, tr.pos.col)
        return lambda ctx, v, _f=simple: _f(v)
    counts = _WITH_ARGS.get(name)
    if counts is None:
        raise ScriptError(f"unknown transformation '{{{tr.name}}}'", tr.pos.file, tr.pos.line, tr.pos.col)
    if len(tr.args) not in counts:
        raise ScriptError(
            f"transformation '{tr.name}' needs {' or '.join(map(str, counts))} argument(s), "
            f"got {len(tr.args)}", tr.pos.file, tr.pos.line, tr.pos.col)
    return _one(name, tuple(_arg_getter(arg, binder) for arg in tr.args))


def compile_chain(transforms: tuple[ast.Transform, ...], binder: Any) -> Transform | None:
    """One function applying every transformation in order; None if there are none."""
    if not transforms:
        return None
    steps = [compile_one(tr, binder) for tr in transforms]
    if len(steps) == 1:
        return steps[0]

    def chain(ctx: Any, value: Value) -> Value:
        for step in steps:
            value = step(ctx, value)
        return value
    return chain
