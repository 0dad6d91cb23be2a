"""SIP messages: parse bytes into requests and responses, serialize them back.

The header section is decoded once as UTF-8 with ``surrogateescape`` so that any
byte sequence survives a round trip exactly: an untouched header leaves as the
very bytes it came in as. Header values are parsed lazily, only when asked for
(a proxy that reads Via, CSeq and Route does not pay for Contact).

Everything here is pure: no sockets, no clocks, no logging.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterator, NamedTuple

from ..errors import ParseError
from .nameaddr import _SIMPLE_PARAM, NameAddr, parse_name_addr, parse_params, split_header_values

MAX_MESSAGE_SIZE = 65535
ENCODING = "utf-8"
ERRORS = "surrogateescape"

# RFC 3261 7.3.3 and later RFCs: compact header forms, mapped to full names.
COMPACT_FORMS = {
    "a": "accept-contact",
    "b": "referred-by",
    "c": "content-type",
    "d": "request-disposition",
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "j": "reject-contact",
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "n": "identity-info",
    "o": "event",
    "r": "refer-to",
    "s": "subject",
    "t": "to",
    "u": "allow-events",
    "v": "via",
    "x": "session-expires",
    "y": "identity",
}

# Headers whose value may hold several comma-separated elements (RFC 3261 7.3.1).
# Everything else (e.g. WWW-Authenticate, Date, From) is a single value.
MULTI_VALUE_HEADERS = frozenset(
    {
        "via", "contact", "route", "record-route", "allow", "supported", "require",
        "proxy-require", "unsupported", "accept", "accept-encoding", "accept-language",
        "content-encoding", "path", "allow-events", "p-asserted-identity",
        "in-reply-to", "content-language",
    }
)

# The canonical spelling we use when *we* add a header by its lower-case name.
CANONICAL_NAMES = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version",
}

_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")


@lru_cache(maxsize=256)
def canonical_name(name: str) -> str:
    """'record-route' -> 'Record-Route'; keeps the special spellings (Call-ID, CSeq)."""
    key = name.lower()
    found = CANONICAL_NAMES.get(key)
    if found:
        return found
    return "-".join(part[:1].upper() + part[1:] for part in key.split("-"))


@lru_cache(maxsize=512)
def normalize_name(name: str) -> str:
    """Header name as we look it up: lower-case full name (compact forms expanded)."""
    key = name.strip().lower()
    return COMPACT_FORMS.get(key, key)


class Header:
    """One header line: ``name`` (normalized), ``value`` (unfolded, stripped) and ``raw``.

    ``raw`` is the full line(s) as received, without the final CRLF; it is what
    serialization writes, so an untouched header leaves byte for byte.
    Treat instances as immutable: replace a header to change it.
    """

    __slots__ = ("name", "value", "raw")

    def __init__(self, name: str, value: str, raw: str) -> None:
        self.name = name
        self.value = value
        self.raw = raw

    @classmethod
    def make(cls, name: str, value: str) -> "Header":
        """A header we create: canonical spelling unless the caller gave a spelling."""
        # (ASCII names, as ours always are, decide without a generator)
        if name.isascii():
            spelled = canonical_name(name) if name.lower() == name else name
        else:
            spelled = canonical_name(name) if not any(c.isupper() for c in name) else name
        return cls(normalize_name(name), value, f"{spelled}: {value}")

    def values(self) -> list[str]:
        """The comma-separated elements of this header line (for multi-value headers)."""
        if self.name in MULTI_VALUE_HEADERS:
            return split_header_values(self.value)
        return [self.value]

    def __repr__(self) -> str:
        return f"Header({self.raw!r})"


class Via(NamedTuple):
    """One Via element: ``SIP/2.0/UDP host:port;branch=...``.

    Immutable. A named tuple rather than a frozen dataclass: the parser makes one
    per message, and ``_new_via(Via, fields)`` costs a fraction of a frozen __init__.
    """

    protocol: str  # e.g. "SIP/2.0/UDP"
    host: str
    port: int | None
    params: tuple[tuple[str, str | None], ...]
    raw: str

    @property
    def transport(self) -> str:
        return self.protocol.rsplit("/", 1)[-1].upper()

    def param(self, name: str) -> str | None:
        return self._param(name.lower())

    def _param(self, lname: str) -> str | None:
        for key, value in self.params:
            if key == lname or key.lower() == lname:  # (names are mostly written in lower case)
                return "" if value is None else value
        return None

    def has_param(self, name: str) -> bool:
        return self._param(name.lower()) is not None

    @property
    def branch(self) -> str | None:
        return self._param("branch")

    @property
    def received(self) -> str | None:
        return self._param("received")

    @property
    def rport(self) -> str | None:
        """None when absent, '' when present without value (a request for rport)."""
        return self._param("rport")

    @property
    def sent_by(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def with_params(self, changes: dict[str, str | None]) -> "Via":
        """A copy with params set (value None = present without value); order kept, new ones appended."""
        params = []
        pending = dict((k.lower(), (k, v)) for k, v in changes.items())
        for key, value in self.params:
            low = key.lower()
            if low in pending:
                params.append(pending.pop(low))
            else:
                params.append((key, value))
        params.extend(pending.values())
        return Via(self.protocol, self.host, self.port, tuple(params), raw="")

    def __str__(self) -> str:
        if self.raw:
            return self.raw
        text = f"{self.protocol} {self.sent_by}"
        for key, value in self.params:
            text += f";{key}" if value is None else f";{key}={value}"
        return text


_new_via = tuple.__new__
_new_object = object.__new__

# The common shape in one match: "SIP/2.0/UDP host[:port][;params]" (host as
# _valid_host takes it); anything else, and every error, takes the long way.
# The params are matched as parse_params' fast path takes them, so they split without a second match.
_COMMON_VIA = re.compile(rf"(SIP/2\.0/[A-Za-z]+) ([A-Za-z0-9._-]+)(?::([0-9]{{1,5}}))?"
                         rf"(?:;({_SIMPLE_PARAM}(?:;{_SIMPLE_PARAM})*))?\Z")


# (not cached: a request's top Via carries a new branch, so a cache would mostly miss, insert
# and evict; replies use _parse_reply_via)
def parse_via(text: str) -> Via:
    """Parse one Via element (no commas)."""
    text = text.strip()
    common = _COMMON_VIA.match(text)
    if common is not None:
        protocol, host, port_text, params_text = common.groups()
        port = None if port_text is None else int(port_text)
        if port is None or port <= 65535:
            params: tuple[tuple[str, str | None], ...] = ()
            if params_text:
                if ";" not in params_text:  # (one parameter, the usual branch alone: no loop)
                    name, eq, value = params_text.partition("=")
                    params = ((name, value if eq else None),)
                else:
                    for item in params_text.split(";"):
                        name, eq, value = item.partition("=")
                        params += ((name, value if eq else None),)
            # ("SIP/2.0/" is matched literally: upper() of the whole is the transport's)
            return _new_via(Via, (protocol if protocol.isupper() else protocol.upper(), host, port, params, text))
    return _parse_via_full(text)


def _parse_via_full(text: str) -> Via:
    proto, sep, rest = text.partition("/")
    if not sep:
        raise ParseError("bad Via: no protocol")
    # protocol is "SIP / 2.0 / UDP" with optional LWS around slashes
    version, sep, rest = rest.partition("/")
    if not sep:
        raise ParseError("bad Via: no transport")
    rest = rest.lstrip()
    i = 0
    while i < len(rest) and rest[i] not in " \t":
        i += 1
    transport = rest[:i]
    sent_by_and_params = rest[i:].strip()
    if proto.strip().upper() != "SIP" or version.strip() != "2.0" or not transport:
        raise ParseError("bad Via: unsupported protocol")
    if not sent_by_and_params:
        raise ParseError("bad Via: no sent-by")
    sent_by, _, params_text = sent_by_and_params.partition(";")
    sent_by = sent_by.strip()
    host, port = split_host_port(sent_by, "Via")
    params = parse_params(params_text) if params_text else ()
    return Via(f"SIP/2.0/{transport.upper()}", host, port, params, raw=text)


# the replies of one of our transactions (100, 180, 200...) carry the same top Via: ours
_parse_reply_via = lru_cache(maxsize=1024)(parse_via)


def _cache_top_via(message: "SipMessage", top: str | None, parse_top: Callable[[str], Via] = parse_via) -> Via:
    """The top Via of this first Via header value, parsed and cached as ``message.via1``."""
    if top:
        element = top.partition(",")[0] if '"' not in top and "<" not in top else ""  # (else: the long way)
        if element and not element.isspace():
            via = message._cache["via"] = message._via1 = parse_top(element)
            return via
    vias = message.vias
    if not vias:
        raise ParseError("missing Via")
    return vias[0]


def split_host_port(text: str, what: str) -> tuple[str, int | None]:
    """'host:port' / '[v6]:port' / 'host' -> (host, port or None); ParseError if broken."""
    if not text:
        raise ParseError(f"bad {what}: empty host")
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ParseError(f"bad {what}: unterminated IPv6 reference")
        host, rest = text[: end + 1], text[end + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise ParseError(f"bad {what}: junk after IPv6 reference")
        port_text = rest[1:]
    else:
        host, sep, port_text = text.partition(":")
        if not sep:
            port_text = ""
            if not _valid_host(host):
                raise ParseError(f"bad {what}: bad host")
            return host, None
        if not _valid_host(host):
            raise ParseError(f"bad {what}: bad host")
    if not port_text.isdigit() or len(port_text) > 5 or int(port_text) > 65535:
        raise ParseError(f"bad {what}: bad port")
    return host, int(port_text)


_HOST = re.compile(r"[A-Za-z0-9._-]+\Z")


def _valid_host(host: str) -> bool:
    return _HOST.match(host) is not None


@dataclass(frozen=True, slots=True)
class CSeq:
    number: int
    method: str

    def __init__(self, number: int, method: str) -> None:
        # (frozen: the slots are set through their descriptors, as URI's)
        _set_cseq_number(self, number)
        _set_cseq_method(self, method)

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


_set_cseq_number, _set_cseq_method = (CSeq.__dict__[name].__set__ for name in ("number", "method"))


@lru_cache(maxsize=256)  # "1 INVITE" and the like repeat across messages; CSeq is immutable
def parse_cseq(text: str) -> CSeq:
    number, _, method = text.strip().partition(" ")
    method = method.strip()
    if not number.isdigit() or len(number) > 10 or not method or (
        method not in _COMMON_METHODS and not _is_token(method)
    ):
        raise ParseError("bad CSeq")
    value = int(number)
    if value >= 2**31:
        raise ParseError("bad CSeq: number too large")
    return CSeq(value, method)


# methods known to be tokens, so the usual ones skip the regular expression
_COMMON_METHODS = frozenset(
    ("INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "INFO", "UPDATE", "PRACK",
     "SUBSCRIBE", "NOTIFY", "MESSAGE", "REFER", "PUBLISH")
)


def _is_token(text: str) -> bool:
    return _TOKEN.match(text) is not None


def header_from_line(line: str) -> Header:
    """A header from its full text 'Name: value'; ParseError if the name is not a token."""
    name, sep, value = line.partition(":")
    if not sep or not _is_token(name.strip()):
        raise ParseError("bad header line")
    return Header(normalize_name(name), value.strip(), line.rstrip("\r\n"))


# the headers whose parsed view a SipMessage keeps in a slot of its own (see _forget_slot)
_SLOTTED = frozenset(("via", "cseq", "to"))


class SipMessage:
    """Common part of requests and responses: an ordered list of headers and a body.

    ``_index`` maps each normalized header name to the position of its first
    header, so a lookup is one dict probe instead of a scan of the list. The
    methods below keep it right; code that edits ``headers`` directly must call
    ``_changed()`` or ``_changed(name)`` afterwards (as it must for the parsed
    views), and either drops it: the index is rebuilt on the next lookup.
    """

    # (_via1, _cseq, _to: the top Via, CSeq and To once known, None until then; their properties
    # read them without a dict lookup, and every method that forgets one of these views calls
    # _forget_slot for it: the names in _SLOTTED)
    __slots__ = ("headers", "body", "_cache", "_index", "_via1", "_cseq", "_to")

    is_request = False

    def __init__(self, headers: list[Header], body: bytes = b"") -> None:
        self.headers = headers
        self.body = body
        self._cache: dict[str, object] = {}
        self._index: dict[str, int] | None = None
        self._via1: Via | None = None
        self._cseq: CSeq | None = None
        self._to: NameAddr | None = None

    # -- header access ------------------------------------------------------
    def _build_index(self) -> dict[str, int]:
        index: dict[str, int] = {}
        for position, header in enumerate(self.headers):
            if header.name not in index:
                index[header.name] = position
        self._index = index
        return index

    def _first(self, name: str) -> tuple[str, int]:
        """(normalized name, position of its first header or -1)."""
        index = self._index
        if index is None:
            index = self._build_index()
        position = index.get(name)
        if position is not None:  # keys are normalized names: no need to normalize
            return name, position
        key = normalize_name(name)
        return key, index.get(key, -1)

    def get(self, name: str) -> str | None:
        """Value of the first header of that name (compact forms understood)."""
        index = self._index
        if index is None:
            index = self._build_index()
        position = index.get(name)
        if position is None:  # not a normalized name present in the message
            position = index.get(normalize_name(name))
            if position is None:
                return None
        return self.headers[position].value

    def get_all(self, name: str) -> list[str]:
        """Values of every header line of that name, in order (lines not split)."""
        key, first = self._first(name)
        if first < 0:
            return []
        return [h.value for h in self.headers[first:] if h.name == key]

    def get_values(self, name: str) -> list[str]:
        """Every comma-separated element of every header of that name, in order."""
        index = self._index
        if index is None:
            index = self._build_index()
        key = name
        first = index.get(name)
        if first is None:  # (_first inline: one frame less per call)
            key = normalize_name(name)
            first = index.get(key)
            if first is None:
                return []
        headers = self.headers
        if key not in MULTI_VALUE_HEADERS:
            return [h.value for h in headers[first:] if h.name == key]
        out: list[str] = []
        for position in range(first, len(headers)):
            header = headers[position]
            if header.name == key:
                value = header.value
                if "," in value:
                    out.extend(split_header_values(value))
                else:  # (one element, the usual line: split_header_values' own first case, without its frame)
                    value = value.strip()
                    if value:
                        out.append(value)
        return out

    def has(self, name: str) -> bool:
        return self._first(name)[1] >= 0

    def find(self, name: str) -> Iterator[tuple[int, Header]]:
        key, first = self._first(name)
        if first < 0:
            return
        headers = self.headers
        for position in range(first, len(headers)):
            header = headers[position]
            if header.name == key:
                yield position, header

    # -- header changes -----------------------------------------------------
    def _changed(self, name: str | None = None) -> None:
        """After a direct edit of ``headers``: forget the parsed views of header ``name``
        (all of them when None) and the index (positions may have moved)."""
        if name is None:
            self._cache.clear()
            self._via1 = self._cseq = self._to = None
        else:
            self._cache.pop(name, None)
            if name in _SLOTTED:
                self._forget_slot(name)
        self._index = None

    def _forget_slot(self, name: str) -> None:
        """Forget the view kept in a slot for header ``name`` (one of _SLOTTED)."""
        if name == "via":
            self._via1 = None
        elif name == "cseq":
            self._cseq = None
        else:
            self._to = None

    def _append(self, header: Header, first: bool) -> None:
        headers = self.headers
        if first:
            headers.insert(0, header)
            self._index = None  # every position moved
        else:
            headers.append(header)
            index = self._index
            if index is not None and header.name not in index:
                index[header.name] = len(headers) - 1
        self._cache.pop(header.name, None)
        if header.name in _SLOTTED:
            self._forget_slot(header.name)

    def add_header(self, name: str, value: str, first: bool = False) -> None:
        """Append (or with first=True, prepend) a header line."""
        self._append(Header.make(name, value), first)

    def insert_header(self, index: int, name: str, value: str) -> None:
        header = Header.make(name, value)
        self.headers.insert(index, header)
        self._index = None
        self._cache.pop(header.name, None)
        if header.name in _SLOTTED:
            self._forget_slot(header.name)

    def add_raw_header(self, line: str, first: bool = False) -> None:
        """Add a header from its full text 'Name: value' (as script functions give it)."""
        self._append(header_from_line(line), first)

    def remove_headers(self, name: str) -> int:
        """Remove every header of that name; returns how many were removed."""
        key, first = self._first(name)
        if first < 0:
            return 0
        before = len(self.headers)
        self.headers = [h for h in self.headers if h.name != key]
        self._index = None
        self._cache.pop(key, None)
        if key in _SLOTTED:
            self._forget_slot(key)
        return before - len(self.headers)

    def remove_header(self, header: Header) -> bool:
        """Remove this very header line (by identity); only its name's views are forgotten."""
        for index, present in enumerate(self.headers):
            if present is header:
                del self.headers[index]
                self._changed(header.name)
                return True
        return False

    def set_header(self, name: str, value: str) -> None:
        """Replace the first header of that name (keeping its place) or append one."""
        key, position = self._first(name)
        if position < 0:
            self.add_header(name, value)
            return
        header = self.headers[position]
        spelled = header.raw.partition(":")[0].strip()
        self.headers[position] = Header(key, value, f"{spelled}: {value}")
        self._cache.pop(key, None)
        if key in _SLOTTED:
            self._forget_slot(key)

    def replace_header_at(self, index: int, value: str) -> None:
        # same name at the same place: the index stays right
        header = self.headers[index]
        name = header.name
        # (the new Header's fields set here, as the parser does: no __init__ frame; maxfwd's per request)
        changed = self.headers[index] = _new_object(Header)
        changed.name = name
        changed.value = value
        changed.raw = f"{header.raw.partition(':')[0].strip()}: {value}"
        self._cache.pop(name, None)
        if name in _SLOTTED:
            self._forget_slot(name)

    def remove_first_value(self, name: str) -> str | None:
        """Remove the first comma-separated element of a header (e.g. top Via or Route).

        Returns the removed element. The header line goes away when it held only
        that element; otherwise the line is rewritten with the rest.
        """
        index = self._index
        position = (self._build_index() if index is None else index).get(name)  # (as in get_values)
        key = name
        if position is None:
            key, position = self._first(name)
            if position < 0:
                return None
        header = self.headers[position]
        value = header.value
        if "," in value or key not in MULTI_VALUE_HEADERS:
            values = header.values()
        else:  # (one element: what values() gives, without its two frames)
            value = value.strip()
            values = [value] if value else []
        if len(values) <= 1:
            del self.headers[position]
            self._index = None
        else:
            self.replace_header_at(position, ", ".join(values[1:]))
        self._cache.pop(key, None)
        if key in _SLOTTED:
            self._forget_slot(key)
        return values[0] if values else None

    def update_via1(self, changes: dict[str, str | None]) -> None:
        """Set parameters on the top Via (e.g. received/rport), keeping the others."""
        via = self.via1.with_params(changes)
        position = self._first("via")[1]
        values = self.headers[position].values()
        values[0] = str(via)
        self.replace_header_at(position, ", ".join(values))

    # -- parsed views (cached until the headers change) --------------------
    # (each view reads the cache first: these run several times per message)
    # The "via" cache entry holds either the list of every Via or, until something
    # asks for that list, the top Via alone (relaying a reply needs only the top one).
    @property
    def vias(self) -> list[Via]:
        vias = self._cache.get("via")
        if vias.__class__ is not list:
            vias = self._cache["via"] = list(map(parse_via, self.get_values("via")))  # (map: no comprehension frame)
        return vias  # type: ignore[return-value]

    @property
    def via1(self) -> Via:
        via = self._via1
        if via is not None:
            return via
        found = self._cache.get("via")
        if found is not None:
            if found.__class__ is not list:
                via = found  # type: ignore[assignment]
            elif found:
                via = found[0]  # type: ignore[index]
            else:
                raise ParseError("missing Via")
            self._via1 = via
            return via
        return _cache_top_via(self, self.get("via"))

    @property
    def call_id(self) -> str:
        value = self.get("call-id")
        if not value:
            raise ParseError("missing Call-ID")
        return value

    @property
    def cseq(self) -> CSeq:
        cseq = self._cseq
        if cseq is None:
            value = self.get("cseq")
            if value is None:
                raise ParseError("missing CSeq")
            cseq = self._cseq = parse_cseq(value)
        return cseq

    @property
    def from_(self) -> NameAddr:
        found = self._cache.get("from")
        if found is None:
            found = self._cache["from"] = self._name_addr("from")
        return found  # type: ignore[return-value]

    @property
    def to(self) -> NameAddr:
        found = self._to
        if found is None:  # (_name_addr inline: one frame less per parse)
            value = self.get("to")
            if value is None:
                raise ParseError("missing To")
            found = self._to = parse_name_addr(value)
        return found

    def has_to_tag(self) -> bool:
        """Whether To carries a tag; parses To only when its text mentions one."""
        value = self.get("to")
        if value is None or "tag" not in value.lower():
            return False
        return self.to.tag is not None

    def _name_addr(self, name: str) -> NameAddr:
        value = self.get(name)
        if value is None:
            raise ParseError(f"missing {canonical_name(name)}")
        return parse_name_addr(value)

    @property
    def from_tag(self) -> str | None:
        return self.from_.tag

    @property
    def to_tag(self) -> str | None:
        return self.to.tag

    def _name_addrs(self, name: str) -> list[NameAddr]:
        """Every element of header ``name`` as a NameAddr, parsed once until the headers change."""
        found = self._cache.get(name)
        if found is None:
            found = self._cache[name] = list(map(parse_name_addr, self.get_values(name)))  # (no comprehension frame)
        return found  # type: ignore[return-value]

    @property
    def contacts(self) -> list[NameAddr]:
        return self._name_addrs("contact")

    @property
    def routes(self) -> list[NameAddr]:
        return self._name_addrs("route")

    @property
    def record_routes(self) -> list[NameAddr]:
        return self._name_addrs("record-route")

    def int_header(self, name: str) -> int | None:
        """A header holding a non-negative integer (Expires, Max-Forwards...); ParseError if bad."""
        value = self.get(name)
        if value is None:
            return None
        value = value.strip()
        if not value.isdigit() or len(value) > 10:
            raise ParseError(f"bad {canonical_name(name)}")
        return int(value)

    # -- serialization (first_line() comes from Request / Response) ---------
    def head_text(self, headers: list[Header] | None = None, first_line: str | None = None) -> str:
        """Start line and headers (``headers`` and ``first_line`` in place of ours if given)
        as text, with a Content-Length that fits the body."""
        lines = [first_line or self.first_line()]  # type: ignore[attr-defined]
        length = len(self.body)
        has_length = False
        for header in self.headers if headers is None else headers:
            if header.name == "content-length":
                if has_length:
                    continue
                has_length = True
                if header.value != str(length):
                    spelled = header.raw.partition(":")[0].strip()
                    lines.append(f"{spelled}: {length}")
                    continue
            lines.append(header.raw)
        if not has_length:
            lines.append(f"Content-Length: {length}")
        lines.append("")
        lines.append("")
        return "\r\n".join(lines)

    def to_bytes(self) -> bytes:
        return self.head_text().encode(ENCODING, ERRORS) + self.body

    def to_bytes_with(self, ruri: str, top_line: str) -> bytes:
        """The bytes of a copy of this request with this Request-URI and the header line
        ``top_line`` (e.g. our Via, as written) above its headers."""
        # (the line goes out with the start line: no Header and no new list of the headers)
        first_line = f"{self.method} {ruri} {self.version}\r\n{top_line}"  # type: ignore[attr-defined]
        return self.head_text(None, first_line).encode(ENCODING, ERRORS) + self.body

    def to_bytes_with_headers(self, headers: list[Header], ruri: str) -> bytes:
        """The bytes of a copy of this request with these headers and this Request-URI."""
        first_line = f"{self.method} {ruri} {self.version}"  # type: ignore[attr-defined]
        return self.head_text(headers, first_line).encode(ENCODING, ERRORS) + self.body

    def to_bytes_without_first_value(self, name: str) -> bytes:
        """The bytes of a copy without the first element of header ``name`` (a relayed
        reply without our Via), leaving this message as it is."""
        index = self._index
        position = (self._build_index() if index is None else index).get(name)  # (as in get_values)
        if position is None:
            position = self._first(name)[1]
            if position < 0:
                return self.to_bytes()
        changed = self.headers.copy()  # (one copy; the line is then dropped or replaced in place)
        header = changed[position]
        value = header.value
        values = header.values() if "," in value else None  # (no comma: a single element)
        if values is None or len(values) <= 1:
            del changed[position]
        else:
            spelled = header.raw.partition(":")[0].strip()
            rest = ", ".join(values[1:])
            changed[position] = Header(header.name, rest, f"{spelled}: {rest}")
        return self.head_text(changed).encode(ENCODING, ERRORS) + self.body

    def __bytes__(self) -> bytes:
        return self.to_bytes()


