"""HTTP Digest authentication as SIP uses it (RFC 2617, RFC 3261 22.4).

Parsing of Authorization / Proxy-Authorization credentials and of
WWW-Authenticate / Proxy-Authenticate challenges, the HA1 / response
computations (MD5, MD5-sess; qop none, auth, auth-int) and building a
challenge the way OpenSIPS 1.6's auth module does.  Pure: no I/O, no clock
(the nonce comes in from the caller).
"""
from __future__ import annotations

import hashlib
import re
from typing import NamedTuple

from ..errors import ParseError

__all__ = [
    "Credentials",
    "parse_credentials",
    "parse_credentials_cached",
    "parse_challenge",
    "parse_auth_params",
    "ha1",
    "response",
    "build_challenge",
]

_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_REQUIRED = ("username", "realm", "nonce", "uri", "response")


_new_md5 = hashlib.md5


def _md5(text: str | bytes) -> str:
    if isinstance(text, str):
        text = text.encode("utf-8", "surrogateescape")
    return hashlib.md5(text).hexdigest()


class _CredentialFields(NamedTuple):
    scheme: str
    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str | None = None
    cnonce: str | None = None
    opaque: str | None = None
    qop: str | None = None
    nc: str | None = None
    params: dict[str, str] | None = None


class Credentials(_CredentialFields):
    """Parsed Digest credentials (immutable).  Values are unquoted and unescaped.

    ``params`` holds every parameter (lower-case names), including unknown
    ones; the named fields are the RFC 2617 directives.  A tuple underneath:
    a frozen dataclass spent ten times as long in its __init__ (one
    object.__setattr__ per field) on every authenticated request.
    """

    __slots__ = ()

    def __new__(cls, scheme: str, username: str, realm: str, nonce: str, uri: str, response: str,
                algorithm: str | None = None, cnonce: str | None = None, opaque: str | None = None,
                qop: str | None = None, nc: str | None = None,
                params: dict[str, str] | None = None) -> "Credentials":
        return _tuple_new(cls, (scheme, username, realm, nonce, uri, response, algorithm, cnonce,
                                opaque, qop, nc, {} if params is None else params))

    def __hash__(self) -> int:  # params (a dict) stays out of the hash, as before
        return hash(self[:11])


_tuple_new = tuple.__new__


# unrolled (runs of plain characters, then one escape): an alternation per character is ~10x slower
_QUOTED = re.compile(r'"([^"\\]*(?:\\.[^"\\]*)*)"', re.S)
_ESCAPED = re.compile(r"\\(.)", re.S)


def _skip_lws(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i] in " \t\r\n":
        i += 1
    return i


# one well-formed parameter and the separator after it: LWS, then a ',' that
# is not the last thing in the text, or the end
_PARAM = re.compile(
    r"""([A-Za-z0-9\-.!%*_+`'~]+)[ \t\r\n]*=[ \t\r\n]*"""
    r"""(?:"([^"\\]*(?:\\.[^"\\]*)*)"|([A-Za-z0-9\-.!%*_+`'~]+))"""
    r"""[ \t\r\n]*(?:,[ \t\r\n]*(?=[^ \t\r\n])|\Z)""",
    re.S,
)


def parse_auth_params(text: str) -> dict[str, str]:
    """``a="x", b=y`` -> {'a': 'x', 'b': 'y'} (names lower-cased, values unescaped).

    ParseError on a missing '=', a bad token, an unterminated quoted string, a
    duplicate parameter or junk between parameters.
    """
    # fast path: one regex match per parameter; anything it does not take
    # (malformed text, a duplicate) goes to the step-by-step parser, which
    # accepts the same language and says what is wrong
    params: dict[str, str] = {}
    match = _PARAM.match
    n = len(text)
    i = _skip_lws(text, 0)
    while i < n:
        m = match(text, i)
        if m is None:
            return _parse_auth_params_stepwise(text)
        name, value, token = m.groups()
        name = name.lower()
        if value is None:
            value = token
        elif "\\" in value:
            value = _ESCAPED.sub(r"\1", value)
        if name in params:
            return _parse_auth_params_stepwise(text)
        params[name] = value
        i = m.end()
    if not params:
        return _parse_auth_params_stepwise(text)
    return params


