"""Core script functions of OpenSIPS 1.6 (reference section 2).

``drop``, ``exit``, ``return`` and ``route`` are statements (see compiler.py).
Every function here is ``handler(ctx, *fixed_up_args) -> int`` and registered
with :func:`~opensipsg.registry.core_function`.  What they need from the Core
(``ctx.core``): ``forward(ctx, dest)``, ``send_raw(ctx, dest)``,
``has_listener(proto, ip, port)`` and optionally ``set_debug(level)``.
"""
from __future__ import annotations

import logging
from typing import Any

from ..errors import OpensipsgError
from ..registry import core_function
from ..sip.uri import parse_uri
from . import ast
from .context import Branch
from .pvars import MAX_BRANCHES, parse_q

log = logging.getLogger("opensipsg.script")

NOTICE = 25
logging.addLevelName(NOTICE, "NOTICE")
# OpenSIPS level -> logging level
LEVELS = {-3: logging.CRITICAL, -2: logging.CRITICAL, -1: logging.ERROR, 0: logging.WARNING,
          1: logging.WARNING, 2: NOTICE, 3: logging.INFO, 4: logging.DEBUG}
L_NAMES = {"A": -3, "C": -2, "E": -1, "W": 1, "N": 2, "I": 3, "D": 4}


def log_level(opensips_level: int) -> int:
    if opensips_level <= -3:
        return logging.CRITICAL
    if opensips_level >= 4:
        return logging.DEBUG
    return LEVELS[opensips_level]


# --- helpers ---------------------------------------------------------------------------

def _flag_fixup(args: tuple[ast.Arg, ...], binder: Any) -> tuple[Any, ...]:
    out = []
    for arg in args:
        value = binder.integer(arg, True)
        if not 0 <= value <= 31:
            raise binder.error(arg, f"flag {value} out of range (0..31)")
        out.append(value)
    return tuple(out)


def _bflag_fixup(args: tuple[ast.Arg, ...], binder: Any) -> tuple[Any, ...]:
    if len(args) == 1:
        return (0,) + _flag_fixup(args, binder)
    branch = binder.integer(args[0], True)
    if not 0 <= branch < MAX_BRANCHES:
        raise binder.error(args[0], f"branch index {branch} out of range (0..{MAX_BRANCHES - 1})")
    return (branch,) + _flag_fixup(args[1:], binder)


def parse_socket(text: str) -> tuple[str, str, int]:
    """``[proto:]host[:port]`` -> (proto, host, port); ValueError if malformed."""
    text = text.strip()
    proto = "udp"
    head, sep, rest = text.partition(":")
    if sep and head.lower() in ("udp", "tcp", "tls", "sctp"):
        proto, text = head.lower(), rest
    port = 5060
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"bad socket '{text}'")
        host, tail = text[:end + 1], text[end + 1:]
        if tail:
            if not tail.startswith(":"):
                raise ValueError(f"bad socket '{text}'")
            port = int(tail[1:])
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = int(port_text)
    else:
        host = text
    if not host or not 0 < port < 65536:
        raise ValueError(f"bad socket '{text}'")
    return proto, host, port


def _fmt_text(value: Any, ctx: Any) -> str:
    return value if isinstance(value, str) else value.render(ctx)


# --- logging -----------------------------------------------------------------------------

def _log_fixup(args: tuple[ast.Arg, ...], binder: Any) -> tuple[Any, ...]:
    if len(args) == 1:
        return (4, binder.arg_text(args[0]))
    level = binder.integer(args[0], True)
    return (level, binder.arg_text(args[1]))


@core_function("log", "any", "any", optional=1, fixup=_log_fixup)
def log_(ctx: Any, level: int, text: str) -> int:
    log.log(log_level(level), "%s", text.rstrip("\n"))
    return 1


def _xlog_level(arg: ast.Arg, binder: Any) -> Any:
    if arg.kind == "pv":
        return binder.pv(arg)
    text = binder.arg_text(arg).strip()
    if text.startswith("$"):
        return binder.pv(arg)
    if len(text) >= 3 and text[:2].upper() == "L_" and text[2].upper() in L_NAMES:
        return L_NAMES[text[2].upper()]
    try:
        return int(text)
    except ValueError:
        raise binder.error(arg, f"bad xlog level '{text}' (L_ALERT, L_CRIT, L_ERR, L_WARN, "
                                "L_NOTICE, L_INFO, L_DBG or a pseudo-variable)") from None