class Request(SipMessage):
    __slots__ = ("method", "ruri", "version")

    is_request = True

    def __init__(
        self,
        method: str,
        ruri: str,
        headers: list[Header],
        body: bytes = b"",
        version: str = "SIP/2.0",
    ) -> None:
        # SipMessage.__init__ inlined: one frame less for every message
        self.headers = headers
        self.body = body
        self._cache: dict[str, object] = {}
        self._index: dict[str, int] | None = None
        self._via1: Via | None = None
        self._cseq: CSeq | None = None
        self._to: NameAddr | None = None
        self.method = method
        self.ruri = ruri
        self.version = version

    def first_line(self) -> str:
        return f"{self.method} {self.ruri} {self.version}"

    def copy(self) -> "Request":
        """A copy whose header list can change independently (headers are shared, immutable)."""
        copy = Request(self.method, self.ruri, list(self.headers), self.body, self.version)
        copy._index = None if self._index is None else self._index.copy()
        return copy

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.ruri}>"


class Response(SipMessage):
    __slots__ = ("status", "reason", "version")

    def __init__(
        self,
        status: int,
        reason: str,
        headers: list[Header],
        body: bytes = b"",
        version: str = "SIP/2.0",
    ) -> None:
        # SipMessage.__init__ inlined: one frame less for every message
        self.headers = headers
        self.body = body
        self._cache: dict[str, object] = {}
        self._index: dict[str, int] | None = None
        self._via1: Via | None = None
        self._cseq: CSeq | None = None
        self._to: NameAddr | None = None
        self.status = status
        self.reason = reason
        self.version = version

    @property
    def method(self) -> str:
        """The CSeq method: what OpenSIPS's $rm gives for a reply."""
        return self.cseq.method

    def first_line(self) -> str:
        return f"{self.version} {self.status} {self.reason}"

    def copy(self) -> "Response":
        copy = Response(self.status, self.reason, list(self.headers), self.body, self.version)
        copy._index = None if self._index is None else self._index.copy()
        return copy

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"


