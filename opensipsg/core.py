"""The Core: owns the configuration, the loaded modules and compiled script, the
listeners, the transaction layer and the statistics, and routes every message
that arrives through the script.

Building a Core (``Core.load``) touches no socket: ``opensipsg -c`` uses it to
check a configuration. ``start()`` binds the listeners and starts the modules.
"""
from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from . import SERVER_NAME, __version__
from .errors import ConfigError, OpensipsgError, ParseError, ScriptError
from .registry import RouteType
from .script.ast import Config
from .script.compiler import RouteEnd
from .script.context import RouteContext
from .sip.builder import build_reply, build_reply_bytes, make_branch, make_tag
from .sip.message import Request, Response, SipMessage, parse
from .sip.uri import parse_uri
from .statistics import Statistics

log = logging.getLogger("opensipsg.core")

DEFAULT_PORT = 5060
RESOLVED_KEPT = 4096  # next hops whose resolve() answer is kept (then the table starts again)


@dataclass(frozen=True, slots=True)
class Listener:
    """One socket we listen on, and the address we advertise for it."""

    proto: str  # "udp" | "tcp"
    host: str
    port: int
    advertised_host: str
    advertised_port: int
    # "proto:host:port", the transports' key: computed once, read on every send
    name: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", f"{self.proto}:{self.host}:{self.port}")


class Destination(NamedTuple):
    """Where a message goes. A named tuple, not a frozen dataclass: a frozen __init__ sets each
    field through object.__setattr__ (~5,500 instructions a Destination, three per call)."""

    proto: str
    ip: str
    port: int


# builds a Destination from a (proto, ip, port) tuple without the Python __new__ frame
_new_destination = tuple.__new__


def parse_listen(text: str, default_port: int) -> list[tuple[str, str, int, str | None, int | None]]:
    """``[proto:]host[:port] [as host[:port]]`` -> [(proto, host, port, adv_host, adv_port)].

    Without a protocol the address is used for both UDP and TCP, as OpenSIPS does.
    """
    text = str(text).strip()
    main, _, advertised = text.partition(" as ")
    adv_host: str | None = None
    adv_port: int | None = None
    if advertised.strip():
        adv_host, _, adv_port_text = advertised.strip().rpartition(":")
        if not adv_host or not adv_port_text.isdigit():
            adv_host, adv_port = advertised.strip(), None
        else:
            adv_port = int(adv_port_text)
    proto = ""
    lowered = main.strip().lower()
    for candidate in ("udp:", "tcp:", "tls:", "sctp:"):
        if lowered.startswith(candidate):
            proto = candidate[:-1]
            main = main.strip()[len(candidate):]
            break
    main = main.strip()
    if main.startswith("["):
        end = main.find("]")
        host, rest = main[: end + 1], main[end + 1 :]
        port = int(rest[1:]) if rest.startswith(":") else default_port
    elif main.count(":") == 1:
        host, port_text = main.split(":")
        if not port_text.isdigit():
            raise ConfigError(f"bad listen port in {text!r}")
        port = int(port_text)
    else:
        host, port = main, default_port
    if proto in ("tls", "sctp"):
        raise ConfigError(f"listen: {proto} is not supported ({text!r})")
    protos = [proto] if proto else ["udp", "tcp"]
    return [(p, host, port, adv_host, adv_port) for p in protos]