def _xlog_fixup(args: tuple[ast.Arg, ...], binder: Any) -> tuple[Any, ...]:
    if len(args) == 1:
        return (-1, binder.format(args[0]))
    return (_xlog_level(args[0], binder), binder.format(args[1]))


@core_function("xlog", "any", "fmt", optional=1, fixup=_xlog_fixup)
def xlog(ctx: Any, level: Any, fmt: Any) -> int:
    if not isinstance(level, int):
        value = level.get(ctx)
        try:
            level = int(value)
        except (TypeError, ValueError):
            level = -1
    pylevel = log_level(level)
    if log.isEnabledFor(pylevel):
        log.log(pylevel, "%s", fmt.render(ctx).rstrip("\n"))
    return 1  # 1.6.3 leaves E_BUG here; the module version (and scripts) expect "true"


@core_function("xdbg", "fmt")
def xdbg(ctx: Any, fmt: Any) -> int:
    if log.isEnabledFor(logging.DEBUG):
        log.debug("%s", fmt.render(ctx).rstrip("\n"))
    return 1


@core_function("error", "any", "any", optional=2)
def error(ctx: Any, *_args: Any) -> int:
    return 1


def _setdebug_fixup(args: tuple[ast.Arg, ...], binder: Any) -> tuple[Any, ...]:
    return (binder.integer(args[0], True),) if args else (None,)


@core_function("setdebug", "int", optional=1, fixup=_setdebug_fixup)
def setdebug(ctx: Any, level: int | None) -> int:
    setter = getattr(ctx.core, "set_debug", None)
    if setter is not None:
        setter(level)
    return 1


# --- flags --------------------------------------------------------------------------------

@core_function("setflag", "int", fixup=_flag_fixup)
def setflag(ctx: Any, flag: int) -> int:
    ctx.flags |= 1 << flag
    return 1


@core_function("resetflag", "int", fixup=_flag_fixup)
def resetflag(ctx: Any, flag: int) -> int:
    ctx.flags &= ~(1 << flag)
    return 1


@core_function("isflagset", "int", fixup=_flag_fixup)
def isflagset(ctx: Any, flag: int) -> int:
    return 1 if ctx.flags & (1 << flag) else -1


def _get_bflags(ctx: Any, branch: int) -> int | None:
    if branch == 0:
        return ctx.bflags
    if branch <= len(ctx.branches):
        return ctx.branches[branch - 1].flags
    return None


def _set_bflags(ctx: Any, branch: int, flags: int) -> bool:
    if branch == 0:
        ctx.bflags = flags
        return True
    if branch <= len(ctx.branches):
        ctx.branches[branch - 1].flags = flags
        return True
    return False


@core_function("setbflag", "int", "int", optional=1, fixup=_bflag_fixup, aliases=("setbranchflag",))
def setbflag(ctx: Any, branch: int, flag: int) -> int:
    flags = _get_bflags(ctx, branch)
    if flags is None:
        return -1
    _set_bflags(ctx, branch, flags | (1 << flag))
    return 1


@core_function("resetbflag", "int", "int", optional=1, fixup=_bflag_fixup,
               aliases=("resetbranchflag",))
def resetbflag(ctx: Any, branch: int, flag: int) -> int:
    flags = _get_bflags(ctx, branch)
    if flags is None:
        return -1
    _set_bflags(ctx, branch, flags & ~(1 << flag))
    return 1


@core_function("isbflagset", "int", "int", optional=1, fixup=_bflag_fixup,
               aliases=("isbranchflagset",))
def isbflagset(ctx: Any, branch: int, flag: int) -> int:
    flags = _get_bflags(ctx, branch)
    return 1 if flags is not None and flags & (1 << flag) else -1


@core_function("setsflag", "int", fixup=_flag_fixup, aliases=("setscriptflag",))
def setsflag(ctx: Any, flag: int) -> int:
    ctx.sflags |= 1 << flag
    return 1


