"""Core pseudo-variables of OpenSIPS 1.6 (reference section 3.2) and PV accessors.

Getters are registered in ``REGISTRY.pseudo_variables`` as ``getter(ctx, param)``
returning None (NULL), an int or a str.  PVs that can be indexed
(``$(hdr(X)[n])``, ``$(avp(x)[n])``, ``$(ct[n])``, ``$(branch(f)[n])``) also have
an "all values" getter in :data:`MULTI`.

:func:`build_pv` turns a parsed :class:`~opensipsg.script.ast.PVRef` into a
:class:`PV` accessor once, at load time: ``pv.get(ctx)``, ``pv.set(ctx, v)``
(``=``), ``pv.replace(ctx, v)`` (``:=``), ``pv.update(ctx, v)`` (compound
operators).  Index, dynamic names, context prefix and transformations are all
folded into those closures.
"""
from __future__ import annotations

import logging
import os
import time
from operator import attrgetter
from typing import Any, Callable

from ..errors import OpensipsgError, ScriptError
from ..registry import REGISTRY, pseudo_variable
from ..sip.digest import parse_credentials_cached
from ..sip.nameaddr import parse_name_addr
from ..sip.uri import parse_uri
from . import ast
from .context import Branch
from .transformations import compile_chain

log = logging.getLogger("opensipsg.script")

Value = int | str | None
MAX_BRANCHES = 12

# PVs that carry both an int and a string form: they compare as strings with strings
DUAL = frozenset({"rp", "sp", "cs", "rs", "Rp", "op", "dp"})

# name -> getter_all(ctx, param) -> list of values (for [n], [-n], [*])
MULTI: dict[str, Callable[[Any, Any], list[Value]]] = {}


def _pv(name: str, *aliases: str, setter: Any = None, needs_param: bool = False,
        prepare: Any = None) -> Callable[[Callable[[Any, Any], Value]], Callable[[Any, Any], Value]]:
    return pseudo_variable(name, setter=setter, needs_param=needs_param, prepare=prepare,
                           aliases=aliases)


# --- URI parts: $rU $rd $rp $rP, $oU ..., $dd ... ----------------------------------

# letter -> (alias suffix, the part of a parsed URI)
_URI_PARTS: dict[str, tuple[str, Callable[[Any], Value]]] = {
    "U": ("user", attrgetter("user")),  # (a C getter: no Python frame per $rU/$rd read)
    "d": ("domain", attrgetter("host")),
    "p": ("port", lambda uri: uri.port or 5060),
    "P": ("transport", lambda uri: uri.transport or "udp"),
}


def _uri_part_getter(source: Callable[[Any], Any], part: Callable[[Any], Value]) -> Callable[[Any, Any], Value]:
    def getter(ctx: Any, _p: Any) -> Value:
        uri = source(ctx)
        return None if uri is None else part(uri)
    return getter


# getter(ctx, param) -> the same read as one safe function of ctx, for the hot PVs read
# without a parameter or index: build_pv uses it instead of _safe(getter, None) (frames
# less per read). Filled at import time only.
_DIRECT: dict[Callable[[Any, Any], Value], Callable[[Any], Value]] = {}


def _ruri_part_direct(part: Callable[[Any], Value]) -> Callable[[Any], Value]:
    """_safe(_uri_part_getter(_ruri, part), None) in one frame (plus parsed_ruri's)."""
    def get(ctx: Any) -> Value:
        if ctx.request is None:
            return None
        try:
            return part(ctx.parsed_ruri())
        except (OpensipsgError, AttributeError):
            return None
    return get


def _uri_part_pvs(prefix: str, long: str, source: Callable[[Any], Any], letters: str,
                  setters: dict[str, Callable[[Any, Any, Value], None]] | None = None) -> None:
    """Register ``$<prefix><letter>`` (alias ``$<long>.<part>``) for each letter: that part
    of the URI ``source(ctx)`` returns, None when it returns None."""
    for letter in letters:
        suffix, part = _URI_PARTS[letter]
        getter = pseudo_variable(prefix + letter, setter=(setters or {}).get(letter),
                                 aliases=(f"{long}.{suffix}",))(_uri_part_getter(source, part))
        if source is _ruri:
            _DIRECT[getter] = _ruri_part_direct(part)