class CoreParams:
    """The core global parameters we use, with 1.6 defaults."""

    def __init__(self, config: Config) -> None:
        def last(name: str, default: Any) -> Any:
            values = config.global_values(name)
            return values[-1] if values else default

        self.debug = int(last("debug", 2))
        self.fork = bool(last("fork", 1))
        self.log_stderror = bool(last("log_stderror", 0))
        self.log_facility = str(last("log_facility", "LOG_DAEMON"))
        self.log_name = str(last("log_name", SERVER_NAME))
        self.port = int(last("port", DEFAULT_PORT))
        self.children = int(last("children", 8))
        self.disable_tcp = bool(last("disable_tcp", 0))
        self.listen = [str(v) for v in config.global_values("listen")]
        self.alias = [str(v) for v in config.global_values("alias")]
        self.server_signature = bool(last("server_signature", 1))
        self.server_header = str(last("server_header", f"Server: {SERVER_NAME} ({__version__})"))
        self.user_agent_header = str(last("user_agent_header", f"User-Agent: {SERVER_NAME} ({__version__})"))
        self.advertised_address = last("advertised_address", None)
        self.advertised_port = last("advertised_port", None)
        self.tcp_connection_lifetime = int(last("tcp_connection_lifetime", 120))
        self.tcp_connect_timeout = int(last("tcp_connect_timeout", 10))
        self.tcp_send_timeout = int(last("tcp_send_timeout", 10))
        self.user = last("user", None) or last("uid", None)
        self.group = last("group", None) or last("gid", None)
        self.max_while_loops = int(last("max_while_loops", 100))


