"""SIP, SIPS and tel URIs (RFC 3261 19.1 and 25.1, RFC 3966).
Pure: no I/O, no logging.  :func:`parse_uri` is on the hot path, so it works
with a handful of ``str.find``/``partition`` calls and two linear character
checks instead of one big regular expression; results are kept in a small
bounded LRU cache (a :class:`URI` is immutable, so sharing is safe).

A parsed URI keeps the exact text it came from in ``raw``: ``str(uri)`` gives
that text back byte for byte, and only a modified copy (``replace``,
``with_param``...) is rebuilt in canonical form.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import re
from dataclasses import dataclass, field
from functools import lru_cache

from ..errors import ParseError
from .params import Params, drop_param, find_param, params_text, set_param

__all__ = ["URI", "parse_uri", "uri_equal", "unescape", "DEFAULT_PORTS"]

SUPPORTED_SCHEMES = frozenset(("sip", "sips", "tel"))
DEFAULT_PORTS = {"sip": 5060, "sips": 5061}

# Every character a SIP URI may contain (RFC 3261 25.1: unreserved, reserved,
# escaped).  '#' is not in the grammar but dial strings such as "*31#" are sent
# unescaped in the user part by many phones, and OpenSIPS accepts them.
_BAD_URI_CHAR = re.compile(r"[^A-Za-z0-9\-_.!~*'()%&=+$,;?/:@\[\]#]")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ESCAPED = re.compile(rb"%([0-9A-Fa-f]{2})")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*\Z")
_HOSTNAME = re.compile(r"[A-Za-z0-9_\-.]+\Z")
# user = 1*( unreserved / escaped / user-unreserved ), plus '#' (see above)
_BAD_USER_CHAR = re.compile(r"[^A-Za-z0-9\-_.!~*'()%&=+$,;?/#]")
_BAD_PASSWORD_CHAR = re.compile(r"[^A-Za-z0-9\-_.!~*'()%&=+$,]")
# dotted quad, each part 0-255 (leading zeros allowed, at most 3 digits)
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|[01]?[0-9]?[0-9])"
_IPV4 = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}\Z")
# The common shape, checked in one match: sip[s]:[user@]host[:port][;params]
# with no escapes, password, IPv6 reference or URI headers (the full parser
# handles those). The classes are subsets of what the full parser accepts, and
# none holds '@', so the user part ends at the first '@' as there.
_COMMON_SIP = re.compile(
    r"(sips?):(?:([A-Za-z0-9\-_.!~*'()&=+$,;?/#]+)@)?([A-Za-z0-9_\-.]+)(?::([0-9]{1,5}))?"
    r"(;[A-Za-z0-9\-_.!~*'()&=+$,;/:\[\]#]*)?\Z"
)
# RFC 3966 telephone-subscriber, leniently: digits, hex digits, '*', '#', '+'
# and the visual separators.
_TEL_NUMBER = re.compile(r"\+?[0-9A-Fa-f*#\-.()]+\Z")

# Parameters whose presence in only one URI makes two URIs differ (19.1.4).
_MUST_MATCH_PARAMS = ("user", "ttl", "method", "maddr", "transport")


def unescape(text: str) -> str:
    """Decode ``%HH`` escapes; bytes that are not UTF-8 become surrogates."""
    if "%" not in text:
        return text
    raw = text.encode("utf-8", "surrogateescape")
    decoded = _ESCAPED.sub(lambda m: bytes((int(m.group(1), 16),)), raw)
    return decoded.decode("utf-8", "surrogateescape")


@dataclass(frozen=True, slots=True)
class URI:
    """A parsed sip:, sips: or tel: URI.  Names and values are kept as written.

    For tel: URIs the number is in ``user``, ``host`` is ``''`` and the
    RFC 3966 parameters are in ``params``.
    """

    scheme: str = "sip"
    user: str | None = None
    password: str | None = None
    host: str = ""
    port: int | None = None
    params: Params = ()
    headers: tuple[tuple[str, str], ...] = ()
    raw: str = field(default="", compare=False)

    def __init__(self, scheme: str = "sip", user: str | None = None, password: str | None = None, host: str = "",
                 port: int | None = None, params: Params = (), headers: tuple[tuple[str, str], ...] = (),
                 raw: str = "") -> None:
        # (frozen: the slots are set through their descriptors, a third of the cost
        # of dataclass's object.__setattr__ per field; most messages make a URI)
        _set_scheme(self, scheme)
        _set_user(self, user)
        _set_password(self, password)
        _set_host(self, host)
        _set_port(self, port)
        _set_params(self, params)
        _set_headers(self, headers)
        _set_raw(self, raw)

    # -- parameters --------------------------------------------------------
    def param(self, name: str) -> str | None:
        """Value of parameter ``name`` (case-insensitive): None if absent, '' if value-less."""
        return find_param(self.params, name)

    def has_param(self, name: str) -> bool:
        return find_param(self.params, name) is not None

    @property
    def transport(self) -> str:
        """Lower-case ``transport`` parameter, or '' when there is none."""
        value = find_param(self.params, "transport")
        return value.lower() if value else ""

    @property
    def hostport(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def user_unescaped(self) -> str | None:
        return None if self.user is None else unescape(self.user)

    @property
    def is_secure(self) -> bool:
        return self.scheme == "sips"

    # -- copies --------------------------------------------------------------
    def replace(self, **changes: object) -> URI:
        """A copy with ``changes`` applied; it serializes in canonical form."""
        changes["raw"] = ""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def with_param(self, name: str, value: str | None = None) -> URI:
        """Set parameter ``name`` (replacing it in place if present, else appending)."""
        return self.replace(params=set_param(self.params, name, value))

    def without_param(self, name: str) -> URI:
        """Drop every parameter called ``name`` (case-insensitive)."""
        params = drop_param(self.params, name)
        return self if params is self.params else self.replace(params=params)

    # -- text ----------------------------------------------------------------
    def build(self) -> str:
        """Canonical text built from the fields (ignores ``raw``)."""
        parts = [self.scheme, ":"]
        if self.scheme == "tel":
            parts.append(self.user or "")
        else:
            if self.user is not None:
                parts.append(self.user)
                if self.password is not None:
                    parts.append(":")
                    parts.append(self.password)
                parts.append("@")
            parts.append(self.host)
            if self.port is not None:
                parts.append(f":{self.port}")
        parts.append(params_text(self.params))
        if self.headers:
            parts.append("?")
            parts.append("&".join(f"{name}={value}" for name, value in self.headers))
        return "".join(parts)

    def __str__(self) -> str:
        return self.raw or self.build()


_set_scheme, _set_user, _set_password, _set_host, _set_port, _set_params, _set_headers, _set_raw = (
    URI.__dict__[f.name].__set__ for f in dataclasses.fields(URI)
)


# ---------------------------------------------------------------------------
# parsing


def _hostname_ok(host: str) -> bool:
    """A valid IPv4 address or host name (not an IPv6 reference)."""
    if _IPV4.match(host):
        return True
    if not host or not _HOSTNAME.match(host) or host[0] == "." or ".." in host:
        return False  # (an empty label)
    # a toplabel starts with a letter: digits there make it a (bad) IPv4 address
    return not (host[:-1] if host[-1] == "." else host).rpartition(".")[2].isdigit()


def _check_host(host: str, text: str) -> None:
    if host.startswith("["):
        if not host.endswith("]"):
            raise ParseError(f"bad URI host: {text!r}")
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise ParseError(f"bad IPv6 reference in URI: {text!r}") from None
        return
    if _hostname_ok(host):
        return
    if host and _HOSTNAME.match(host) and host[0] != "." and ".." not in host:
        raise ParseError(f"bad IPv4 address in URI: {text!r}")
    raise ParseError(f"bad URI host: {text!r}")


def _parse_uri_params(text: str, whole: str) -> Params:
    """``a=b;c`` (no leading ';') -> (('a', 'b'), ('c', None))."""
    params = []
    for item in text.split(";"):
        name, eq, value = item.partition("=")
        if not name:
            raise ParseError(f"empty URI parameter name: {whole[:80]!r}")
        params.append((name, value if eq else None))
    return tuple(params)


def _parse_uri_headers(text: str, whole: str) -> tuple[tuple[str, str], ...]:
    headers = []
    for item in text.split("&"):
        name, _, value = item.partition("=")
        if not name:
            raise ParseError(f"empty URI header name: {whole!r}")
        headers.append((name, value))
    return tuple(headers)


def _parse_tel(rest: str, text: str) -> URI:
    # RFC 3966: telephone-subscriber *par; no headers, no userinfo.
    number, semi, params_text = rest.partition(";")
    if not number or not _TEL_NUMBER.match(number) or "?" in rest or "@" in rest:
        raise ParseError(f"bad tel URI: {text!r}")
    params = _parse_uri_params(params_text, text) if semi else ()
    return URI("tel", number, None, "", None, params, (), raw=text)


@lru_cache(maxsize=1024)
def parse_uri(text: str) -> URI:
    """Parse a sip:, sips: or tel: URI.

    Raises :class:`ParseError` (status 400) for malformed text and status 416
    (Unsupported URI Scheme) for a well-formed URI of another scheme.  Nothing
    else escapes for any ``str`` input.
    """
    if not isinstance(text, str):
        raise ParseError("URI is not text")
    common = _COMMON_SIP.match(text)
    if common is not None:
        scheme, user, host, port_text, tail = common.groups()
        # (an IPv4 host is checked here, saving _hostname_ok's call)
        if _IPV4.match(host) is not None or _hostname_ok(host):
            port = None if port_text is None else int(port_text)
            if port is None or port <= 65535:
                params: Params = ()
                if tail:
                    name, eq, value = tail[1:].partition("=")
                    if name and ";" not in tail[1:]:  # (one parameter, e.g. ;transport=udp: no _parse_uri_params frame)
                        params = ((name, value if eq else None),)
                    else:
                        params = _parse_uri_params(tail[1:], text)
                return URI(scheme, user, None, host, port, params, (), text)
    return _parse_uri_full(text)  # every other shape, and the errors


def _parse_uri_full(text: str) -> URI:
    scheme_text, colon, rest = text.partition(":")
    if not colon or not _SCHEME.match(scheme_text):
        raise ParseError(f"bad URI: {text[:80]!r}")
    scheme = scheme_text.lower()
    if scheme not in SUPPORTED_SCHEMES:
        raise ParseError(f"unsupported URI scheme: {scheme_text[:20]!r}", status=416)
    if not rest or _BAD_URI_CHAR.search(rest):
        raise ParseError(f"bad URI: {text[:80]!r}")
    if "%" in rest and _BAD_ESCAPE.search(rest):
        raise ParseError(f"bad escape in URI: {text[:80]!r}")
    if scheme == "tel":
        return _parse_tel(rest, text)

    user: str | None = None
    password: str | None = None
    at = rest.find("@")
    if at >= 0:
        userinfo = rest[:at]
        rest = rest[at + 1 :]
        user, pcolon, pw = userinfo.partition(":")
        if not user or _BAD_USER_CHAR.search(user):
            raise ParseError(f"bad URI user part: {text[:80]!r}")
        if pcolon:
            if _BAD_PASSWORD_CHAR.search(pw):
                raise ParseError(f"bad URI password: {text[:80]!r}")
            password = pw

    # hostport ends at the first ';' (params) or '?' (headers).
    if rest.startswith("["):
        close = rest.find("]")
        if close < 0:
            raise ParseError(f"bad IPv6 reference in URI: {text[:80]!r}")
        host = rest[: close + 1]
        tail = rest[close + 1 :]
        port_text = None
        if tail.startswith(":"):
            end = len(tail)
            for sep in (";", "?"):
                pos = tail.find(sep)
                if 0 <= pos < end:
                    end = pos
            port_text = tail[1:end]
            tail = tail[end:]
    else:
        end = len(rest)
        for sep in (";", "?"):
            pos = rest.find(sep)
            if 0 <= pos < end:
                end = pos
        hostport = rest[:end]
        tail = rest[end:]
        host, pcolon, port_text_ = hostport.partition(":")
        port_text = port_text_ if pcolon else None
    _check_host(host, text[:80])
    port: int | None = None
    if port_text is not None:
        if not port_text.isdigit() or len(port_text) > 5 or not port_text.isascii():
            raise ParseError(f"bad URI port: {text[:80]!r}")
        port = int(port_text)
        if port > 65535:
            raise ParseError(f"URI port out of range: {text[:80]!r}")

    params: Params = ()
    headers: tuple[tuple[str, str], ...] = ()
    if tail:
        if tail[0] == ";":
            params_text, qmark, headers_text = tail[1:].partition("?")
            params = _parse_uri_params(params_text, text[:80])
            if qmark:
                headers = _parse_uri_headers(headers_text, text[:80])
        elif tail[0] == "?":
            headers = _parse_uri_headers(tail[1:], text[:80])
        else:  # something after an IPv6 reference other than : ; ?
            raise ParseError(f"bad URI: {text[:80]!r}")
    return URI(scheme, user, password, host, port, params, headers, raw=text)


# ---------------------------------------------------------------------------
# comparison


def _norm_params(params: Params) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name, value in params:
        out.setdefault(name.lower(), None if value is None else unescape(value).lower())
    return out


def uri_equal(a: URI, b: URI) -> bool:
    """RFC 3261 19.1.4 URI equivalence.

    * scheme must match (a SIP and a SIPS URI are never equivalent);
    * user and password compare case-sensitively after unescaping;
    * host compares case-insensitively; an explicit port never equals an
      omitted one, even 5060;
    * user, ttl, method, maddr and transport parameters must match when present
      in either URI; any other parameter is compared only when in both;
    * headers must all be present in both and match (names case-insensitive,
      order irrelevant).

    tel: URIs compare the number with visual separators removed plus all
    parameters (RFC 3966 4, simplified).
    """
    if a.scheme != b.scheme:
        return False
    if a.scheme == "tel":
        def number(u: URI) -> str:
            return "".join(c for c in (u.user or "") if c not in "-.()").lower()

        return number(a) == number(b) and _norm_params(a.params) == _norm_params(b.params)
    if a.user_unescaped != b.user_unescaped:
        return False
    if (a.password is None) != (b.password is None) or (
        a.password is not None and unescape(a.password) != unescape(b.password or "")
    ):
        return False
    if a.host.lower() != b.host.lower() or a.port != b.port:
        return False
    pa, pb = _norm_params(a.params), _norm_params(b.params)
    for name in _MUST_MATCH_PARAMS:
        if pa.get(name, "\0") != pb.get(name, "\0"):
            return False
    for name, value in pa.items():
        if name in pb and pb[name] != value:
            return False
    if a.headers or b.headers:
        def norm_headers(u: URI) -> list[tuple[str, str]]:
            return sorted((n.lower(), unescape(v)) for n, v in u.headers)

        if norm_headers(a) != norm_headers(b):
            return False
    return True