# --- request URI ------------------------------------------------------------------

def _ruri(ctx: Any) -> Any:
    if ctx.request is None:
        return None
    return ctx.parsed_ruri()


def _set_ruri(ctx: Any, _param: Any, value: Value) -> None:
    if value is None or value == "":
        log.error("cannot set $ru to NULL/empty")
        return
    text = str(value)
    parse_uri(text)  # ParseError -> caller logs
    ctx.new_uri = text


def _set_ruri_part(field: str) -> Callable[[Any, Any, Value], None]:
    def setter(ctx: Any, _param: Any, value: Value) -> None:
        uri = ctx.parsed_ruri()
        if field == "port":
            port = None if value in (None, "", 0) else int(value)  # type: ignore[arg-type]
            ctx.new_uri = str(uri.replace(port=port))
        elif field == "host":
            if not value:
                log.error("cannot set the R-URI host to NULL/empty")
                return
            ctx.new_uri = str(uri.replace(host=str(value)))
        else:
            ctx.new_uri = str(uri.replace(user=None if value in (None, "") else str(value)))
    return setter


@_pv("ru", "ruri", setter=_set_ruri)
def _get_ru(ctx: Any, _p: Any) -> Value:
    return ctx.ruri if ctx.request is not None else None


def _get_ru_direct(ctx: Any) -> Value:
    return ctx.ruri if ctx.request is not None else None  # (cannot raise)


_DIRECT[_get_ru] = _get_ru_direct


_uri_part_pvs("r", "ruri", _ruri, "UdpP", setters={
    "U": _set_ruri_part("user"), "d": _set_ruri_part("host"), "p": _set_ruri_part("port")})


def _ouri(ctx: Any) -> Any:
    return None if ctx.request is None else parse_uri(ctx.request.ruri)


@_pv("ou", "ouri")
def _get_ou(ctx: Any, _p: Any) -> Value:
    return None if ctx.request is None else ctx.request.ruri


_uri_part_pvs("o", "ouri", _ouri, "UdpP")


# --- destination URI --------------------------------------------------------------

def _set_du(ctx: Any, _p: Any, value: Value) -> None:
    if value is None or value == "":
        ctx.dst_uri = None
        return
    text = str(value)
    parse_uri(text)
    ctx.dst_uri = text


@_pv("du", "duri", setter=_set_du)
def _get_du(ctx: Any, _p: Any) -> Value:
    return ctx.dst_uri


def _duri(ctx: Any) -> Any:
    return None if not ctx.dst_uri else parse_uri(ctx.dst_uri)


_uri_part_pvs("d", "duri", _duri, "dpP")


def q_to_str(q: int) -> str:
    if q >= 1000:
        return "1"
    text = f"{q / 1000:.3f}".rstrip("0")
    return text if not text.endswith(".") else text + "0"


@_pv("ds")
def _get_ds(ctx: Any, _p: Any) -> Value:
    items = []
    for branch in [ctx.branch0()] + list(ctx.branches):
        if not branch.uri:
            continue
        text = f"<{branch.uri}>"
        if branch.q >= 0:
            text += f";q={q_to_str(branch.q)}"
        items.append(text)
    return ", ".join(items) if items else None


# --- From / To --------------------------------------------------------------------

def _nameaddr_pvs(prefix: str, long: str, attr: str) -> None:
    def na(ctx: Any) -> Any:
        return getattr(ctx.msg, attr)

    pseudo_variable(prefix + "u", aliases=(long,))(lambda ctx, p: na(ctx).uri_text)
    pseudo_variable(prefix + "U", aliases=(long + ".user",))(lambda ctx, p: na(ctx).uri.user)
    pseudo_variable(prefix + "d", aliases=(long + ".domain",))(lambda ctx, p: na(ctx).uri.host)
    pseudo_variable(prefix + "n")(lambda ctx, p: na(ctx).display_unescaped or None)
    pseudo_variable(prefix + "t")(lambda ctx, p: na(ctx).tag)


