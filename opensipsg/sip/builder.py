"""Build messages from other messages: replies (8.2.6), hop-by-hop ACKs (17.1.1.3)
and CANCELs (9.1). Pure functions on parsed messages."""
from __future__ import annotations

import hashlib
from functools import lru_cache

from ..errors import ParseError
from .message import ENCODING, ERRORS, Header, Request, Response, header_from_line

MAGIC_COOKIE = "z9hG4bK"

REASON_PHRASES = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 200: "OK", 202: "Accepted", 300: "Multiple Choices",
    301: "Moved Permanently", 302: "Moved Temporarily", 305: "Use Proxy",
    380: "Alternative Service", 400: "Bad Request", 401: "Unauthorized",
    402: "Payment Required", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 406: "Not Acceptable", 407: "Proxy Authentication Required",
    408: "Request Timeout", 410: "Gone", 413: "Request Entity Too Large",
    414: "Request-URI Too Long", 415: "Unsupported Media Type",
    416: "Unsupported URI Scheme", 420: "Bad Extension", 421: "Extension Required",
    423: "Interval Too Brief", 480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist", 482: "Loop Detected", 483: "Too Many Hops",
    484: "Address Incomplete", 485: "Ambiguous", 486: "Busy Here",
    487: "Request Terminated", 488: "Not Acceptable Here", 491: "Request Pending",
    493: "Undecipherable", 500: "Server Internal Error", 501: "Not Implemented",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Server Time-out",
    505: "Version Not Supported", 513: "Message Too Large", 600: "Busy Everywhere",
    603: "Decline", 604: "Does Not Exist Anywhere", 606: "Not Acceptable",
}


def reason_phrase(status: int) -> str:
    return REASON_PHRASES.get(status, "Unknown")


def make_branch(*parts: str) -> str:
    """A branch id with the RFC 3261 magic cookie, derived from ``parts``."""
    digest = hashlib.md5("\x00".join(parts).encode("utf-8", "surrogateescape")).hexdigest()
    return f"{MAGIC_COOKIE}{digest[:20]}"


def make_tag(*parts: str) -> str:
    return hashlib.md5("\x00".join(parts).encode("utf-8", "surrogateescape")).hexdigest()[:16]


# copied from the request into a reply as they came (To too, but it may get a tag)
_COPIED_INTO_REPLY = frozenset(("via", "from", "call-id", "cseq"))
_REPLY_COPIES = _COPIED_INTO_REPLY | {"to"}


def _tagged_to_line(to: Header, to_tag: str) -> str:
    """The request's To line, as spelled, with ``;tag=`` added (the reply's To)."""
    return f"{to.raw.partition(':')[0].strip()}: {to.value};tag={to_tag}"


def build_reply(
    request: Request,
    status: int,
    reason: str | None = None,
    to_tag: str | None = None,
    headers: list[str] | tuple[str, ...] = (),
    body: bytes = b"",
) -> Response:
    """A response to ``request`` (RFC 3261 8.2.6): Via, From, Call-ID, CSeq copied as
    they came (byte for byte), To copied with ``to_tag`` added when it has none
    (never on 100 Trying), then ``headers`` (full lines) and the body."""
    copied: list[Header] = []
    index: dict[str, int] = {}  # the reply's header index, built as it fills
    for header in request.headers:
        name = header.name
        if name in _COPIED_INTO_REPLY:
            index.setdefault(name, len(copied))
            copied.append(header)
        elif name == "to":
            index.setdefault(name, len(copied))
            if to_tag and status > 100 and not request.has_to_tag():
                copied.append(Header("to", f"{header.value};tag={to_tag}", _tagged_to_line(header, to_tag)))
            else:
                copied.append(header)
    for line in headers:
        header = header_from_line(line)
        index.setdefault(header.name, len(copied))
        copied.append(header)
    response = Response(status, reason if reason is not None else reason_phrase(status), copied, body)
    response._index = index
    return response


@lru_cache(maxsize=256)
def _line_name(spelled: str) -> str:
    """The normalized name of an extra reply line from its text before ':' (the
    same few lines come again and again: one dict probe instead of a Header)."""
    return header_from_line(f"{spelled}:").name