@core_function("resetsflag", "int", fixup=_flag_fixup, aliases=("resetscriptflag",))
def resetsflag(ctx: Any, flag: int) -> int:
    ctx.sflags &= ~(1 << flag)
    return 1


@core_function("issflagset", "int", fixup=_flag_fixup, aliases=("isscriptflagset",))
def issflagset(ctx: Any, flag: int) -> int:
    return 1 if ctx.sflags & (1 << flag) else -1


# --- R-URI rewriting ------------------------------------------------------------------------

def _uri_fixup(args: tuple[ast.Arg, ...], binder: Any) -> tuple[Any, ...]:
    text = binder.arg_text(args[0])
    try:
        parse_uri(text)
    except OpensipsgError as exc:
        raise binder.error(args[0], f"bad URI '{text}': {exc}") from None
    return (text,)


@core_function("seturi", "str", fixup=_uri_fixup, aliases=("rewriteuri",))
def seturi(ctx: Any, uri: str) -> int:
    ctx.new_uri = uri
    return 1


def _rewrite(ctx: Any, **changes: Any) -> int:
    uri = ctx.parsed_ruri()
    ctx.new_uri = str(uri.replace(**changes))
    return 1


@core_function("sethost", "str", aliases=("rewritehost", "seth"))
def sethost(ctx: Any, host: str) -> int:
    return _rewrite(ctx, host=host)


def _hostport_fixup(args: tuple[ast.Arg, ...], binder: Any) -> tuple[Any, ...]:
    text = binder.arg_text(args[0]).strip()
    try:
        _, host, port = parse_socket(text)
    except ValueError as exc:
        raise binder.error(args[0], f"bad host:port '{text}': {exc}") from None
    has_port = ("]:" in text) if text.startswith("[") else (":" in text)
    return (host, port if has_port else None)


@core_function("sethostport", "str", fixup=_hostport_fixup, aliases=("rewritehostport", "sethp"))
def sethostport(ctx: Any, host: str, port: int | None) -> int:
    return _rewrite(ctx, host=host, port=port)


@core_function("setuser", "str", aliases=("rewriteuser", "setu"))
def setuser(ctx: Any, user: str) -> int:
    return _rewrite(ctx, user=user or None)


@core_function("setuserpass", "str", aliases=("rewriteuserpass", "setup"))
def setuserpass(ctx: Any, password: str) -> int:
    return _rewrite(ctx, password=password or None)


def _port_fixup(args: tuple[ast.Arg, ...], binder: Any) -> tuple[Any, ...]:
    text = binder.arg_text(args[0]).strip()
    if text == "":
        return (None,)
    port = binder.integer(args[0], True)
    if not 0 < port < 65536:
        raise binder.error(args[0], f"bad port {port}")
    return (port,)


@core_function("setport", "str", fixup=_port_fixup, aliases=("rewriteport", "setp"))
def setport(ctx: Any, port: int | None) -> int:
    return _rewrite(ctx, port=port)


@core_function("prefix", "str")
def prefix(ctx: Any, text: str) -> int:
    uri = ctx.parsed_ruri()
    return _rewrite(ctx, user=text + (uri.user or ""))


def _count_fixup(args: tuple[ast.Arg, ...], binder: Any) -> tuple[Any, ...]:
    n = binder.integer(args[0], True)
    if n < 0:
        raise binder.error(args[0], "a non-negative number is expected")
    return (n,)


@core_function("strip", "int", fixup=_count_fixup)
def strip(ctx: Any, n: int) -> int:
    uri = ctx.parsed_ruri()
    user = uri.user or ""
    if n > len(user):
        log.error("strip(%d): user part '%s' is shorter", n, user)
        return -1
    return _rewrite(ctx, user=user[n:] or None)


@core_function("strip_tail", "int", fixup=_count_fixup)
def strip_tail(ctx: Any, n: int) -> int:
    uri = ctx.parsed_ruri()
    user = uri.user or ""
    if n > len(user):
        log.error("strip_tail(%d): user part '%s' is shorter", n, user)
        return -1
    return _rewrite(ctx, user=user[:len(user) - n] or None)