_nameaddr_pvs("f", "from", "from_")
_nameaddr_pvs("t", "to", "to")


# --- other headers ------------------------------------------------------------------

@_pv("ci", "callid")
def _get_ci(ctx: Any, _p: Any) -> Value:
    return ctx.msg.call_id


@_pv("cs")
def _get_cs(ctx: Any, _p: Any) -> Value:
    return ctx.msg.cseq.number


@_pv("rm")
def _get_rm(ctx: Any, _p: Any) -> Value:
    msg = ctx.msg
    return msg.method if msg is not None else None


@_pv("rs")
def _get_rs(ctx: Any, _p: Any) -> Value:
    msg = ctx.msg
    return None if msg is None or msg.is_request else msg.status


@_pv("rr")
def _get_rr(ctx: Any, _p: Any) -> Value:
    msg = ctx.msg
    return None if msg is None or msg.is_request else msg.reason


@_pv("rb")
def _get_rb(ctx: Any, _p: Any) -> Value:
    body = ctx.msg.body
    return body.decode("utf-8", "surrogateescape") if body else None


@_pv("cl")
def _get_cl(ctx: Any, _p: Any) -> Value:
    value = ctx.msg.get("content-length")
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


@_pv("cT")
def _get_cT(ctx: Any, _p: Any) -> Value:
    return ctx.msg.get("content-type")


@_pv("ua")
def _get_ua(ctx: Any, _p: Any) -> Value:
    return ctx.msg.get("user-agent")


def _contact_field(na: Any, field: str | None) -> Value:
    if field is None:
        return na.raw or na.build()
    if field == "uri":
        return na.uri_text
    if field == "name":
        return na.display_unescaped or None
    if field == "params":
        return ";".join(n if v is None else f"{n}={v}" for n, v in na.params) or None
    return na.param(field)  # q, expires, methods, received, any other


def _contacts_all(ctx: Any, field: Any) -> list[Value]:
    msg = ctx.msg
    if msg is None:
        return []
    return [_contact_field(na, field) for na in msg.contacts]


def _contact_first(ctx: Any, field: Any) -> Value:
    values = _contacts_all(ctx, field)
    return values[0] if values else None


_CT_FIELDS = {"name", "uri", "q", "expires", "methods", "received", "params"}


def _prepare_ct_field(param: Any) -> Any:
    if param not in _CT_FIELDS:
        raise ValueError(f"unknown contact field '{param}' (use {'|'.join(sorted(_CT_FIELDS))})")
    return param


pseudo_variable("ct")(lambda ctx, p: _contact_first(ctx, None))
pseudo_variable("ct.fields", needs_param=True, prepare=_prepare_ct_field)(_contact_first)
MULTI["ct"] = lambda ctx, p: _contacts_all(ctx, None)
MULTI["ct.fields"] = _contacts_all


def _hdr_all(ctx: Any, name: Any) -> list[Value]:
    msg = ctx.msg
    return [] if msg is None else list(msg.get_all(name))


def _prepare_hdr(param: Any) -> Any:
    if not isinstance(param, str) or not param.strip():
        raise ValueError("header name missing")
    return param.strip()


@_pv("hdr", needs_param=True, prepare=_prepare_hdr)
def _get_hdr(ctx: Any, name: Any) -> Value:
    msg = ctx.msg
    return None if msg is None else msg.get(name)


MULTI["hdr"] = _hdr_all


def _header_uri(ctx: Any, header: str) -> Any:
    value = ctx.msg.get(header)
    if value is None:
        return None
    return parse_name_addr(value.split(",")[0] if "<" not in value else value.strip())


def _identity_pv(name: str, header: str, what: str) -> None:
    def getter(ctx: Any, _p: Any) -> Value:
        na = _header_uri(ctx, header)
        if na is None:
            return None
        if what == "uri":
            return na.uri_text
        if what == "user":
            return na.uri.user
        if what == "domain":
            return na.uri.host
        if what == "display":
            return na.display_unescaped or None
        return na.param(what)
    pseudo_variable(name)(getter)


