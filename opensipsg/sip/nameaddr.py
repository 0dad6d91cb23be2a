"""name-addr / addr-spec header values (From, To, Contact, Route...) and
header parameter lists (RFC 3261 20.10, 25.1).

Pure: no I/O.  The URI inside is kept as text (``uri_text``) and parsed only
when asked for (``NameAddr.uri``), so a proxy reading a From tag does not pay
for the URI.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from functools import lru_cache

from ..errors import ParseError
from .params import Params, drop_param, find_param, params_text, set_param
from .uri import URI, parse_uri

__all__ = [
    "NameAddr",
    "parse_name_addr",
    "parse_params",
    "split_header_values",
    "quote_string",
    "unquote_string",
]


# token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")
# A generic-param value that is not quoted: token / host (host adds ':' '[' ']').
# Leniently we refuse only what cannot be inside an unquoted value.
_BAD_VALUE_CHAR = re.compile(r"[\x00-\x20\x7f;,\"<>\\]")
_URI_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*:")
_BAD_URI_TEXT_CHAR = re.compile(r"[\x00-\x20\x7f<>\"]")
_BAD_DISPLAY_CHAR = re.compile(r"[\x00-\x08\x0a-\x1f\x7f<>\"]")
# Fast paths for the common shapes, in one match each. Their classes are
# printable ASCII only, so no whitespace (which the full parsers strip) and
# nothing the full parsers refuse can be inside.
_VALUE_CHARS = "".join(re.escape(chr(c)) for c in range(0x21, 0x7F) if chr(c) not in ';,"<>\\')
_SIMPLE_PARAM = rf"[A-Za-z0-9\-.!%*_+`'~]+(?:=[{_VALUE_CHARS}]*)?"
_SIMPLE_PARAMS = re.compile(rf";?{_SIMPLE_PARAM}(?:;{_SIMPLE_PARAM})*\Z")
# "<scheme:uri>" at the start: the '>' matched is the first one, as in the full parser
_ANGLE_URI = re.compile(r"<([A-Za-z][A-Za-z0-9+\-.]*:[!#-;=?-~]*)>")


def quote_string(text: str) -> str:
    """``text`` as a quoted-string, escaping '"' and '\\'."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unquote_string(text: str) -> str:
    """Strip surrounding quotes (if any) and resolve backslash escapes."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1]
    if "\\" not in text:
        return text
    out = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n:
            i += 1
            ch = text[i]
        out.append(ch)
        i += 1
    return "".join(out)


def _quoted_end(text: str, start: int) -> int:
    """Index just past the quoted-string that opens at ``text[start] == '"'``."""
    i = start + 1
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == '"':
            return i + 1
        i += 1
    raise ParseError("unterminated quoted string")


@dataclass(frozen=True, slots=True)
class NameAddr:
    """``"Bob" <sip:bob@x>;tag=1``, ``sip:bob@x;tag=1`` or ``*``.

    ``display`` is the display name as written without its quotes (escapes
    kept); None when there is none.  ``params`` are the header parameters
    after the URI.  ``angle`` says whether the URI was inside <>.
    """

    display: str | None
    uri_text: str
    params: Params = ()
    angle: bool = True
    raw: str = field(default="", compare=False)

    def __init__(self, display: str | None, uri_text: str, params: Params = (), angle: bool = True,
                 raw: str = "") -> None:
        # (frozen: the slots are set through their descriptors, a third of the cost
        # of dataclass's object.__setattr__ per field; From, To, Contact each make one)
        _set_display(self, display)
        _set_uri_text(self, uri_text)
        _set_params(self, params)
        _set_angle(self, angle)
        _set_raw(self, raw)

    @property
    def uri(self) -> URI:
        """The parsed URI (ParseError if it is not sip/sips/tel or is broken)."""
        return parse_uri(self.uri_text)

    @property
    def is_star(self) -> bool:
        return self.uri_text == "*"

    @property
    def tag(self) -> str | None:
        # (find_param inlined: To/From tags are read several times per message)
        for name, value in self.params:
            if name == "tag" or name.lower() == "tag":
                return "" if value is None else value
        return None

    @property
    def display_unescaped(self) -> str | None:
        return None if self.display is None else unquote_string(self.display)

    def param(self, name: str) -> str | None:
        """Header parameter ``name`` (case-insensitive): None if absent, '' if value-less."""
        return find_param(self.params, name)

    def has_param(self, name: str) -> bool:
        return find_param(self.params, name) is not None

    def replace(self, **changes: object) -> NameAddr:
        """A copy with ``changes`` applied; it serializes in canonical form."""
        changes["raw"] = ""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def with_display(self, text: str | None) -> NameAddr:
        """Set the display name from plain text (quotes/backslashes escaped)."""
        if text is None:
            return self.replace(display=None)
        return self.replace(display=quote_string(text)[1:-1], angle=True)

    def with_param(self, name: str, value: str | None = None) -> NameAddr:
        return self.replace(params=set_param(self.params, name, value))

    def without_param(self, name: str) -> NameAddr:
        params = drop_param(self.params, name)
        return self if params is self.params else self.replace(params=params)

    def build(self) -> str:
        """Canonical text from the fields (ignores ``raw``).

        The URI is put in angle brackets when there is a display name or when
        ``angle`` is set; a display name is always written quoted.
        """
        if self.uri_text == "*":
            return "*"
        parts = []
        if self.display is not None:
            parts.append(f'"{self.display}" ')
        if self.angle or self.display is not None:
            parts.append(f"<{self.uri_text}>")
        else:
            parts.append(self.uri_text)
        parts.append(params_text(self.params))
        return "".join(parts)

    def __str__(self) -> str:
        return self.raw or self.build()


_set_display, _set_uri_text, _set_params, _set_angle, _set_raw = (
    NameAddr.__dict__[f.name].__set__ for f in dataclasses.fields(NameAddr)
)


def parse_params(text: str) -> Params:
    """``;a=b;c;d="x;y"`` -> (('a', 'b'), ('c', None), ('d', '"x;y"')).

    The leading ';' is optional; whitespace around ';' and '=' is skipped;
    quoted values keep their quotes and escapes; ``a=`` gives ``('a', '')``.
    ParseError on an empty or non-token name, a broken value or an
    unterminated quote.
    """
    if _SIMPLE_PARAMS.match(text):  # no quotes, no whitespace, every name a token
        params: list[tuple[str, str | None]] = []
        for item in (text[1:] if text[0] == ";" else text).split(";"):
            name, eq, value_text = item.partition("=")
            params.append((name, value_text if eq else None))
        return tuple(params)
    return _parse_params_full(text)


def _parse_params_full(text: str) -> Params:
    params: list[tuple[str, str | None]] = []
    stripped = text.strip()
    if stripped.startswith(";"):
        text = stripped[1:]
        if not text.strip():
            raise ParseError("empty parameter")
    elif not stripped:
        return ()
    else:
        text = stripped
    if '"' not in text:
        # fast path: no quoted values, so ';' always separates
        for item in text.split(";"):
            name, eq, value_text = item.partition("=")
            name = name.strip()
            if not name or not _TOKEN.match(name):
                raise ParseError(f"bad parameter name: {text[:80]!r}")
            if not eq:
                params.append((name, None))
                continue
            value_text = value_text.strip()
            if _BAD_VALUE_CHAR.search(value_text):
                raise ParseError(f"bad parameter value: {text[:80]!r}")
            params.append((name, value_text))
        return tuple(params)
    n = len(text)
    i = 0
    while True:
        # one parameter starting at i
        while i < n and text[i] in " \t\r\n":
            i += 1
        start = i
        while i < n and text[i] not in "=;":
            i += 1
        name = text[start:i].strip()
        if not name or not _TOKEN.match(name):
            raise ParseError(f"bad parameter name: {text[:80]!r}")
        value: str | None = None
        if i < n and text[i] == "=":
            i += 1
            while i < n and text[i] in " \t\r\n":
                i += 1
            if i < n and text[i] == '"':
                end = _quoted_end(text, i)
                value = text[i:end]
                i = end
            else:
                start = i
                while i < n and text[i] != ";":
                    i += 1
                value = text[start:i].rstrip(" \t\r\n")
                if _BAD_VALUE_CHAR.search(value):
                    raise ParseError(f"bad parameter value: {text[:80]!r}")
            while i < n and text[i] in " \t\r\n":
                i += 1
        params.append((name, value))
        if i >= n:
            break
        if text[i] != ";":
            raise ParseError(f"bad parameter list: {text[:80]!r}")
        i += 1
    return tuple(params)


def _check_uri_text(uri_text: str, text: str) -> None:
    if not _URI_SCHEME.match(uri_text) or _BAD_URI_TEXT_CHAR.search(uri_text):
        raise ParseError(f"bad URI in address: {text[:80]!r}")


@lru_cache(maxsize=1024)  # From/To/Route values repeat across a dialog's messages; NameAddr is immutable
def parse_name_addr(text: str) -> NameAddr:
    """Parse a name-addr, an addr-spec or a Contact ``*``.

    For an addr-spec (no angle brackets) every ';' parameter after the URI is
    a header parameter (RFC 3261 20.10).  The URI itself is only checked to
    look like ``scheme:...``; ``NameAddr.uri`` parses it fully.
    """
    s = text.strip()
    if not s:
        raise ParseError("empty address")
    if s == "*":
        return NameAddr(None, "*", (), False, raw=s)
    if s[0] == "<":
        angle = _ANGLE_URI.match(s)
        if angle is not None:  # "<uri>;params", the usual shape
            tail = s[angle.end() :].strip()
            if tail and tail[0] != ";":
                raise ParseError(f"junk after '>': {s[:80]!r}")
            return NameAddr(None, angle.group(1), parse_params(tail) if tail else (), True, raw=s)
    return _parse_name_addr_full(s)


def _parse_name_addr_full(s: str) -> NameAddr:
    display: str | None = None
    if s[0] == '"':
        end = _quoted_end(s, 0)
        display = s[1 : end - 1]
        rest = s[end:].lstrip()
        if not rest.startswith("<"):
            raise ParseError(f"display name without <URI>: {s[:80]!r}")
        lt = 0
        s_rest = rest
    else:
        lt = s.find("<")
        s_rest = s
        if lt >= 0:
            name = s[:lt].strip()
            if name:
                if _BAD_DISPLAY_CHAR.search(name):
                    raise ParseError(f"bad display name: {s[:80]!r}")
                display = name
            s_rest = s[lt:]
            lt = 0
    if s_rest.startswith("<"):
        gt = s_rest.find(">")
        if gt < 0:
            raise ParseError(f"missing '>' in address: {s[:80]!r}")
        uri_text = s_rest[1:gt].strip()
        _check_uri_text(uri_text, s)
        tail = s_rest[gt + 1 :].strip()
        if tail and tail[0] != ";":
            raise ParseError(f"junk after '>': {s[:80]!r}")
        params = parse_params(tail) if tail else ()
        return NameAddr(display, uri_text, params, True, raw=s)
    # addr-spec: the URI ends at the first ';' after the user part (if any)
    at = s.find("@")
    semi = s.find(";", at if at >= 0 else 0)
    if semi >= 0:
        uri_text, params_text = s[:semi].rstrip(), s[semi:]
        params = parse_params(params_text)
    else:
        uri_text, params = s, ()
    _check_uri_text(uri_text, s)
    if "?" in uri_text or "," in uri_text:
        # RFC 3261 20: such URIs must be enclosed in angle brackets.
        raise ParseError(f"URI with '?' or ',' must be in <>: {s[:80]!r}")
    return NameAddr(None, uri_text, params, False, raw=s)


def split_header_values(text: str) -> list[str]:
    """Split ``a, "b,c" <sip:x>, <sip:y,z>`` at the commas that separate elements.

    Commas inside quoted strings (with backslash escapes) and inside <...>
    do not split.  Elements are stripped; empty ones are dropped.  Never
    raises: an unterminated quote or '<' just runs to the end.
    """
    if "," not in text:
        stripped = text.strip()
        return [stripped] if stripped else []
    if '"' not in text and "<" not in text:
        return [part for part in (p.strip() for p in text.split(",")) if part]
    out: list[str] = []
    start = 0
    i = 0
    n = len(text)
    in_quote = False
    in_angle = False
    while i < n:
        ch = text[i]
        if in_quote:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_quote = False
        elif in_angle:
            if ch == ">":
                in_angle = False
        elif ch == '"':
            in_quote = True
        elif ch == "<":
            in_angle = True
        elif ch == ",":
            part = text[start:i].strip()
            if part:
                out.append(part)
            start = i + 1
        i += 1
    part = text[start:].strip()
    if part:
        out.append(part)
    return out