# -- parsing -------------------------------------------------------------------

REQUIRED_REQUEST_HEADERS = ("via", "from", "to", "call-id", "cseq")
_REQUIRED_SET = frozenset(REQUIRED_REQUEST_HEADERS)  # (a reply needs the same ones)
_REPLY_REQUIRED_ORDER = ("via", "call-id", "cseq", "from", "to")  # (the first missing one named for a reply)


def parse(data: bytes, stream: bool = False) -> SipMessage:
    """Parse one SIP message from bytes.

    ``stream`` is True for messages framed by a stream transport (the caller
    already cut exactly one message), where a missing Content-Length is an error
    (RFC 3261 18.3); over UDP it defaults to the rest of the datagram.

    Raises ParseError (with the SIP status to answer a request with) and nothing else.
    """
    # (the parse itself in the try: one frame per message, and a try costs nothing until it raises)
    try:
        if len(data) > MAX_MESSAGE_SIZE:
            raise ParseError("Message Too Large", 513)
        end = data.find(b"\r\n\r\n")
        sep_len = 4
        if end < 0:
            # tolerate bare-LF senders (and a missing blank line at the end of a datagram)
            end = data.find(b"\n\n")
            sep_len = 2
            if end < 0:
                end = len(data)
                sep_len = 0
        head = data[:end].decode(ENCODING, ERRORS)
        body_start = end + sep_len
        lines = head.split("\r\n")  # the usual case: CRLF line ends only
        if head.count("\n") != len(lines) - 1:  # (one count: the split already counted the CRLFs)
            lines = [line[:-1] if line.endswith("\r") else line for line in head.split("\n")]
        # skip leading empty lines (RFC 3261 7.5: keep-alive CRLFs before a message)
        index = 0
        while index < len(lines) and not lines[index]:
            index += 1
        if index >= len(lines):
            raise ParseError("empty message")
        start = lines[index]
        headers, header_index = _parse_headers(lines, index + 1)

        message: SipMessage
        # (is_request kept: an attribute read or set on `message` here would see both classes,
        # which the interpreter does not specialize for; each branch below sees one)
        is_request = not start.startswith("SIP/")
        if is_request:
            message = _parse_request_line(start, headers, header_index)
        else:
            message = _parse_status_line(start, headers, header_index)

        position = header_index.get("content-length")
        length_text = None if position is None else headers[position].value
        available = len(data) - body_start
        if length_text is None:
            if stream and available > 0:
                raise ParseError("missing Content-Length")
            body = data[body_start:] if available > 0 else b""
        else:  # (values are stripped)
            if not length_text.isdigit() or len(length_text) > 6:
                raise ParseError("bad Content-Length")
            length = int(length_text)
            if length > available:
                raise ParseError("Content-Length larger than the message body")
            body = data[body_start : body_start + length]
        # the checks of a request or a reply (inline: one frame less per message)
        if not header_index.keys() >= _REQUIRED_SET:  # (one set test; the loop names the first one missing)
            _raise_missing(header_index, REQUIRED_REQUEST_HEADERS if is_request else _REPLY_REQUIRED_ORDER)
        # the top Via and CSeq parsed and kept here; the top Via: ParseError when broken (the others:
        # when read). From and To are parsed when first used (lazy): a broken one surfaces as a
        # ParseError there, which the script turns into a failed function / error_route
        top = headers[header_index["via"]].value
        # (one element, the usual line: _cache_top_via's fast path inline)
        single = top and "," not in top and '"' not in top and "<" not in top
        if is_request:
            message.body = body
            if not headers[header_index["call-id"]].value:  # (values are stripped)
                raise ParseError("empty Call-ID")
            cseq = message._cseq = parse_cseq(headers[header_index["cseq"]].value)
            method = cseq.method
            if method != message.method and method.upper() != message.method.upper():  # type: ignore[attr-defined]
                raise ParseError("CSeq method does not match the request method")
            if single:
                message._cache["via"] = message._via1 = parse_via(top)
            else:
                _cache_top_via(message, top)
            position = header_index.get("max-forwards")
            if position is not None:
                mf = headers[position].value
                if not mf.isdigit() or len(mf) > 3:
                    raise ParseError("bad Max-Forwards")
        else:
            message.body = body
            if single:
                message._cache["via"] = message._via1 = _parse_reply_via(top)
            else:
                _cache_top_via(message, top, _parse_reply_via)
            message._cseq = parse_cseq(headers[header_index["cseq"]].value)
        return message
    except ParseError:
        raise
    except (ValueError, IndexError, UnicodeError, OverflowError) as exc:  # defensive
        raise ParseError(f"malformed message: {exc.__class__.__name__}") from None