_identity_pv("ai", "p-asserted-identity", "uri")
_identity_pv("pu", "p-preferred-identity", "uri")
_identity_pv("pU", "p-preferred-identity", "user")
_identity_pv("pd", "p-preferred-identity", "domain")
_identity_pv("pn", "p-preferred-identity", "display")
_identity_pv("re", "remote-party-id", "uri")
_identity_pv("rt", "refer-to", "uri")
_identity_pv("di", "diversion", "uri")
_identity_pv("dir", "diversion", "reason")
_identity_pv("dip", "diversion", "privacy")


# --- digest credentials -------------------------------------------------------------

def credentials(ctx: Any) -> Any:
    """The Digest credentials of the message (Authorization for REGISTER/PUBLISH first)."""
    msg = ctx.msg
    if msg is None or not msg.is_request:
        return None
    order = (("authorization", "proxy-authorization") if msg.method in ("REGISTER", "PUBLISH")
             else ("proxy-authorization", "authorization"))
    for header in order:
        value = msg.get(header)
        if value is not None:
            return parse_credentials_cached(ctx.extra, value)  # parsed once per request
    return None


def _cred_pv(name: str, getter: Callable[[Any], Value]) -> None:
    def get(ctx: Any, _p: Any) -> Value:
        cred = credentials(ctx)
        return None if cred is None else getter(cred)
    pseudo_variable(name)(get)


_cred_pv("au", lambda c: c.username.partition("@")[0])
_cred_pv("ad", lambda c: c.username.partition("@")[2] or None)
_cred_pv("aU", lambda c: c.username)
_cred_pv("ar", lambda c: c.realm)
_cred_pv("an", lambda c: c.nonce)
_cred_pv("adu", lambda c: c.uri)


@_pv("Au")
def _get_Au(ctx: Any, _p: Any) -> Value:
    try:
        cred = credentials(ctx)
    except OpensipsgError:
        cred = None
    if cred is not None:
        return cred.username.partition("@")[0]
    return ctx.msg.from_.uri.user


# --- network --------------------------------------------------------------------------

pseudo_variable("si", aliases=("src_ip",))(lambda ctx, p: ctx.src_ip or None)
pseudo_variable("sp", aliases=("src_port",))(lambda ctx, p: ctx.src_port or None)
pseudo_variable("Ri")(lambda ctx, p: ctx.local_ip or None)
pseudo_variable("Rp")(lambda ctx, p: ctx.local_port or None)
pseudo_variable("pr", aliases=("proto",))(lambda ctx, p: ctx.proto or None)


def _set_fs(ctx: Any, _p: Any, value: Value) -> None:
    if value in (None, ""):
        ctx.force_socket = None
        return
    from .core_functions import parse_socket  # late: core_functions imports us
    proto, host, port = parse_socket(str(value))
    has = getattr(ctx.core, "has_listener", None)
    if has is not None and not has(proto, host, port):
        log.error("$fs: %s is not a listening socket", value)
        return
    ctx.force_socket = f"{proto}:{host}:{port}"


pseudo_variable("fs", setter=_set_fs)(lambda ctx, p: ctx.force_socket)


# --- whole message -------------------------------------------------------------------

@_pv("mb")
def _get_mb(ctx: Any, _p: Any) -> Value:
    return ctx.msg.to_bytes().decode("utf-8", "surrogateescape")


@_pv("ml")
def _get_ml(ctx: Any, _p: Any) -> Value:
    return len(ctx.msg.to_bytes())


@_pv("mi")
def _get_mi(ctx: Any, _p: Any) -> Value:
    msg_id = ctx.extra.get("msg_id")
    return msg_id if msg_id is not None else id(ctx.msg) & 0x7FFFFFFF


# --- flags -----------------------------------------------------------------------------

def _flag_value(value: Value, hexa: bool) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFFFFFFFF
    text = value.strip()
    return int(text, 16) if hexa or text.lower().startswith("0x") else int(text)


