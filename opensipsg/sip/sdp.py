"""A small SDP model (RFC 4566) for the RTP relay and NAT helpers.

Every line is kept in order together with its own line ending, so an
untouched description serializes back byte-identical.  The rewriting methods
(``with_connection``, ``with_media_port``) return new descriptions in which
only the affected lines changed.  Pure: no I/O.
"""
from __future__ import annotations

from dataclasses import dataclass
from string import ascii_letters

from ..errors import ParseError

__all__ = ["SdpLine", "Connection", "Media", "SessionDescription", "parse_sdp"]


@dataclass(frozen=True, slots=True)
class SdpLine:
    """One ``<type>=<value>`` line; ``eol`` is its terminator ('\\r\\n', '\\n' or '')."""

    type: str
    value: str
    eol: str = "\r\n"

    def __str__(self) -> str:
        return f"{self.type}={self.value}{self.eol}"


@dataclass(frozen=True, slots=True)
class Connection:
    """``c=<nettype> <addrtype> <address>``; ``address`` keeps any /ttl/count suffix."""

    nettype: str
    addrtype: str
    address: str

    @property
    def host(self) -> str:
        """The address without a multicast ``/ttl[/count]`` suffix."""
        return self.address.partition("/")[0]


def _parse_connection(value: str) -> Connection:
    parts = value.split()
    if len(parts) != 3:
        raise ParseError(f"bad SDP c= line: {value[:80]!r}")
    return Connection(parts[0], parts[1], parts[2])


@dataclass(frozen=True, slots=True)
class Media:
    """One media section: its m= line and the lines up to the next m=."""

    index: int
    media_type: str
    port: int
    port_count: int | None
    proto: str
    formats: tuple[str, ...]
    lines: tuple[SdpLine, ...]  # lines[0] is the m= line

    @property
    def connection(self) -> Connection | None:
        """The media-level c= line, if any (the first one)."""
        for line in self.lines:
            if line.type == "c":
                return _parse_connection(line.value)
        return None

    @property
    def attributes(self) -> tuple[tuple[str, str | None], ...]:
        """``a=name:value`` / ``a=flag`` lines as (name, value-or-None)."""
        out = []
        for line in self.lines:
            if line.type == "a":
                name, colon, value = line.value.partition(":")
                out.append((name, value if colon else None))
        return tuple(out)

    def attribute(self, name: str) -> str | None:
        """First ``a=name[:value]``: its value, '' for a flag, None if absent."""
        for attr_name, value in self.attributes:
            if attr_name == name:
                return "" if value is None else value
        return None

    @property
    def rtpmap(self) -> dict[str, str]:
        """payload type -> ``encoding/clock[/channels]`` from a=rtpmap lines."""
        out: dict[str, str] = {}
        for name, value in self.attributes:
            if name == "rtpmap" and value:
                payload, _, encoding = value.partition(" ")
                out[payload] = encoding.strip()
        return out

    @property
    def direction(self) -> str:
        """sendrecv / sendonly / recvonly / inactive (media level; default sendrecv)."""
        for name, value in self.attributes:
            if value is None and name in ("sendrecv", "sendonly", "recvonly", "inactive"):
                return name
        return "sendrecv"


def _parse_media_line(value: str, index: int, lines: tuple[SdpLine, ...]) -> Media:
    parts = value.split()
    if len(parts) < 3:
        raise ParseError(f"bad SDP m= line: {value[:80]!r}")
    port_text, slash, count_text = parts[1].partition("/")
    if not (port_text.isascii() and port_text.isdigit()) or len(port_text) > 5:
        raise ParseError(f"bad SDP media port: {value[:80]!r}")
    port = int(port_text)
    if port > 65535:
        raise ParseError(f"bad SDP media port: {value[:80]!r}")
    count: int | None = None
    if slash:
        if not (count_text.isascii() and count_text.isdigit()) or len(count_text) > 5:
            raise ParseError(f"bad SDP media port count: {value[:80]!r}")
        count = int(count_text)
    return Media(index, parts[0], port, count, parts[2], tuple(parts[3:]), lines)