@core_function("revert_uri")
def revert_uri(ctx: Any) -> int:
    ctx.new_uri = None
    return 1


@core_function("setdsturi", "str", fixup=_uri_fixup, aliases=("setduri",))
def setdsturi(ctx: Any, uri: str) -> int:
    ctx.dst_uri = uri
    return 1


@core_function("resetdsturi", aliases=("resetduri",))
def resetdsturi(ctx: Any) -> int:
    ctx.dst_uri = None
    return 1


@core_function("isdsturiset", aliases=("isduriset",))
def isdsturiset(ctx: Any) -> int:
    return 1 if ctx.dst_uri else -1


# --- branches ------------------------------------------------------------------------------

def _append_fixup(args: tuple[ast.Arg, ...], binder: Any) -> tuple[Any, ...]:
    if not args:
        return (None, None)
    uri = binder.format(args[0])
    q: Any = None
    if len(args) > 1:
        text = binder.arg_text(args[1])
        try:
            q = parse_q(text)
        except ValueError:
            raise binder.error(args[1], f"bad q value '{text}'") from None
        if not 0 <= q <= 1000:
            raise binder.error(args[1], f"q value '{text}' out of range (0..1)")
    return (uri, q)


@core_function("append_branch", "fmt", "str", optional=2, fixup=_append_fixup)
def append_branch(ctx: Any, uri: Any, q: int | None) -> int:
    if len(ctx.branches) + 1 >= MAX_BRANCHES:
        log.error("append_branch: too many branches (max %d)", MAX_BRANCHES)
        return -1
    if uri is None:
        ctx.branches.append(ctx.branch0())
        ctx.reset_branch0()
        return 1
    text = uri.render(ctx)
    if not text:
        return -1
    ctx.branches.append(Branch(text, ctx.dst_uri, ctx.path, ctx.q if q is None else q,
                               ctx.bflags, ctx.force_socket))
    return 1


def _printf_fixup(args: tuple[ast.Arg, ...], binder: Any) -> tuple[Any, ...]:
    pv = binder.pv(args[0])
    if not pv.writable:
        raise binder.error(args[0], f"{pv.text} is not writable")
    return (pv, binder.format(args[1]))


@core_function("pv_printf", "pv", "fmt", fixup=_printf_fixup, aliases=("avp_printf",))
def pv_printf(ctx: Any, pv: Any, fmt: Any) -> int:
    pv.replace(ctx, fmt.render(ctx)) if pv.name == "avp" else pv.set(ctx, fmt.render(ctx))
    return 1


_SERIAL_KEY = ("s", "__serial_branches")
_SEP = "\x1f"


@core_function("serialize_branches", "int", fixup=lambda a, b: (b.integer(a[0], True),))
def serialize_branches(ctx: Any, clear: int) -> int:
    branches = [ctx.branch0()] + list(ctx.branches)
    branches = [b for b in branches if b.uri]
    if len(branches) < 2:
        return 1
    qs = {max(b.q, 0) if b.q >= 0 else 1000 for b in branches}
    if len(qs) == 1:
        return 1  # all with the same q: they stay parallel
    ordered = sorted(branches, key=lambda b: -(b.q if b.q >= 0 else 1000))
    ctx.avps.delete(_SERIAL_KEY, None)
    for b in reversed(ordered):  # newest first: the highest q ends on top
        q = b.q if b.q >= 0 else 1000
        ctx.avps.add(_SERIAL_KEY, _SEP.join((str(q), b.uri, b.dst_uri or "", b.path or "",
                                            str(b.flags), str(b.socket or ""))))
    if clear:
        ctx.branches.clear()
    return 1