def _flags_pvs(dec: str, hexa: str, attr: str) -> None:
    def setter(is_hex: bool) -> Callable[[Any, Any, Value], None]:
        def set_(ctx: Any, _p: Any, value: Value) -> None:
            setattr(ctx, attr, _flag_value(value, is_hex))
        return set_
    pseudo_variable(dec, setter=setter(False))(lambda ctx, p: getattr(ctx, attr))
    pseudo_variable(hexa, setter=setter(True))(lambda ctx, p: f"{getattr(ctx, attr):08X}")


_flags_pvs("mf", "mF", "flags")
_flags_pvs("bf", "bF", "bflags")
_flags_pvs("sf", "sF", "sflags")


# --- branches -------------------------------------------------------------------------

_BRANCH_FIELDS = {"uri": "uri", "duri": "dst_uri", "q": "q", "path": "path", "flags": "flags",
                  "socket": "socket"}


def _prepare_branch(param: Any) -> Any:
    if param is None:
        return "uri"
    if param not in _BRANCH_FIELDS:
        raise ValueError(f"unknown branch field '{param}' (use {'|'.join(_BRANCH_FIELDS)})")
    return param


def _branch_field(branch: Branch, field: str) -> Value:
    value = getattr(branch, _BRANCH_FIELDS[field])
    if field == "q":
        return None if value < 0 else q_to_str(value)
    return value


def _branch_all(ctx: Any, field: Any) -> list[Value]:
    return [_branch_field(b, field or "uri") for b in ctx.branches]


def _branch_first(ctx: Any, field: Any) -> Value:
    return _branch_field(ctx.branches[0], field or "uri") if ctx.branches else None


def parse_q(value: Value) -> int:
    if value is None or value == "":
        return -1
    if isinstance(value, int):
        return value
    return int(round(float(value) * 1000))


def set_branch_field(branch: Branch, field: str, value: Value) -> None:
    if field == "q":
        branch.q = parse_q(value)
    elif field == "flags":
        branch.flags = _flag_value(value, False)
    elif field == "uri":
        if value:
            branch.uri = str(value)
    else:
        setattr(branch, _BRANCH_FIELDS[field], None if value in (None, "") else str(value))


def _set_branch(ctx: Any, field: Any, value: Value) -> None:
    field = field or "uri"
    if field != "uri":
        if ctx.branches:
            set_branch_field(ctx.branches[0], field, value)
        return
    if value in (None, ""):
        return
    if len(ctx.branches) + 1 >= MAX_BRANCHES:
        log.error("too many branches (max %d): not adding %s", MAX_BRANCHES, value)
        return
    ctx.branches.append(Branch(str(value)))


pseudo_variable("branch", setter=_set_branch, prepare=_prepare_branch)(_branch_first)
MULTI["branch"] = _branch_all


# --- misc -----------------------------------------------------------------------------

pseudo_variable("rc", aliases=("retcode",))(lambda ctx, p: ctx.retcode)
pseudo_variable("err.class")(lambda ctx, p: ctx.error.err_class)
pseudo_variable("err.level")(lambda ctx, p: ctx.error.level)
pseudo_variable("err.info")(lambda ctx, p: ctx.error.info or None)
pseudo_variable("err.rcode")(lambda ctx, p: ctx.error.rcode)
pseudo_variable("err.rreason")(lambda ctx, p: ctx.error.rreason or None)
pseudo_variable("Ts")(lambda ctx, p: int(time.time()))
pseudo_variable("Tsm")(lambda ctx, p: int(time.time() * 1_000_000) % 1_000_000)
pseudo_variable("Tf")(lambda ctx, p: time.ctime())
pseudo_variable("TS")(lambda ctx, p: int(getattr(ctx.core, "start_time", 0) or time.time()))
# $time(...) has two meanings in 1.6: the core's strftime format and cfgutils'
# broken-down field names. One PV serves both: a known field name gives the field.
TIME_PARTS = ("sec", "min", "hour", "mday", "mon", "year", "wday", "yday", "isdst")


def time_part(name: str, now: float | None = None) -> int:
    t = time.localtime(time.time() if now is None else now)
    return {
        "sec": t.tm_sec,
        "min": t.tm_min,
        "hour": t.tm_hour,
        "mday": t.tm_mday,
        "mon": t.tm_mon,
        "year": t.tm_year,
        "wday": (t.tm_wday + 1) % 7 + 1,  # Sunday = 1, as struct tm's tm_wday + 1
        "yday": t.tm_yday,
        "isdst": t.tm_isdst,
    }[name]