def _parse_auth_params_stepwise(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    n = len(text)
    i = _skip_lws(text, 0)
    if i >= n:
        raise ParseError("empty auth parameters")
    while True:
        m = _TOKEN.match(text, i)
        if not m:
            raise ParseError(f"bad auth parameter: {text[i:i + 40]!r}")
        name = m.group().lower()
        i = _skip_lws(text, m.end())
        if i >= n or text[i] != "=":
            raise ParseError(f"auth parameter without value: {name!r}")
        i = _skip_lws(text, i + 1)
        if i < n and text[i] == '"':
            q = _QUOTED.match(text, i)
            if q is None:
                raise ParseError("unterminated quoted string in auth header")
            value = q.group(1)
            if "\\" in value:
                value = _ESCAPED.sub(r"\1", value)
            i = q.end()
        else:
            m = _TOKEN.match(text, i)
            if not m:
                raise ParseError(f"bad auth parameter value for {name!r}")
            value = m.group()
            i = m.end()
        if name in params:
            raise ParseError(f"duplicate auth parameter: {name!r}")
        params[name] = value
        i = _skip_lws(text, i)
        if i >= n:
            return params
        if text[i] != ",":
            raise ParseError(f"junk in auth header: {text[i:i + 40]!r}")
        i = _skip_lws(text, i + 1)
        if i >= n:
            raise ParseError("trailing ',' in auth header")


def _split_scheme(value: str) -> tuple[str, str]:
    text = value.strip()
    m = _TOKEN.match(text)
    if not m:
        raise ParseError("missing auth scheme")
    scheme = m.group()
    rest = text[m.end() :]
    if scheme.lower() != "digest":
        raise ParseError(f"unsupported auth scheme: {scheme[:20]!r}")
    if not rest or rest[0] not in " \t\r\n":
        raise ParseError("bad Digest header")
    return scheme, rest


def parse_credentials(header_value: str) -> Credentials:
    """Parse ``Digest username="...", realm="...", ...`` (Authorization header value).

    username, realm, nonce, uri and response are required (they may be
    empty); ParseError if one is missing, on any syntax error and for a
    scheme other than Digest.
    """
    scheme, rest = _split_scheme(header_value)
    params = parse_auth_params(rest)
    for name in _REQUIRED:
        if name not in params:
            raise ParseError(f"Digest credentials without {name}")
    get = params.get
    return _tuple_new(Credentials, (
        scheme, params["username"], params["realm"], params["nonce"], params["uri"], params["response"],
        get("algorithm"), get("cnonce"), get("opaque"), get("qop"), get("nc"), params,
    ))


_PARSED_KEY = "digest_parsed_credentials"


def parse_credentials_cached(cache: dict[str, object], value: str) -> Credentials:
    """:func:`parse_credentials`, remembering the last result in ``cache`` (a request's
    script context ``extra``): authorize and the $au/$ar... pseudo-variables then parse
    the same header value once. One entry, keyed by the value itself: never stale."""
    found = cache.get(_PARSED_KEY)
    if found is not None and found[0] == value:  # type: ignore[index]
        return found[1]  # type: ignore[index,return-value]
    creds = parse_credentials(value)
    cache[_PARSED_KEY] = (value, creds)
    return creds


def parse_challenge(value: str) -> dict[str, str]:
    """Parse a ``Digest realm="...", nonce="..."`` challenge into its parameters.

    Keys are lower-case; values unquoted (e.g. ``{'realm': ..., 'nonce': ...,
    'qop': 'auth,auth-int', 'stale': 'true'}``).  ParseError on a non-Digest
    scheme, bad syntax or a missing realm/nonce.
    """
    _, rest = _split_scheme(value)
    params = parse_auth_params(rest)
    for name in ("realm", "nonce"):
        if name not in params:
            raise ParseError(f"Digest challenge without {name}")
    return params


def ha1(
    username: str,
    realm: str,
    password: str,
    algorithm: str = "MD5",
    nonce: str = "",
    cnonce: str = "",
) -> str:
    """HA1 = MD5(username:realm:password); for MD5-sess, MD5(HA1:nonce:cnonce)."""
    digest = _md5(f"{username}:{realm}:{password}")
    alg = (algorithm or "MD5").lower()
    if alg == "md5":
        return digest
    if alg == "md5-sess":
        return _md5(f"{digest}:{nonce}:{cnonce}")
    raise ParseError(f"unsupported Digest algorithm: {algorithm[:20]!r}")


def response(
    ha1: str,
    nonce: str,
    method: str,
    uri: str,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
    body: bytes | str = b"",
) -> str:
    """The request-digest of RFC 2617 3.2.2.1.

    qop None: MD5(HA1:nonce:HA2); qop 'auth' / 'auth-int':
    MD5(HA1:nonce:nc:cnonce:qop:HA2), where HA2 is MD5(method:uri) or, for
    auth-int, MD5(method:uri:MD5(body)).
    """
    if qop:
        lqop = qop.lower()
        if lqop == "auth":
            ha2 = _md5(f"{method}:{uri}")
        elif lqop == "auth-int":
            ha2 = _md5(f"{method}:{uri}:{_md5(body)}")
        else:
            raise ParseError(f"unsupported qop: {qop[:20]!r}")
        if nc is None or cnonce is None:
            raise ParseError("qop without nc or cnonce")
        return _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    # hashlib inline: this runs for every authenticated request
    ha2 = _new_md5(f"{method}:{uri}".encode("utf-8", "surrogateescape")).hexdigest()
    return _new_md5(f"{ha1}:{nonce}:{ha2}".encode("utf-8", "surrogateescape")).hexdigest()


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_challenge(
    realm: str,
    nonce: str,
    qop: str | None,
    stale: bool,
    opaque: str | None = None,
    algorithm: str | None = "MD5",
) -> str:
    """``Digest realm="...", nonce="..."[, opaque="..."][, qop="..."][, stale=true][, algorithm=MD5]``.

    The order follows OpenSIPS 1.6 (realm, nonce, qop, stale, algorithm), with
    opaque (which 1.6 never sends) after the nonce.  Pass ``algorithm=None``
    to leave it out.
    """
    # (one string grown in place, not a list and a join: one per 401/407); our nonces
    # are hex, so theirs needs no escaping unless it has a quote or a backslash
    text = f"Digest realm={_quote(realm)}, nonce=" + (
        f'"{nonce}"' if '"' not in nonce and "\\" not in nonce else _quote(nonce))
    if opaque is not None:
        text += f", opaque={_quote(opaque)}"
    if qop:
        text += f", qop={_quote(qop)}"
    if stale:
        text += ", stale=true"
    if algorithm:
        text += f", algorithm={algorithm}"
    return text
