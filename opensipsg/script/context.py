"""The state one run of the routing script works on.

A :class:`RouteContext` carries what OpenSIPS keeps in ``struct sip_msg`` and the
transaction: the message being routed, the rewritten R-URI, ``$du``, branches,
flags, AVPs, the last return code, and where the message came from. Functions
read and change it; the transaction layer saves the parts that live with a
transaction (flags, AVPs, armed routes) and restores them for failure, reply
and branch routes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..registry import RouteType
from ..sip.uri import parse_uri

Value = int | str | None

_new_object = object.__new__


@dataclass(slots=True)
class Branch:
    """One destination of a request: OpenSIPS's branch (R-URI branch is number 0)."""

    uri: str
    dst_uri: str | None = None
    path: str | None = None
    q: int = -1  # q * 1000; -1 = not set
    flags: int = 0
    socket: Any = None


class AvpStore:
    """AVPs: a stack of values per name, newest first.

    Names are keys such as ``("i", 10)`` or ``("s", "caller")``; aliases are
    resolved to keys when the script is loaded.
    """

    __slots__ = ("_values",)

    def __init__(self) -> None:
        self._values: dict[tuple[str, Any], list[Value]] = {}

    def add(self, key: tuple[str, Any], value: Value) -> None:
        self._values.setdefault(key, []).insert(0, value)

    def replace(self, key: tuple[str, Any], value: Value) -> None:
        self._values[key] = [value]

    def get(self, key: tuple[str, Any], index: int = 0) -> Value:
        values = self._values.get(key)
        if not values:
            return None
        try:
            return values[index]
        except IndexError:
            return None

    def get_all(self, key: tuple[str, Any]) -> list[Value]:
        return list(self._values.get(key, ()))

    def set_index(self, key: tuple[str, Any], index: int, value: Value) -> None:
        values = self._values.get(key)
        if values and -len(values) <= index < len(values):
            values[index] = value

    def delete(self, key: tuple[str, Any], index: int | None = 0) -> None:
        """Delete one value (``index``) or, with index None, all values of the name."""
        values = self._values.get(key)
        if not values:
            return
        if index is None:
            del self._values[key]
            return
        if -len(values) <= index < len(values):
            del values[index]
        if not values:
            del self._values[key]

    def keys(self) -> list[tuple[str, Any]]:
        return list(self._values)

    def copy(self) -> "AvpStore":
        other = AvpStore()
        other._values = {k: list(v) for k, v in self._values.items()}
        return other

    def clear(self) -> None:
        self._values.clear()

    def __len__(self) -> int:
        return len(self._values)


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """``$err.*``: the last error recorded while running a route."""

    err_class: int = 0
    level: int = 0
    info: str = ""
    rcode: int = 0
    rreason: str = ""


NO_ERROR = ErrorInfo()  # shared by every context (ErrorInfo is immutable)


class RouteContext:
    """What a running route sees and changes (see module docstring)."""

    __slots__ = (
        "core",
        "msg",
        "request",
        "route_type",
        "transaction",
        "src_ip",
        "src_port",
        "proto",
        "local_ip",
        "local_port",
        "listener",
        "new_uri",
        "dst_uri",
        "path",
        "q",
        "bflags",
        "force_socket",
        "branches",
        "flags",
        "sflags",
        "_avps",
        "retcode",
        "stop",
        "dropped",
        "reply_code",
        "_armed",
        "error",
        "branch_index",
        "extra",
        "depth",
        "_ruri_cache",
    )

    def __init__(
        self,
        core: Any,
        msg: Any,
        route_type: RouteType = RouteType.REQUEST,
        src_ip: str = "",
        src_port: int = 0,
        proto: str = "udp",
        local_ip: str = "",
        local_port: int = 0,
        listener: Any = None,
        transaction: Any = None,
        request: Any = None,
    ) -> None:
        self.core = core
        self.msg = msg
        # the request this run is about: msg itself for request/failure/branch routes,
        # the transaction's request when msg is a reply
        self.request = request if request is not None else (msg if getattr(msg, "is_request", False) else None)
        self.route_type = route_type
        self.transaction = transaction
        self.src_ip = src_ip
        self.src_port = src_port
        self.proto = proto
        self.local_ip = local_ip
        self.local_port = local_port
        self.listener = listener
        self.new_uri: str | None = None
        self.dst_uri: str | None = None
        self.path: str | None = None
        self.q = -1
        self.bflags = 0
        self.force_socket: Any = None
        self.branches: list[Branch] = []
        self.flags = 0
        self.sflags = 0
        self._avps: AvpStore | None = None  # made on first use: most requests use none
        self.retcode = 1
        self.stop = False
        self.dropped = False
        self.reply_code = 0
        self._armed: dict[str, str] | None = None  # see armed
        self.error = NO_ERROR
        self.branch_index: int | None = None
        # per-message data that modules keep (e.g. rr's route params, auth's checked credentials)
        self.extra: dict[str, Any] = {}
        self.depth = 0
        self._ruri_cache: tuple[str, Any] | None = None

    @property
    def avps(self) -> AvpStore:
        avps = self._avps
        if avps is None:
            avps = self._avps = AvpStore()
        return avps

    @avps.setter
    def avps(self, value: AvpStore) -> None:
        self._avps = value  # (tm shares the transaction's store with its routes)

    @property
    def armed(self) -> dict[str, str]:
        """Routes armed with t_on_failure / t_on_reply / t_on_branch: kind -> route name."""
        armed = self._armed
        if armed is None:
            armed = self._armed = {}
        return armed

    @armed.setter
    def armed(self, value: dict[str, str]) -> None:
        self._armed = value

    # -- the Request-URI as routed (after rewrites) ----------------------------
    @property
    def ruri(self) -> str:
        if self.new_uri is not None:
            return self.new_uri
        request = self.request
        return request.ruri if request is not None else ""

    @ruri.setter
    def ruri(self, value: str) -> None:
        self.new_uri = value

    def parsed_ruri(self) -> Any:
        """The R-URI parsed (cached while it does not change); raises ParseError."""
        text = self.new_uri  # (the ruri property's read, without its frame)
        if text is None:
            request = self.request
            text = request.ruri if request is not None else ""
        cached = self._ruri_cache
        if cached is not None and cached[0] == text:
            return cached[1]
        parsed = parse_uri(text)
        self._ruri_cache = (text, parsed)
        return parsed

    def branch0(self) -> Branch:
        """Branch 0 as it stands: the current R-URI with its $du, path, q, flags, socket."""
        # every field written here, without Branch.__init__ (called through C: ~800 instructions
        # more than the six writes; each t_relay makes one)
        branch = _new_object(Branch)
        uri = self.new_uri  # (the ruri property's read, without its frame)
        if uri is None:
            request = self.request
            uri = request.ruri if request is not None else ""
        branch.uri = uri
        branch.dst_uri = self.dst_uri
        branch.path = self.path
        branch.q = self.q
        branch.flags = self.bflags
        branch.socket = self.force_socket
        return branch

    def reset_branch0(self) -> None:
        """What append_branch() does to branch 0 after copying it (1.6 semantics)."""
        self.dst_uri = None
        self.path = None
        self.q = -1
        self.bflags = 0
        self.force_socket = None