@dataclass(frozen=True, slots=True)
class SessionDescription:
    """All lines of an SDP body, in order (``trailer``: blank lines after the last)."""

    lines: tuple[SdpLine, ...]
    trailer: str = ""

    # -- structure -----------------------------------------------------------
    def _media_starts(self) -> list[int]:
        return [i for i, line in enumerate(self.lines) if line.type == "m"]

    @property
    def session_lines(self) -> tuple[SdpLine, ...]:
        starts = self._media_starts()
        return self.lines[: starts[0]] if starts else self.lines

    @property
    def media(self) -> tuple[Media, ...]:
        starts = self._media_starts()
        out = []
        for index, start in enumerate(starts):
            end = starts[index + 1] if index + 1 < len(starts) else len(self.lines)
            section = self.lines[start:end]
            out.append(_parse_media_line(section[0].value, index, section))
        return tuple(out)

    @property
    def connection(self) -> Connection | None:
        """The session-level c= line, if any."""
        for line in self.session_lines:
            if line.type == "c":
                return _parse_connection(line.value)
        return None

    @property
    def connection_address(self) -> str | None:
        """Session-level c= address (without /ttl), else the first media's, else None."""
        conn = self.connection
        if conn is None:
            for media in self.media:
                conn = media.connection
                if conn is not None:
                    break
        return None if conn is None else conn.host

    def first(self, line_type: str) -> str | None:
        """Value of the first session-level line of ``line_type`` (e.g. 'o', 's')."""
        for line in self.session_lines:
            if line.type == line_type:
                return line.value
        return None

    # -- rewriting -------------------------------------------------------------
    def with_connection(self, address: str, media_index: int | None = None) -> SessionDescription:
        """Rewrite c= addresses to ``address`` (addrtype IP6 if it has ':', else IP4).

        With ``media_index`` None every c= line (session and media level) is
        rewritten; otherwise only that media section's c= lines.  The nettype
        is kept; a multicast /ttl suffix is dropped.
        """
        addrtype = "IP6" if ":" in address else "IP4"
        starts = self._media_starts()
        lo, hi = 0, len(self.lines)
        if media_index is not None:
            if not 0 <= media_index < len(starts):
                raise IndexError(f"no media section {media_index}")
            lo = starts[media_index]
            hi = starts[media_index + 1] if media_index + 1 < len(starts) else len(self.lines)
        lines = list(self.lines)
        for i in range(lo, hi):
            line = lines[i]
            if line.type == "c":
                conn = _parse_connection(line.value)
                lines[i] = SdpLine("c", f"{conn.nettype} {addrtype} {address}", line.eol)
        return SessionDescription(tuple(lines), self.trailer)

    def with_media_port(self, index: int, port: int) -> SessionDescription:
        """Rewrite the port of media section ``index`` (a /count suffix is kept)."""
        if not 0 <= port <= 65535:
            raise ValueError(f"bad port {port}")
        starts = self._media_starts()
        if not 0 <= index < len(starts):
            raise IndexError(f"no media section {index}")
        pos = starts[index]
        line = self.lines[pos]
        parts = line.value.split(" ")
        # parts[1] is the port when the line uses single spaces (RFC 4566);
        # fall back to whitespace splitting for sloppy senders.
        if len(parts) < 3 or not parts[1]:
            parts = line.value.split()
        _, slash, count = parts[1].partition("/")
        parts[1] = f"{port}/{count}" if slash else str(port)
        lines = list(self.lines)
        lines[pos] = SdpLine("m", " ".join(parts), line.eol)
        return SessionDescription(tuple(lines), self.trailer)

    # -- text --------------------------------------------------------------------
    def __str__(self) -> str:
        text = "".join(f"{line.type}={line.value}{line.eol}" for line in self.lines)
        return text + self.trailer

    def encode(self) -> bytes:
        return str(self).encode("utf-8", "surrogateescape")


def parse_sdp(body: str) -> SessionDescription:
    """Split an SDP body into lines; ParseError(400) unless every line is ``x=...``.

    Lines may end in CRLF or a bare LF (each line keeps its own ending); the
    first line must be ``v=``; every m= and c= line must be well formed.
    """
    if not body:
        raise ParseError("empty SDP body")
    lines: list[SdpLine] = []
    pos = 0
    n = len(body)
    trailer = ""
    while pos < n:
        start = pos
        nl = body.find("\n", pos)
        if nl < 0:
            text, eol, pos = body[pos:], "", n
        elif nl > pos and body[nl - 1] == "\r":
            text, eol, pos = body[pos : nl - 1], "\r\n", nl + 1
        else:
            text, eol, pos = body[pos:nl], "\n", nl + 1
        if not text and lines and not body[start:].strip("\r\n"):
            # blank lines at the very end (some phones add one): keep them verbatim
            trailer = body[start:]
            break
        if len(text) < 2 or text[1] != "=" or text[0] not in ascii_letters:
            raise ParseError(f"bad SDP line: {text[:80]!r}")
        if "\r" in text or "\x00" in text:
            raise ParseError(f"bad SDP line: {text[:80]!r}")
        lines.append(SdpLine(text[0], text[2:], eol))
    if lines[0].type != "v":
        raise ParseError("SDP does not start with v=")
    sdp = SessionDescription(tuple(lines), trailer)
    # validate the lines that the accessors parse, so they cannot fail later
    index = 0
    for line in lines:
        if line.type == "m":
            _parse_media_line(line.value, index, (line,))
            index += 1
        elif line.type == "c":
            _parse_connection(line.value)
    return sdp