def _time_pv(ctx: Any, param: Any) -> Value:
    if param in TIME_PARTS:
        return time_part(param)
    return time.strftime(param, time.localtime())


pseudo_variable("time", needs_param=True)(_time_pv)
pseudo_variable("pp")(lambda ctx, p: os.getpid())

_COLORS = {"x": None, "s": 0, "r": 1, "g": 2, "y": 3, "b": 4, "p": 5, "c": 6, "w": 7}


def _prepare_color(param: Any) -> Any:
    if not isinstance(param, str) or len(param) != 2 or param[0].lower() not in _COLORS \
            or param[1].lower() not in _COLORS:
        raise ValueError(f"bad color spec '{param}' (two of x s r g y b p c w)")
    fg, bg = param[0], param[1]
    codes = ["0"]
    if fg.lower() != "x":
        if fg.isupper():
            codes.append("1")
        codes.append(str(30 + _COLORS[fg.lower()]))  # type: ignore[operator]
    if bg.lower() != "x":
        codes.append(str(40 + _COLORS[bg.lower()]))  # type: ignore[operator]
    return "\033[" + ";".join(codes) + "m"


pseudo_variable("C", needs_param=True, prepare=_prepare_color)(
    lambda ctx, esc: esc if getattr(ctx.core, "xlog_force_color", False) else "")


# --- script variables and AVPs -----------------------------------------------------------

def _set_var(ctx: Any, name: Any, value: Value) -> None:
    ctx.core.script_vars[name] = 0 if value is None else value


pseudo_variable("var", setter=_set_var, needs_param=True)(
    lambda ctx, name: ctx.core.script_vars.get(name, 0))  # script vars have no NULL: 0


def parse_avp_aliases(text: str) -> dict[str, tuple[str, Any]]:
    """``"alias=i:10; other=s:foo"`` -> {'alias': ('i', 10), 'other': ('s', 'foo')}."""
    out: dict[str, tuple[str, Any]] = {}
    for item in text.replace(",", ";").split(";"):
        item = item.strip()
        if not item:
            continue
        name, eq, spec = item.partition("=")
        if not eq or not name.strip():
            raise ValueError(f"bad avp alias '{item}' (expected name=i:N or name=s:text)")
        key = avp_key(spec.strip(), {}, strict=True)
        out[name.strip().lower()] = key
    return out


def avp_key(name: str, aliases: dict[str, tuple[str, Any]], strict: bool = False) -> tuple[str, Any]:
    """AVP name as written -> store key; ValueError on a bad name."""
    text = name.strip()
    head, colon, rest = text.partition(":")
    if colon and head and head[0] in "isIS" and head[1:].isdigit() | (head[1:] == ""):
        if not rest:
            raise ValueError(f"empty AVP name '{name}'")
        if head[0] in "iI":
            try:
                return ("i", int(rest))
            except ValueError:
                raise ValueError(f"integer AVP id expected in '{name}'") from None
        return ("s", rest)
    alias = aliases.get(text.lower())
    if alias is not None:
        return alias
    if strict or not text:
        raise ValueError(f"bad AVP name '{name}'")
    return ("s", text)


def _avp_dynamic_key(value: Value) -> tuple[str, Any]:
    if isinstance(value, int):
        return ("i", value)
    return avp_key(str(value or ""), {})


# AVP getters operate on keys (the binder resolves names/aliases)
pseudo_variable("avp", needs_param=True)(lambda ctx, key: ctx.avps.get(key))
MULTI["avp"] = lambda ctx, key: ctx.avps.get_all(key)


# --- accessors -----------------------------------------------------------------------------