@core_function("next_branches")
def next_branches(ctx: Any) -> int:
    values = ctx.avps.get_all(_SERIAL_KEY)
    if not values:
        return -1
    first_q = str(values[0]).split(_SEP, 1)[0]
    batch = []
    while values and str(values[0]).split(_SEP, 1)[0] == first_q:
        batch.append(str(values.pop(0)).split(_SEP))
        ctx.avps.delete(_SERIAL_KEY, 0)
    from ..registry import RouteType
    start = 0
    if ctx.route_type & RouteType.REQUEST:
        q, uri, duri, path, flags, sock = batch[0]
        ctx.new_uri = uri
        ctx.dst_uri = duri or None
        ctx.path = path or None
        ctx.q = int(q)
        ctx.bflags = int(flags)
        ctx.force_socket = sock or None
        start = 1
    for q, uri, duri, path, flags, sock in batch[start:]:
        if len(ctx.branches) + 1 >= MAX_BRANCHES:
            log.error("next_branches: too many branches")
            break
        ctx.branches.append(Branch(uri, duri or None, path or None, int(q), int(flags), sock or None))
    return 1 if values else 2


# --- sending / sockets ------------------------------------------------------------------------

@core_function("force_rport", aliases=("add_rport",))
def force_rport(ctx: Any) -> int:
    """Act as if the top Via had ``;rport``: replies go to the source address and port
    (what 1.6 does to answer NATed phones), for stateless and stateful replies alike."""
    request = ctx.request
    if request is None or not ctx.src_ip:
        return -1
    request.update_via1({"rport": str(ctx.src_port), "received": ctx.src_ip})
    return 1


@core_function("force_local_rport", aliases=("add_local_rport",))
def force_local_rport(ctx: Any) -> int:
    ctx.extra["force_local_rport"] = True
    return 1


def _opt_port_fixup(args: tuple[ast.Arg, ...], binder: Any) -> tuple[Any, ...]:
    return (binder.integer(args[0], True),) if args else (None,)


@core_function("force_tcp_alias", "int", optional=1, fixup=_opt_port_fixup,
               aliases=("add_tcp_alias",))
def force_tcp_alias(ctx: Any, port: int | None) -> int:
    ctx.extra["tcp_alias"] = port if port is not None else ctx.src_port
    return 1


@core_function("set_advertised_address", "str")
def set_advertised_address(ctx: Any, address: str) -> int:
    ctx.extra["advertised_address"] = address
    return 1


@core_function("set_advertised_port", "int")
def set_advertised_port(ctx: Any, port: int) -> int:
    ctx.extra["advertised_port"] = port
    return 1


def _socket_fixup(args: tuple[ast.Arg, ...], binder: Any) -> tuple[Any, ...]:
    text = binder.arg_text(args[0])
    try:
        return (parse_socket(text),)
    except ValueError:
        raise binder.error(args[0], f"bad socket '{text}' (expected [proto:]address[:port])") from None


@core_function("force_send_socket", "any", fixup=_socket_fixup)
def force_send_socket(ctx: Any, sock: tuple[str, str, int]) -> int:
    proto, host, port = sock
    has = getattr(ctx.core, "has_listener", None)
    if has is not None and not has(proto, host, port):
        log.error("force_send_socket: %s:%s:%d is not a listening socket", proto, host, port)
        return -1
    ctx.force_socket = f"{proto}:{host}:{port}"
    return 1


def _dest_fixup(args: tuple[ast.Arg, ...], binder: Any) -> tuple[Any, ...]:
    if not args:
        return (None,)
    fmt = binder.format(args[0])
    if fmt.static is not None:
        try:
            parse_socket(fmt.static)
        except ValueError:
            raise binder.error(args[0], f"bad destination '{fmt.static}' "
                                        "(expected [proto:]host[:port])") from None
        return (fmt.static,)
    return (fmt,)


@core_function("forward", "fmt", optional=1, fixup=_dest_fixup)
def forward(ctx: Any, dest: Any) -> int:
    return ctx.core.forward(ctx, None if dest is None else _fmt_text(dest, ctx))


@core_function("send", "fmt", fixup=_dest_fixup)
def send(ctx: Any, dest: Any) -> int:
    return ctx.core.send_raw(ctx, _fmt_text(dest, ctx))


@core_function("use_blacklist", "str")
def use_blacklist(ctx: Any, name: str) -> int:
    ctx.extra.setdefault("blacklists", set()).add(name)
    return 1


@core_function("unuse_blacklist", "str")
def unuse_blacklist(ctx: Any, name: str) -> int:
    ctx.extra.setdefault("blacklists", set()).discard(name)
    return 1