class Core:
    """See module docstring."""

    def __init__(self, config: Config, extra_listen: list[str] | None = None) -> None:
        from .script.compiler import compile_script
        from .script.loader import load_modules
        from .tm import TransactionLayer

        self.config = config
        self.params = CoreParams(config)
        self.stats = Statistics()
        for name in (
            "rcv_requests", "rcv_replies", "fwd_requests", "fwd_replies", "drop_requests",
            "drop_replies", "err_requests", "err_replies", "bad_URIs_rcvd",
            "unsupported_methods", "bad_msg_hdr",
        ):
            self.stats.register(name)
        self.script_vars: dict[str, Any] = {}
        self._databases: dict[str, Any] = {}
        # set once the script relays a request with forward(): replies that match no
        # transaction are then relayed statelessly too (1.6's disable_stateless_fwd=auto)
        self.stateless_forwarding = False
        self.start_time = time.time()
        self.listeners = self._make_listeners(extra_listen or [])
        self._myself_hosts = self._local_names()
        self._resolved: dict[str, Destination] = {}  # resolve()'s answers for IP-literal next hops
        self.transports: dict[str, Any] = {}  # listener name -> transport
        self.sl_tag = make_tag("sl", str(self.start_time))
        self.tm = TransactionLayer(self)
        self.modules = load_modules(config, self)
        self.script = compile_script(config, self, self.modules)
        for module in self.modules.values():
            try:
                module.init()
            except (ConfigError, ScriptError):
                raise
            except (ValueError, LookupError, OSError, OpensipsgError) as exc:
                raise ConfigError(f"module {module.name}: {exc}") from None
        self.running = False

    @classmethod
    def load(cls, path: str, extra_listen: list[str] | None = None) -> "Core":
        from .script.parser import load_config

        return cls(load_config(path), extra_listen)

    # -- listeners and "myself" ----------------------------------------------
    def _make_listeners(self, extra: list[str]) -> list[Listener]:
        specs = list(self.params.listen) + list(extra)
        if not specs:
            specs = ["0.0.0.0"]
        listeners: list[Listener] = []
        for spec in specs:
            for proto, host, port, adv_host, adv_port in parse_listen(spec, self.params.port):
                if proto == "tcp" and self.params.disable_tcp:
                    continue
                advertised = adv_host or self.params.advertised_address or host
                if advertised in ("0.0.0.0", "::"):
                    advertised = _primary_address()
                listener = Listener(
                    proto, host, port, str(advertised),
                    int(adv_port or self.params.advertised_port or port),
                )
                if listener not in listeners:
                    listeners.append(listener)
        return listeners

    def _local_names(self) -> set[tuple[str, int | None]]:
        names: set[tuple[str, int | None]] = set()
        for listener in self.listeners:
            hosts = {listener.host, listener.advertised_host}
            if listener.host in ("0.0.0.0", "::"):
                hosts |= {"127.0.0.1", _primary_address(), socket.gethostname()}
            for host in hosts:
                names.add((host.lower(), listener.port))
                names.add((host.lower(), listener.advertised_port))
        for alias in self.params.alias:
            alias = alias.strip()
            if alias.count(":") == 1:
                host, port = alias.split(":")
                names.add((host.lower(), int(port)))
            else:
                names.add((alias.lower(), None))
        return names

    def is_myself(self, host: str, port: int | None) -> bool:
        """Whether host[:port] names this server (a listen address or an alias)."""
        host = host.lower()
        names = self._myself_hosts
        if (host, None) in names:
            return True
        if port is None or port == 0:
            port = DEFAULT_PORT
        return (host, port) in names

    def has_listener(self, proto: str, host: str, port: int) -> bool:
        return any(
            l.proto == proto.lower() and l.host == host and l.port == port for l in self.listeners
        )

    def local_address(self, ctx: RouteContext) -> tuple[str, int, str]:
        listener = ctx.listener or self.listeners[0]
        host = ctx.extra.get("advertised_address") or listener.advertised_host
        port = ctx.extra.get("advertised_port") or listener.advertised_port
        return str(host), int(port), listener.proto

    def listener_for(self, proto: str, preferred: Listener | None = None) -> Listener | None:
        if preferred is not None and preferred.proto == proto:
            return preferred
        for listener in self.listeners:
            if listener.proto == proto:
                return listener
        return None

    # -- start / stop ---------------------------------------------------------
    def bind(self) -> None:
        """Open every listening socket (before dropping privileges)."""
        from .transport.tcp import TCPTransport
        from .transport.udp import UDPTransport

        for listener in self.listeners:
            try:
                if listener.proto == "udp":
                    transport: Any = UDPTransport(listener, self.receive)
                else:
                    transport = TCPTransport(
                        listener, self.receive,
                        lifetime=self.params.tcp_connection_lifetime,
                        connect_timeout=self.params.tcp_connect_timeout,
                        send_timeout=self.params.tcp_send_timeout,
                    )
            except OSError as exc:
                raise ConfigError(f"cannot listen on {listener.name}: {exc.strerror or exc}") from None
            self.transports[listener.name] = transport

    def start(self) -> None:
        import gevent

        if not self.transports:
            self.bind()
        for module in self.modules.values():
            module.start()
        if self.script.has("startup", "0"):
            ctx = RouteContext(self, None, RouteType.STARTUP)
            self.script.run("startup", "0", ctx)
        for name, interval in self.script.timer_routes:
            gevent.spawn(self._timer_route, name, interval).link_exception(_log_crash)
        for transport in self.transports.values():
            transport.start()
        self.running = True
        log.info("listening on %s", ", ".join(l.name for l in self.listeners))

    def _timer_route(self, name: str, interval: int) -> None:
        import gevent

        while True:
            gevent.sleep(interval)
            ctx = RouteContext(self, None, RouteType.TIMER)
            try:
                self.script.run("timer", name, ctx)
            except Exception:
                log.exception("timer_route[%s] failed", name)

    def stop(self) -> None:
        self.running = False
        for transport in self.transports.values():
            transport.stop()
        for module in self.modules.values():
            try:
                module.stop()
            except Exception:
                log.exception("module %s failed to stop", module.name)
        self.tm.stop()

    # -- receiving ------------------------------------------------------------
    def receive(self, data: bytes, src_ip: str, src_port: int, listener: Listener, conn: Any) -> None:
        """Entry point of every message (runs in a greenlet of its own)."""
        try:
            if data[:1] in _BLANK and not data.strip(_BLANK):
                return  # keep-alive (a message starts with a letter: strip() copies it all)
            try:
                msg = parse(data, conn is not None)  # (stream: positional, cheaper than a keyword)
            except ParseError as exc:
                self._bad_message(data, exc, src_ip, src_port, listener, conn)
                return
            if msg.is_request:
                self.stats.counts["core:rcv_requests"] += 1  # (a defaultdict: no inc() frame)
                self._handle_request(msg, src_ip, src_port, listener, conn)  # type: ignore[arg-type]
            else:
                self.stats.counts["core:rcv_replies"] += 1
                self.tm.handle_reply(msg, src_ip, src_port, listener, conn)  # type: ignore[arg-type]
        except Exception:
            log.exception("internal error while handling a message from %s:%d", src_ip, src_port)

    def _bad_message(
        self, data: bytes, exc: ParseError, src_ip: str, src_port: int, listener: Listener, conn: Any
    ) -> None:
        self.stats.inc("core:bad_msg_hdr")
        if data.startswith(b"SIP/"):
            self.stats.inc("core:err_replies")
            log.debug("dropping bad reply from %s:%d: %s", src_ip, src_port, exc.reason)
            return
        self.stats.inc("core:err_requests")
        log.info("bad request from %s:%d: %s", src_ip, src_port, exc.reason)
        reply = _error_reply_for_garbage(data, exc)
        if reply is not None:
            self.send_to(Destination(listener.proto, src_ip, src_port), reply, listener, conn)

    def _handle_request(
        self, msg: Request, src_ip: str, src_port: int, listener: Listener, conn: Any
    ) -> None:
        _note_received(msg, src_ip, src_port)
        if msg.method == "ACK" and self._is_sl_ack(msg):
            self.stats.inc("sl:received_ACKs")
            return  # ACK for a stateless negative reply of ours: absorbed (sl)
        # positional (src_ip, src_port, proto, local_ip, local_port, listener, transaction,
        # request): cheaper per request
        ctx = RouteContext(self, msg, RouteType.REQUEST, src_ip, src_port, listener.proto,
                           listener.host, listener.port, listener, None, msg)
        if conn is not None:  # (a stream's connection; its readers get() it: UDP needs no entry)
            ctx.extra["conn"] = conn
        # the main route called directly on the fresh context (what script.run("request",
        # "0", ctx) does, without its frame and lookups)
        try:
            self.script.request_route(ctx)
        except RouteEnd:
            pass
        tx = ctx.transaction
        if tx is not None and not tx.final_status and not tx.branches and not tx.done:
            # a transaction the script created but neither relayed nor answered: 1.6's tm
            # kills it with this reply, so it does not stay in memory for ever
            self.tm.reply(ctx, 500, "I'm terribly sorry, server error occurred (1/TM)")

    def _is_sl_ack(self, msg: Request) -> bool:
        try:
            tag = msg.to.tag
        except ParseError:
            return False
        # the prefix first: the ACK of a relayed 2xx carries the callee's tag (no crc32 for it)
        return tag is not None and tag.startswith(self.sl_tag) and tag == self._sl_to_tag(msg)

    # -- replying -------------------------------------------------------------
    def _sl_to_tag(self, request: Request) -> str:
        """The To-tag of our stateless replies: the same for a request and its ACK
        (same Call-ID and From), so the ACK can be absorbed without parsing From."""
        # hash() of the two values, in decimal: no joined key, encode, crc32 or hex format per
        # stateless reply; str hashes are salted per process, as sl_tag is (it holds the start time)
        return f"{self.sl_tag}-{hash((request.get('call-id'), request.get('from'))) & 0xFFFFFFFF}"

    def make_reply(
        self, ctx: RouteContext, status: int, reason: str, headers: list[str] | tuple[str, ...] = (),
        body: bytes = b"", to_tag: str | None = None,
    ) -> Response:
        request = ctx.request
        lines = self._reply_lines(ctx, headers)
        return build_reply(request, status, reason, to_tag or self._sl_to_tag(request), lines, body)

    def _reply_lines(self, ctx: RouteContext, headers: list[str] | tuple[str, ...]) -> list[str]:
        """The extra lines of a reply: append_to_reply()'s, the caller's, Server."""
        lines = [*ctx.extra.get("reply_headers", ()), *headers]
        if self.params.server_signature:
            lines.append(self.params.server_header)
        return lines

    def sl_send_reply(
        self, ctx: RouteContext, status: int, reason: str, headers: list[str] | tuple[str, ...] = (),
        body: bytes = b"",
    ) -> int:
        """A stateless reply to the request being routed."""
        return self.send_reply(ctx, status, reason, headers, body, stateless=True)

    def send_reply(
        self, ctx: RouteContext, status: int, reason: str, headers: list[str] | tuple[str, ...] = (),
        body: bytes = b"", stateless: bool = False, own_lines: bool = False,
    ) -> int:
        """signaling's send_reply: stateful when a transaction exists, else stateless
        (sl_send_reply; written here, not called: every REGISTER's reply comes this way).
        ``own_lines``: the caller wrote ``headers`` itself, each a good header line and
        not a Content-Length (a stateless reply does not check them again)."""
        if not stateless and ctx.transaction is not None:
            return self.tm.reply(ctx, status, reason, headers, body)
        request = ctx.request
        if request is None or request.method == "ACK":
            return -1
        # the extra lines as _reply_lines() gives them, the Server line passed on its own
        extra = ctx.extra
        appended = extra.get("reply_headers")
        params = self.params
        to_tag = self._sl_to_tag(request)  # (one place derives it: the ACK absorption compares with it)
        if own_lines:
            checked, own = appended or (), headers
        else:
            checked, own = [*appended, *headers] if appended else headers, ()
        # the bytes of make_reply(...).to_bytes(), without building the Response
        data = build_reply_bytes(request, status, reason, to_tag, checked, body,
                                 params.server_header if params.server_signature else None, own)
        ctx.reply_code = status
        dest = _new_destination(Destination, _reply_address(request, ctx.proto, ctx.src_ip, ctx.src_port))
        ok = self.send_to(dest, data, ctx.listener, extra.get("conn"))
        counts = self.stats.counts  # (a defaultdict: no inc() call per counter)
        counts["sl:sent_replies"] += 1
        if status >= 300:
            counts["sl:sent_err_replies"] += 1
        counts[_SL_CLASS_STATS[status // 100]] += 1
        return 1 if ok else -1

    def reply_destination(self, request: Request, proto: str, src_ip: str, src_port: int) -> Destination:
        """Where a reply to ``request`` goes (RFC 3261 18.2.2, RFC 3581)."""
        return _new_destination(Destination, _reply_address(request, proto, src_ip, src_port))

    # -- sending ----------------------------------------------------------------
    def send_to(self, dest: Destination, data: bytes, listener: Listener | None = None, conn: Any = None) -> bool:
        proto = dest.proto
        # UDP on the given listener (most of a call's sends) without _send's frame
        if proto == "udp" and listener is not None and listener.proto == "udp":
            transport = self.transports.get(listener.name)
            if transport is not None:
                return transport.send(data, dest.ip, dest.port)
        return self._send(proto, dest.ip, dest.port, data, listener, conn)

    def _send(self, proto: str, ip: str, port: int, data: bytes, listener: Listener | None, conn: Any) -> bool:
        """send_to() without a Destination (stateless replies skip building one)."""
        if listener is None or listener.proto != proto:
            listener = self.listener_for(proto, listener)
            if listener is None:
                log.error("send failed: no %s listener for %s:%d", proto, ip, port)
                return False
        transport = self.transports.get(listener.name)
        if transport is None:
            log.error("send failed: %s is not bound", listener.name)
            return False
        if proto == "tcp" and conn is not None and getattr(conn, "closed", True) is False \
                and conn.peer == (ip, port):
            return conn.send(data)
        return transport.send(data, ip, port)

    def resolve(self, uri_text: str) -> Destination:
        """Next-hop address for a URI: host (IP or name), port, transport. ParseError if unusable."""
        # a call resolves the same contact for its INVITE, ACK and BYE; only addresses
        # given as IP literals are kept (a name is looked up each time: DNS may change)
        destination = self._resolved.get(uri_text)
        if destination is not None:
            return destination
        uri = parse_uri(uri_text)
        if uri.scheme == "tel":
            raise ParseError("cannot route a tel: URI", 416)
        proto = (uri.transport or "udp").lower()
        if proto not in ("udp", "tcp"):
            raise ParseError(f"unsupported transport {proto}", 400)
        maddr = uri.param("maddr")
        host = (maddr or uri.host).strip("[]")
        port = uri.port or (5061 if uri.scheme == "sips" else DEFAULT_PORT)
        if not _is_ip_literal(host):
            return Destination(proto, _resolve_host(host), port)
        destination = Destination(proto, host, port)
        if len(self._resolved) >= RESOLVED_KEPT:
            self._resolved.clear()
        self._resolved[uri_text] = destination
        return destination

    def outgoing_via(self, listener: Listener, branch: str, ctx: RouteContext | None = None) -> str:
        host = listener.advertised_host
        port = listener.advertised_port
        rport = False
        if ctx is not None:
            # 'in' tests, not get() calls: three per relayed request, the keys seldom set
            extra = ctx.extra
            if "advertised_address" in extra:
                host = extra["advertised_address"] or host
            if "advertised_port" in extra:
                port = extra["advertised_port"] or port
            rport = "force_local_rport" in extra and extra["force_local_rport"]
        via = f"SIP/2.0/{listener.proto.upper()} {host}:{port};branch={branch}"
        if rport:
            via += ";rport"
        return via

    def forward(self, ctx: RouteContext, dest: str | None = None, script: bool = True) -> int:
        """Core forward(): stateless relay of a request (to ``dest``, $du or the R-URI).

        ``script`` is False when tm relays an ACK or a stray CANCEL this way: only the
        script's own use of forward() turns on stateless relaying of replies."""
        request = ctx.request
        if request is None:
            return -1
        ruri = ctx.ruri
        target = dest or ctx.dst_uri or ruri
        try:
            if dest and not dest.lower().startswith(("sip:", "sips:")):
                target = f"sip:{dest}"
            destination = self.resolve(target)
        except ParseError as exc:
            log.error("forward failed: %s: %s", target, exc.reason)
            return -4
        proto = destination.proto
        listener = ctx.listener
        if listener is None or listener.proto != proto:  # (listener_for's first test inline)
            listener = self.listener_for(proto, listener)
            if listener is None:
                return -1
        seed = request.via1.branch or request.call_id
        cseq = request.cseq  # (its text as str(cseq) gives it, without the __str__ frame)
        via = self.outgoing_via(listener, make_branch("fwd", seed, f"{cseq.number} {cseq.method}"), ctx)
        # the request's bytes with our Via on top and the R-URI of the route; no copy of it is kept
        data = request.to_bytes_with(ruri, f"Via: {via}")
        if not self._send(proto, destination.ip, destination.port, data, listener, None):
            return -6
        if script:
            self.stateless_forwarding = True
        self.stats.counts["core:fwd_requests"] += 1
        return 1

    def send_raw(self, ctx: RouteContext, dest: str) -> int:
        """Core send(): the request as received, unmodified, to ``dest``."""
        request = ctx.request
        if request is None:
            return -1
        target = dest if dest.lower().startswith(("sip:", "sips:")) else f"sip:{dest}"
        try:
            destination = self.resolve(target)
        except ParseError:
            return -4
        return 1 if self.send_to(destination, request.to_bytes(), ctx.listener) else -6

    def relay_reply_statelessly(self, reply: Response, listener: Listener) -> bool:
        """Forward a reply that matches no transaction, by its second Via (RFC 3261 16.11)."""
        vias = reply.vias
        if len(vias) < 2:
            return False
        out = reply.copy()
        out.remove_first_value("via")
        via = vias[1]
        host = (via.received or via.host).strip("[]")
        port = int(via.rport) if via.rport else (via.port or DEFAULT_PORT)
        proto = via.transport.lower()
        ok = self.send_to(Destination(proto if proto in ("udp", "tcp") else "udp", host, port), out.to_bytes(), listener)
        if ok:
            self.stats.inc("core:fwd_replies")
        return ok

    def is_our_via(self, message: SipMessage) -> bool:
        try:
            via = message.via1
        except ParseError:
            return False
        # is_myself(host, port) inline: tm asks this for every reply
        host = via.host.strip("[]").lower()
        names = self._myself_hosts
        return (host, None) in names or (host, via.port or DEFAULT_PORT) in names

    def database(self, url: str) -> Any:
        """The shared connection for a db_url (opened lazily by the backend on first use)."""
        db = self._databases.get(url)
        if db is None:
            from .db import connect

            db = self._databases[url] = connect(url)
        return db

    def module(self, name: str) -> Any:
        """A loaded module instance by its 1.6 name, or None."""
        return self.modules.get(name)

    def uptime(self) -> float:
        return time.time() - self.start_time


def _reply_address(request: Request, proto: str, src_ip: str, src_port: int) -> tuple[str, str, int]:
    """(proto, ip, port) a reply to ``request`` goes to (RFC 3261 18.2.2, RFC 3581)."""
    via = request.via1
    if proto == "tcp":
        return "tcp", src_ip, src_port
    # the first received and rport params in one pass (via.received/via.rport: two
    # property and two _param frames per reply); a value-less param counts as absent
    received = rport = None
    for key, value in via.params:
        low = key.lower()
        if low == "received":
            if received is None:
                received = value or ""
        elif low == "rport" and rport is None:
            rport = value or ""
    return "udp", (received or via.host).strip("[]"), int(rport) if rport else via.port or DEFAULT_PORT


_BLANK = b"\r\n \t\x00"

# sl's per-class reply counters, by status // 100
_SL_CLASS_STATS = {n: f"sl:{n}xx_replies" for n in range(1, 7)}


def _note_received(msg: Request, src_ip: str, src_port: int) -> None:
    """RFC 3261 18.2.1 ``received`` and RFC 3581 ``rport`` on the top Via."""
    via = msg.via1
    changes: dict[str, str | None] = {}
    if via.host.strip("[]") != src_ip:
        changes["received"] = src_ip
    if via.rport == "":
        changes["rport"] = str(src_port)
        changes.setdefault("received", src_ip)
    if changes:
        msg.update_via1(changes)


def _is_ip_literal(host: str) -> bool:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            return True
        except OSError:
            pass
    return False


def _resolve_host(host: str) -> str:
    if _is_ip_literal(host):
        return host
    try:
        return socket.gethostbyname(host)
    except OSError:
        raise ParseError(f"cannot resolve {host}", 476) from None


def _primary_address() -> str:
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def _error_reply_for_garbage(data: bytes, exc: ParseError) -> bytes | None:
    """A stateless error reply to a request we could not parse, built from whatever
    Via/From/To/Call-ID/CSeq lines can be found; None when there is not enough."""
    text = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "surrogateescape")
    wanted = {"via": [], "v": [], "from": [], "f": [], "to": [], "t": [], "call-id": [], "i": [], "cseq": []}
    for line in text.split("\n")[1:]:
        name, sep, _ = line.partition(":")
        key = name.strip().lower()
        if sep and key in wanted:
            wanted[key].append(line.rstrip("\r"))
    vias = wanted["via"] + wanted["v"]
    if not vias:
        return None
    lines = [f"SIP/2.0 {exc.status} {exc.reason}"] + vias
    for group in (("from", "f"), ("to", "t"), ("call-id", "i"), ("cseq",)):
        for key in group:
            lines.extend(wanted[key][:1])
    lines += [f"Server: {SERVER_NAME}", "Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode("utf-8", "surrogateescape")


def _log_crash(greenlet: Any) -> None:
    log.critical("background task died: %r", greenlet.exception)