class PV:
    """A bound pseudo-variable: call ``get(ctx)``; writable ones have set/replace/update."""

    __slots__ = ("get", "set", "replace", "update", "name", "text", "dual", "writable")

    def __init__(self, name: str, text: str, get: Callable[[Any], Value]) -> None:
        self.name = name
        self.text = text
        self.get = get
        self.set: Callable[[Any, Value], None] = self._read_only
        self.replace: Callable[[Any, Value], None] = self._read_only
        self.update: Callable[[Any, Value], None] = self._read_only
        self.dual = name in DUAL
        self.writable = False

    def _read_only(self, ctx: Any, value: Value) -> None:
        log.error("pseudo-variable %s is read-only", self.text)

    def __repr__(self) -> str:
        return f"<PV {self.text}>"


class _RequestView:
    """The context seen through ``$(<request>...)``: the message is the request."""

    __slots__ = ("_ctx", "msg")

    def __init__(self, ctx: Any, msg: Any) -> None:
        self._ctx = ctx
        self.msg = msg

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)


def _context_wrap(context: str, get: Callable[[Any], Value], ref: ast.PVRef) -> Callable[[Any], Value]:
    if context == "request":
        def in_request(ctx: Any) -> Value:
            request = ctx.request
            if request is None:
                return None
            return get(ctx if ctx.msg is request else _RequestView(ctx, request))
        return in_request
    if context == "reply":
        def in_reply(ctx: Any) -> Value:
            msg = ctx.msg
            if msg is not None and not msg.is_request:
                return get(ctx)
            reply = getattr(ctx.transaction, "winning_reply", None) if ctx.transaction else None
            reply = reply if reply is not None else ctx.extra.get("reply")
            return None if reply is None else get(_RequestView(ctx, reply))
        return in_reply
    raise ScriptError(f"unknown context '<{context}>' in {ref.text}", ref.pos.file, ref.pos.line, ref.pos.col)


def _safe(getter: Callable[[Any, Any], Value], param: Any) -> Callable[[Any], Value]:
    def get(ctx: Any) -> Value:
        try:
            return getter(ctx, param)
        except (OpensipsgError, AttributeError):
            return None
    return get


def _index(values: list[Value], index: Any, star_sep: str = ",") -> Value:
    if index == "*":
        return star_sep.join("" if v is None else str(v) for v in values) if values else None
    try:
        return values[index]
    except (IndexError, TypeError):
        return None


def build_pv(ref: ast.PVRef, binder: Any) -> PV:
    """Bind a PVRef (see module docstring). ``binder`` offers ``avp_aliases``, ``pv_ref``, ``warn``."""

    def fail(message: str) -> ScriptError:
        return ScriptError(message, ref.pos.file, ref.pos.line, ref.pos.col)

    name = ref.name
    spec = REGISTRY.pseudo_variables.get(name)
    if spec is None:
        raise fail(f"unknown pseudo-variable '${name}'")
    if spec.needs_param and ref.param is None:
        raise fail(f"pseudo-variable '${name}' needs a parameter: ${name}(...)")

    # the parameter: static (prepared now) or dynamic (a PV evaluated per access)
    dynamic: Callable[[Any], Any] | None = None
    param: Any = ref.param
    if isinstance(param, ast.PVRef):
        inner = binder.pv_ref(param)
        prepare = spec.prepare
        if name == "avp":
            def dynamic(ctx: Any) -> Any:
                try:
                    return _avp_dynamic_key(inner.get(ctx))
                except ValueError:
                    return None
        else:
            def dynamic(ctx: Any) -> Any:
                value = inner.get(ctx)
                if prepare is not None:
                    try:
                        return prepare(value)
                    except ValueError:
                        return None
                return value
        param = None
    elif name == "avp":
        try:
            param = avp_key(param, binder.avp_aliases)
        except ValueError as exc:
            raise fail(str(exc)) from None
        if ref.param is not None and ":" not in ref.param and ref.param.lower() not in binder.avp_aliases:
            binder.warn(ref, f"$avp({ref.param}) is not an avp_alias; using it as s:{ref.param} "
                             "(OpenSIPS 1.6 refuses bare AVP names)")
    elif spec.prepare is not None:
        try:
            param = spec.prepare(param)
        except ValueError as exc:
            raise fail(f"bad parameter of '${name}': {exc}") from None

    getter = spec.getter
    index = ref.index
    multi = MULTI.get(name)
    if index is not None and multi is None:
        raise fail(f"pseudo-variable '${name}' cannot be indexed")

    index_get: Callable[[Any], Any] | None = None
    if isinstance(index, ast.PVRef):
        index_pv = binder.pv_ref(index)

        def index_get(ctx: Any) -> Any:
            value = index_pv.get(ctx)
            try:
                return int(value)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                return None

    # build the read function
    if index is None:
        base_getter = getter
    else:
        star_sep = ","

        def base_getter(ctx: Any, p: Any) -> Value:
            idx = index_get(ctx) if index_get is not None else index
            return _index(multi(ctx, p), idx, star_sep)  # type: ignore[misc]

    if dynamic is not None:
        dyn = dynamic

        def get(ctx: Any) -> Value:
            p = dyn(ctx)
            if p is None:
                return None
            try:
                return base_getter(ctx, p)
            except (OpensipsgError, AttributeError):
                return None
    else:
        direct = _DIRECT.get(base_getter) if param is None else None
        get = direct if direct is not None else _safe(base_getter, param)
    if ref.context:
        get = _context_wrap(ref.context, get, ref)
    chain = compile_chain(ref.transforms, binder)
    if chain is not None:
        plain = get

        def get(ctx: Any) -> Value:
            return chain(ctx, plain(ctx))

    pv = PV(name, ref.text or f"${name}", get)
    if chain is not None:
        pv.dual = False
    _bind_writers(pv, ref, spec, param, dynamic, index, index_get)
    return pv