# header names as written (before the colon) -> normalized name; bounded, so a
# flood of random names can not grow it without limit
_KNOWN_NAMES: dict[str, str] = {}
_KNOWN_NAMES_MAX = 2048


def _header_key(written: str) -> str:
    key = _KNOWN_NAMES.get(written)
    if key is not None:
        return key
    name = written.rstrip()
    if not _is_token(name):
        raise ParseError("bad header name")
    key = normalize_name(name)
    if len(_KNOWN_NAMES) < _KNOWN_NAMES_MAX:
        _KNOWN_NAMES[written] = key
    return key


def _parse_headers(lines: list[str], first: int) -> tuple[list[Header], dict[str, int]]:
    """Header lines (line ends already removed) -> Header objects, unfolding continuations,
    and the message's index (name -> position of its first header)."""
    headers: list[Header] = []
    index: dict[str, int] = {}
    append = headers.append
    setdefault = index.setdefault
    known = _KNOWN_NAMES
    new_object = object.__new__
    position = 0  # len(headers), counted (cheaper than asking)
    for line in lines[first:]:
        # ": " (the usual spelling) leaves a value that strip() returns without a copy;
        # a known name holds no colon, so the first ": " is then the header's colon
        written, sep, value = line.partition(": ")
        key = known.get(written)
        if key is None or not sep:  # (a known name never starts with white space: no continuation)
            if not line:
                continue
            written, sep, value = line.partition(":")
            if line[0] in " \t":
                # folded continuation of the previous header (RFC 3261 7.3.1)
                if not headers:
                    raise ParseError("header continuation without a header")
                prev = headers[-1]
                headers[-1] = Header(prev.name, f"{prev.value} {line.strip()}".strip(), f"{prev.raw}\r\n{line}")
                continue
            if not sep or not written:
                raise ParseError("bad header line")
            key = _header_key(written)
        setdefault(key, position)
        position += 1
        # (Header's fields set here, without an __init__ frame per line)
        header = new_object(Header)
        header.name = key
        header.value = value.strip()
        header.raw = line
        append(header)
    return headers, index