@lru_cache(maxsize=16)
def _plain_line(line: str) -> bool:
    """Whether an extra reply line goes out as it is: one good header line, not a
    Content-Length (build_reply_bytes' last_line: the Server line, checked once)."""
    if "\r" in line or "\n" in line:
        return False
    try:
        return header_from_line(line).name != "content-length"
    except ParseError:
        return False


def build_reply_bytes(request: Request, status: int, reason: str | None = None, to_tag: str | None = None,
                      headers: list[str] | tuple[str, ...] = (), body: bytes = b"",
                      last_line: str | None = None, own_lines: list[str] | tuple[str, ...] = ()) -> bytes:
    """``build_reply(...).to_bytes()`` without the Response: the datagram written
    straight from the request's header lines (stateless replies need no more).
    ``own_lines``: extra lines after ``headers`` that the caller wrote itself, each one
    good header line and not a Content-Length, so not checked (the registrar's Contact).
    ``last_line``: one more extra line after those (the Server line: the same text
    every time, so its check is remembered)."""
    if last_line is not None and not _plain_line(last_line):
        headers, own_lines, last_line = [*headers, *own_lines, last_line], (), None
    lines = [f"SIP/2.0 {status} {reason if reason is not None else reason_phrase(status)}"]
    add = lines.append
    tag_to = None  # decided at the first To line (not request.has_to_tag(), without its lookups)
    for header in request.headers:
        name = header.name
        if name in _REPLY_COPIES:
            if name == "to":
                if tag_to is None:
                    tag_to = bool(to_tag) and status > 100 and (
                        "tag" not in header.value.lower() or request.to.tag is None)
                if tag_to:  # (_tagged_to_line's text, without its frame)
                    add(f"{header.raw.partition(':')[0].strip()}: {header.value};tag={to_tag}")
                    continue
            add(header.raw)
    # the extra lines as head_text() writes them: one Content-Length, fitting the body
    length = len(body)
    has_length = False
    for line in headers:
        spelled, colon, value = line.partition(":")
        if not colon:
            raise ParseError("bad header line")
        if _line_name(spelled) == "content-length":  # (ParseError on a bad line, as build_reply)
            if has_length:
                continue
            has_length = True
            if value.strip() != str(length):
                add(f"{spelled.strip()}: {length}")
                continue
        add(line.rstrip("\r\n"))
    if own_lines:
        lines += own_lines
    if last_line is not None:
        add(last_line)
    if not has_length:
        add(f"Content-Length: {length}" if length else "Content-Length: 0")
    add("")
    add("")
    return "\r\n".join(lines).encode(ENCODING, ERRORS) + body


def build_ack(sent: Request, response: Response) -> Request:
    """The hop-by-hop ACK for a non-2xx final response to the INVITE ``sent`` (17.1.1.3)."""
    headers: list[Header] = []
    for header in sent.headers:
        if header.name == "via":
            headers.append(Header("via", str(sent.via1), f"Via: {sent.via1}"))
            break
    for header in sent.headers:
        if header.name in ("from", "call-id", "route", "max-forwards"):
            headers.append(header)
    to_value = response.get("to") or sent.get("to") or ""
    headers.append(Header("to", to_value, f"To: {to_value}"))
    number = sent.cseq.number
    headers.append(Header("cseq", f"{number} ACK", f"CSeq: {number} ACK"))
    return Request("ACK", sent.ruri, headers)


def build_cancel(sent: Request) -> Request:
    """A CANCEL for the request ``sent`` on one branch (9.1): same R-URI, top Via,
    From, To, Call-ID, CSeq number and Route set."""
    headers: list[Header] = []
    headers.append(Header("via", str(sent.via1), f"Via: {sent.via1}"))
    for header in sent.headers:
        if header.name in ("from", "to", "call-id", "route"):
            headers.append(header)
    headers.append(Header("max-forwards", "70", "Max-Forwards: 70"))
    number = sent.cseq.number
    headers.append(Header("cseq", f"{number} CANCEL", f"CSeq: {number} CANCEL"))
    return Request("CANCEL", sent.ruri, headers)