def _bind_writers(pv: PV, ref: ast.PVRef, spec: Any, param: Any, dynamic: Any, index: Any,
                  index_get: Any) -> None:
    if ref.transforms or ref.context:
        return
    name = ref.name

    def key_of(ctx: Any) -> Any:
        return dynamic(ctx) if dynamic is not None else param

    if name == "avp":
        if index is None:
            def set_(ctx: Any, value: Value) -> None:
                key = key_of(ctx)
                if key is None:
                    return
                if value is None:
                    ctx.avps.delete(key, 0)
                else:
                    ctx.avps.add(key, value)

            def replace(ctx: Any, value: Value) -> None:
                key = key_of(ctx)
                if key is None:
                    return
                if value is None:
                    ctx.avps.delete(key, None)
                else:
                    ctx.avps.replace(key, value)

            def update(ctx: Any, value: Value) -> None:
                key = key_of(ctx)
                if key is None:
                    return
                if ctx.avps.get(key) is None:
                    ctx.avps.add(key, value)
                else:
                    ctx.avps.set_index(key, 0, value)
        else:
            def set_(ctx: Any, value: Value) -> None:
                key = key_of(ctx)
                idx = index_get(ctx) if index_get is not None else index
                if key is None or idx is None:
                    return
                if idx == "*":
                    if value is None:
                        ctx.avps.delete(key, None)
                    else:
                        ctx.avps.replace(key, value)
                elif value is None:
                    ctx.avps.delete(key, idx)
                else:
                    ctx.avps.set_index(key, idx, value)
            replace = update = set_
        pv.set, pv.replace, pv.update = set_, replace, update
        pv.writable = True
        return
    if name == "branch" and index is not None:
        field = param or "uri"

        def set_branch(ctx: Any, value: Value) -> None:
            idx = index_get(ctx) if index_get is not None else index
            if idx == "*" or idx is None:
                return
            try:
                branch = ctx.branches[idx]
            except IndexError:
                log.error("%s: no such branch", ref.text)
                return
            set_branch_field(branch, field, value)
        pv.set = pv.replace = pv.update = set_branch
        pv.writable = True
        return
    setter = spec.setter
    if setter is None or index is not None:
        return

    def set_any(ctx: Any, value: Value) -> None:
        p = key_of(ctx)
        try:
            setter(ctx, p, value)
        except (OpensipsgError, ValueError) as exc:
            log.error("cannot assign %r to %s: %s", value, ref.text, exc)
    pv.set = pv.replace = pv.update = set_any
    pv.writable = True