def _parse_request_line(line: str, headers: list[Header], index: dict[str, int]) -> Request:
    parts = line.split(" ")
    if len(parts) != 3:
        parts = line.split()
        if len(parts) != 3:
            raise ParseError("bad request line")
    method, ruri, version = parts
    if method not in _COMMON_METHODS and not _is_token(method):
        raise ParseError("bad method")
    if version != "SIP/2.0" and version.upper() != "SIP/2.0":  # (no copy for the usual spelling)
        if version.upper().startswith("SIP/"):
            raise ParseError("Version Not Supported", 505)
        raise ParseError("bad request line")
    if not ruri or "<" in ruri or ">" in ruri or '"' in ruri or ":" not in ruri:
        raise ParseError("bad Request-URI")
    # (Request.__init__'s fields set here: one frame less for every request)
    request = _new_object(Request)
    request.headers = headers
    request._cache = {}
    request._index = index
    request._via1 = None
    request._to = None  # (body, _cseq: set by parse's checks)
    request.method = method
    request.ruri = ruri
    request.version = version
    return request


def _parse_status_line(line: str, headers: list[Header], index: dict[str, int]) -> Response:
    version, _, rest = line.partition(" ")
    code, _, reason = rest.partition(" ")
    if version != "SIP/2.0" and version.upper() != "SIP/2.0":
        raise ParseError("Version Not Supported", 505)
    if len(code) != 3 or not code.isdigit() or code[0] == "0":
        raise ParseError("bad status code")
    # (Response.__init__'s fields set here, as for a request)
    response = _new_object(Response)
    response.headers = headers
    response._cache = {}
    response._index = index
    response._via1 = None
    response._to = None  # (body, _cseq: set by parse's checks)
    response.status = int(code)
    response.reason = reason.strip()
    response.version = version
    return response


def _raise_missing(present: dict[str, int], names: tuple[str, ...]) -> None:
    for name in names:
        if name not in present:
            raise ParseError(f"Missing {canonical_name(name)}")
