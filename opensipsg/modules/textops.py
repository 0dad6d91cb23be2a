"""textops -- text operations on the SIP message (OpenSIPS 1.6 names).

Overview
    Search, replace and substitute with regular expressions on the whole
    message, the body, the R-URI or its user part; add, insert and remove
    header fields; add headers to locally generated replies; inspect the
    method, the body and the Privacy header.

    Regular expressions are POSIX extended, case-insensitive and newline
    sensitive (REG_EXTENDED|REG_ICASE|REG_NEWLINE, as 1.6's fixups compile
    them): ``.`` never matches a line end and ``^``/``$`` match at line
    boundaries. :func:`posix_ere_to_python` (from
    :mod:`opensipsg.script.regex`, the one translator) turns the POSIX dialect
    (``[[:digit:]]`` classes, literal backslashes in brackets, GNU ``\\<``
    ``\\>`` word anchors) into Python ``re`` syntax.

    Differences from 1.6, on purpose: functions see the message as it stands
    now (1.6 searched the original buffer, so a header added by append_hf()
    could not be found or removed in the same route); remove_hf() also
    matches compact header forms.

Dependencies
    None.

Parameters
    None.

Functions (return codes: 1 true, -1 false; allowed routes in brackets;
unless noted: request, failure, onreply, branch and local routes)
    search(re)                       1 if re matches the message.
    search_body(re)                  1 if re matches the body.
    search_append(re, txt)           insert txt after the first match.
    search_append_body(re, txt)      the same in the body.
    replace(re, txt)                 replace the first match with txt.
    replace_all(re, txt)             replace every match.
    replace_body(re, txt)            replace the first match in the body.
    replace_body_all(re, txt)        every match in the body, line by line.
    replace_body_atonce(re, txt)     every match in the body taken as one
                                     string (``.`` matches line ends).
    subst('/re/repl/flags')          sed-like substitution on the message;
                                     flags i (ignore case), g (global),
                                     s (newline sensitive); \\0-\\9 back-refs.
    subst_body('/re/repl/flags')     the same on the body.
    subst_uri('/re/repl/flags')      on the R-URI [request, failure, branch].
    subst_user('/re/repl/flags')     on the R-URI user part [request,
                                     failure, branch]; an empty result
                                     removes the user part.
    append_hf(txt[, hdr])            add header(s) after the last header (or
                                     after the first ``hdr``; -1 if none).
    insert_hf(txt[, hdr])            add header(s) before the first header
                                     (or before the first ``hdr``).
    append_urihf(prefix, suffix)     add the header prefix + R-URI + suffix
                                     [request, failure, branch].
    append_to_reply(txt)             header(s) for the reply we generate
                                     locally [request, branch, error]; kept
                                     in ``ctx.extra['reply_headers']``.
    remove_hf(name)                  remove every ``name`` header; 1 if any.
    is_present_hf(name)              1 if a ``name`` header exists.
    is_method("INVITE|REGISTER")     1 if the method is one of those.
    has_body([mime])                 1 if there is a body (of that type;
                                     multipart/mixed parts are looked into).
    strip_body([mime])               remove the body (only of that type).
    add_body(text[, content_type])   set the body (and Content-Type).
    filter_body(content_type)        keep only the multipart part of that
                                     type; 1 if found.
    append_time()                    add ``Date:`` to the local reply.
    is_privacy(type)                 1 if Privacy lists that value.

    The SDP codec functions (codec_exists, codec_delete...) are not here yet.
"""
from __future__ import annotations

import email.utils
import logging
import re
import time
from functools import lru_cache
from typing import Any

from ..errors import ParseError
from ..registry import B, E, F, L, O, R, Module, function, register_module
from ..script.regex import compile_posix_ere, posix_ere_to_python  # noqa: F401 (public names)
from ..sip.message import Header, Request, normalize_name
from ..sip.uri import parse_uri

log = logging.getLogger(__name__)

ALL_MSG_ROUTES = R | F | O | B | L
ENCODING = "utf-8"
ERRORS = "surrogateescape"

# ---------------------------------------------------------------------------
# POSIX ERE -> Python re: script/regex.py translates; these adjust the line mode

@lru_cache(maxsize=512)
def _line_mode(regex: re.Pattern[str]) -> re.Pattern[str]:
    """The same pattern, newline sensitive (REG_NEWLINE), whatever the binder compiled."""
    if regex.flags & re.M and not regex.flags & re.S:
        return regex
    return re.compile(regex.pattern, (regex.flags | re.M) & ~re.S)


@lru_cache(maxsize=512)
def _whole_mode(regex: re.Pattern[str]) -> re.Pattern[str]:
    """The same pattern matching over line ends (no REG_NEWLINE)."""
    return re.compile(regex.pattern, (regex.flags | re.S) & ~re.M)


# ---------------------------------------------------------------------------
# subst expressions: /re/repl/flags


class SubstExpr:
    """A parsed ``/re/repl/flags`` expression (any delimiter, like sed)."""

    __slots__ = ("regex", "replacement", "global_")

    def __init__(self, regex: re.Pattern[str], replacement: str, global_: bool) -> None:
        self.regex = regex
        self.replacement = replacement
        self.global_ = global_

    def _expand(self, match: re.Match[str]) -> str:
        out = []
        text = self.replacement
        i = 0
        n = len(text)
        while i < n:
            ch = text[i]
            if ch == "\\" and i + 1 < n:
                nxt = text[i + 1]
                if nxt.isdigit():
                    index = int(nxt)
                    if index <= (match.re.groups or 0):
                        out.append(match.group(index) or "")
                elif nxt == "n":
                    out.append("\n")
                elif nxt == "r":
                    out.append("\r")
                elif nxt == "t":
                    out.append("\t")
                else:
                    out.append(nxt)
                i += 2
                continue
            out.append(ch)
            i += 1
        return "".join(out)

    def apply(self, text: str) -> tuple[str, int]:
        """(new text, number of replacements)."""
        return self.regex.subn(self._expand, text, count=0 if self.global_ else 1)


@lru_cache(maxsize=256)
def parse_subst(expr: str) -> SubstExpr:
    """Parse ``/re/repl/flags``; ValueError when malformed."""
    if len(expr) < 4:
        raise ValueError(f"bad subst expression {expr!r}")
    delim = expr[0]
    parts: list[str] = []
    current: list[str] = []
    i = 1
    while i < len(expr):
        ch = expr[i]
        if ch == "\\" and i + 1 < len(expr):
            if expr[i + 1] == delim:
                current.append(delim)
            else:
                current.append(ch + expr[i + 1])
            i += 2
            continue
        if ch == delim and len(parts) < 2:
            parts.append("".join(current))
            current = []
            i += 1
            continue
        current.append(ch)
        i += 1
    if len(parts) != 2:
        raise ValueError(f"bad subst expression {expr!r}")
    flags = "".join(current)
    if any(f not in "igs" for f in flags):
        raise ValueError(f"bad subst flags {flags!r}")
    try:
        regex = compile_posix_ere(parts[0], icase="i" in flags, newline="s" in flags)
    except re.error as exc:
        raise ValueError(f"bad regular expression in {expr!r}: {exc}") from None
    return SubstExpr(regex, parts[1], "g" in flags)


# ---------------------------------------------------------------------------
# message text helpers


def message_text(msg: Any) -> tuple[str, str]:
    """(start line + header lines + blank line, body) as text, header lines as received."""
    lines = [msg.first_line()]
    lines.extend(h.raw for h in msg.headers)
    head = "\r\n".join(lines) + "\r\n\r\n"
    return head, msg.body.decode(ENCODING, ERRORS)


def _split_lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").split("\n")


def parse_header_lines(text: str) -> list[Header]:
    """Header lines (CRLF or LF separated, folding allowed) -> Header objects."""
    headers: list[Header] = []
    for line in _split_lines(text):
        if not line.strip():
            continue
        if line[0] in " \t" and headers:
            prev = headers[-1]
            headers[-1] = Header(prev.name, f"{prev.value} {line.strip()}".strip(), f"{prev.raw}\r\n{line}")
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip() or " " in name.strip():
            raise ParseError("bad header line")
        headers.append(Header(normalize_name(name), value.strip(), line))
    return headers


def set_message_text(msg: Any, head: str, body: str) -> bool:
    """Replace the message's start line, headers and body from text; False if it no longer parses."""
    head = head.replace("\r\n", "\n")
    if head.endswith("\n\n"):
        head = head[:-2]
    lines = head.split("\n")
    if not lines or not lines[0].strip():
        return False
    start = lines[0]
    try:
        headers = parse_header_lines("\n".join(lines[1:]))
    except ParseError:
        return False
    if isinstance(msg, Request):
        parts = start.split(" ")
        if len(parts) != 3 or not parts[0] or not parts[1]:
            return False
        msg.method, msg.ruri, msg.version = parts
    else:
        version, _, rest = start.partition(" ")
        code, _, reason = rest.partition(" ")
        if len(code) != 3 or not code.isdigit():
            return False
        msg.version, msg.status, msg.reason = version, int(code), reason
    msg.headers = headers
    msg.body = body.encode(ENCODING, ERRORS)
    msg._changed()
    return True


def set_whole_text(msg: Any, text: str) -> bool:
    sep = text.find("\r\n\r\n")
    if sep < 0:
        return False
    return set_message_text(msg, text[: sep + 4], text[sep + 4 :])


def header_lines(text: str) -> list[str]:
    """Split script text such as "X: a\\r\\nY: b\\r\\n" into header lines (continuations kept)."""
    lines: list[str] = []
    for line in _split_lines(text):
        if not line:
            continue
        if line[0] in " \t" and lines:
            lines[-1] += "\r\n" + line
        else:
            lines.append(line)
    return lines


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def _multipart_parts(content_type: str, body: bytes) -> list[tuple[str, bytes]] | None:
    """(part content type, part content) for a multipart body; None if not multipart."""
    if not _media_type(content_type).startswith("multipart/"):
        return None
    match = re.search(r'boundary\s*=\s*("([^"]*)"|[^;\s]+)', content_type, re.I)
    if not match:
        return None
    boundary = (match.group(2) if match.group(2) is not None else match.group(1)).encode(ENCODING, ERRORS)
    parts: list[tuple[str, bytes]] = []
    for chunk in body.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk.lstrip(b"\n")
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            head, sep, content = chunk.partition(b"\n\n")
        ctype = "text/plain"
        for line in head.decode(ENCODING, ERRORS).replace("\r\n", "\n").split("\n"):
            name, _, value = line.partition(":")
            if name.strip().lower() in ("content-type", "c"):
                ctype = value.strip()
        if content.endswith(b"\r\n"):
            content = content[:-2]
        parts.append((ctype, content))
    return parts


PRIVACY_VALUES = frozenset({"header", "session", "user", "none", "critical", "id"})


@lru_cache(maxsize=64)
def _method_set(methods: str) -> frozenset[str]:
    """is_method()'s "INVITE|REGISTER" as a set (scripts hold a few of these constants)."""
    return frozenset(m.strip().upper() for m in methods.split("|") if m.strip())


def _method_set_fixup(args: tuple[Any, ...], binder: Any) -> tuple[Any, ...]:
    """is_method()'s argument as its set, once when the script is loaded."""
    return (_method_set(binder.arg_text(args[0])),)


@register_module
class TextopsModule(Module):
    name = "textops"
    params = {}

    # -- searching ------------------------------------------------------------
    @function("search", "lineregex", routes=ALL_MSG_ROUTES)
    def search(self, ctx: Any, regex: re.Pattern[str]) -> int:
        head, body = message_text(ctx.msg)
        return 1 if _line_mode(regex).search(head + body) else -1

    @function("search_body", "lineregex", routes=ALL_MSG_ROUTES)
    def search_body(self, ctx: Any, regex: re.Pattern[str]) -> int:
        _, body = message_text(ctx.msg)
        if not body:
            return -1
        return 1 if _line_mode(regex).search(body) else -1

    @function("search_append", "lineregex", "fmt", routes=ALL_MSG_ROUTES)
    def search_append(self, ctx: Any, regex: re.Pattern[str], text: Any) -> int:
        head, body = message_text(ctx.msg)
        whole = head + body
        match = _line_mode(regex).search(whole)
        if not match:
            return -1
        new = whole[: match.end()] + text.render(ctx) + whole[match.end() :]
        return 1 if set_whole_text(ctx.msg, new) else -1

    @function("search_append_body", "lineregex", "fmt", routes=ALL_MSG_ROUTES)
    def search_append_body(self, ctx: Any, regex: re.Pattern[str], text: Any) -> int:
        head, body = message_text(ctx.msg)
        match = _line_mode(regex).search(body)
        if not match:
            return -1
        return self._set_body_text(ctx, body[: match.end()] + text.render(ctx) + body[match.end() :])

    # -- replacing ------------------------------------------------------------
    def _replace_whole(self, ctx: Any, regex: re.Pattern[str], text: Any, count: int) -> int:
        head, body = message_text(ctx.msg)
        replacement = text.render(ctx)
        new, n = _line_mode(regex).subn(lambda m: replacement, head + body, count=count)
        if not n:
            return -1
        return 1 if set_whole_text(ctx.msg, new) else -1

    @function("replace", "lineregex", "fmt", routes=ALL_MSG_ROUTES)
    def replace(self, ctx: Any, regex: re.Pattern[str], text: Any) -> int:
        return self._replace_whole(ctx, regex, text, 1)

    @function("replace_all", "lineregex", "fmt", routes=ALL_MSG_ROUTES)
    def replace_all(self, ctx: Any, regex: re.Pattern[str], text: Any) -> int:
        return self._replace_whole(ctx, regex, text, 0)

    def _set_body_text(self, ctx: Any, body: str) -> int:
        ctx.msg.body = body.encode(ENCODING, ERRORS)
        ctx.msg._changed()
        return 1

    @function("replace_body", "lineregex", "fmt", routes=ALL_MSG_ROUTES)
    def replace_body(self, ctx: Any, regex: re.Pattern[str], text: Any) -> int:
        _, body = message_text(ctx.msg)
        replacement = text.render(ctx)
        new, n = _line_mode(regex).subn(lambda m: replacement, body, count=1)
        return self._set_body_text(ctx, new) if n else -1

    @function("replace_body_all", "lineregex", "fmt", routes=ALL_MSG_ROUTES)
    def replace_body_all(self, ctx: Any, regex: re.Pattern[str], text: Any) -> int:
        _, body = message_text(ctx.msg)
        replacement = text.render(ctx)
        rx = _line_mode(regex)
        total = 0
        out = []
        for line in body.splitlines(keepends=True):
            content = line.rstrip("\r\n")
            ending = line[len(content) :]
            new, n = rx.subn(lambda m: replacement, content)
            total += n
            out.append(new + ending)
        return self._set_body_text(ctx, "".join(out)) if total else -1

    @function("replace_body_atonce", "lineregex", "fmt", routes=ALL_MSG_ROUTES)
    def replace_body_atonce(self, ctx: Any, regex: re.Pattern[str], text: Any) -> int:
        _, body = message_text(ctx.msg)
        replacement = text.render(ctx)
        new, n = _whole_mode(regex).subn(lambda m: replacement, body)
        return self._set_body_text(ctx, new) if n else -1

    # -- subst ----------------------------------------------------------------
    @staticmethod
    def _subst(expr: str) -> SubstExpr | None:
        try:
            return parse_subst(expr)
        except ValueError as exc:
            log.error("subst: %s", exc)
            return None

    @function("subst", "str", routes=ALL_MSG_ROUTES)
    def subst(self, ctx: Any, expr: str) -> int:
        subst = self._subst(expr)
        if subst is None:
            return -1
        head, body = message_text(ctx.msg)
        new, n = subst.apply(head + body)
        if not n:
            return -1
        return 1 if set_whole_text(ctx.msg, new) else -1

    @function("subst_body", "str", routes=ALL_MSG_ROUTES)
    def subst_body(self, ctx: Any, expr: str) -> int:
        subst = self._subst(expr)
        if subst is None:
            return -1
        _, body = message_text(ctx.msg)
        new, n = subst.apply(body)
        return self._set_body_text(ctx, new) if n else -1

    @function("subst_uri", "str", routes=R | F | B)
    def subst_uri(self, ctx: Any, expr: str) -> int:
        subst = self._subst(expr)
        if subst is None:
            return -1
        new, n = subst.apply(ctx.ruri)
        if not n:
            return -1
        try:
            parse_uri(new)
        except ParseError:
            log.error("subst_uri: result %r is not a valid URI", new)
            return -1
        ctx.new_uri = new
        return 1

    @function("subst_user", "str", routes=R | F | B)
    def subst_user(self, ctx: Any, expr: str) -> int:
        subst = self._subst(expr)
        if subst is None:
            return -1
        ruri = ctx.ruri
        try:
            parsed = ctx.parsed_ruri()
        except ParseError:
            return -1
        scheme_len = ruri.find(":") + 1
        user = parsed.user or ""
        new_user, n = subst.apply(user)
        if not n:
            return -1
        rest = ruri[scheme_len:]
        if parsed.user is not None:
            at = rest.find("@")
            rest = rest[at + 1 :]
        new = ruri[:scheme_len] + (f"{new_user}@" if new_user else "") + rest
        try:
            parse_uri(new)
        except ParseError:
            log.error("subst_user: result %r is not a valid URI", new)
            return -1
        ctx.new_uri = new
        return 1

    # -- header fields ----------------------------------------------------------
    @function("append_hf", "fmt", "str", optional=1, routes=ALL_MSG_ROUTES)
    def append_hf(self, ctx: Any, text: Any, after: str | None = None) -> int:
        try:
            new = parse_header_lines("\r\n".join(header_lines(text.render(ctx))))
        except ParseError:
            log.error("append_hf: bad header text")
            return -1
        msg = ctx.msg
        if after is None:
            index = len(msg.headers)
        else:
            key = normalize_name(after)
            found = [i for i, h in enumerate(msg.headers) if h.name == key]
            if not found:
                return -1
            index = found[0] + 1
        msg.headers[index:index] = new
        msg._changed()
        return 1

    @function("insert_hf", "fmt", "str", optional=1, routes=ALL_MSG_ROUTES)
    def insert_hf(self, ctx: Any, text: Any, before: str | None = None) -> int:
        try:
            new = parse_header_lines("\r\n".join(header_lines(text.render(ctx))))
        except ParseError:
            log.error("insert_hf: bad header text")
            return -1
        msg = ctx.msg
        if before is None:
            index = 0
        else:
            key = normalize_name(before)
            found = [i for i, h in enumerate(msg.headers) if h.name == key]
            if not found:
                return -1
            index = found[0]
        msg.headers[index:index] = new
        msg._changed()
        return 1

    @function("append_urihf", "fmt", "fmt", routes=R | F | B)
    def append_urihf(self, ctx: Any, prefix: Any, suffix: Any) -> int:
        line = prefix.render(ctx) + ctx.ruri + suffix.render(ctx)
        try:
            new = parse_header_lines("\r\n".join(header_lines(line)))
        except ParseError:
            return -1
        ctx.msg.headers.extend(new)
        ctx.msg._changed()
        return 1

    @function("append_to_reply", "fmt", routes=R | B | E)
    def append_to_reply(self, ctx: Any, text: Any) -> int:
        ctx.extra.setdefault("reply_headers", []).extend(header_lines(text.render(ctx)))
        return 1

    @function("remove_hf", "str", routes=ALL_MSG_ROUTES)
    def remove_hf(self, ctx: Any, name: str) -> int:
        return 1 if ctx.msg.remove_headers(name) else -1

    @function("is_present_hf", "str", routes=ALL_MSG_ROUTES)
    def is_present_hf(self, ctx: Any, name: str) -> int:
        return 1 if ctx.msg.has(name) else -1

    @function("is_method", "str", routes=ALL_MSG_ROUTES, fixup=_method_set_fixup)
    def is_method(self, ctx: Any, methods: str | frozenset[str]) -> int:
        msg = ctx.msg
        try:
            method = msg.method
        except ParseError:
            return -1
        if methods.__class__ is str:  # called directly, not from the script
            methods = _method_set(methods)  # type: ignore[arg-type]
        return 1 if method.upper() in methods else -1

    # what the script compiler writes in place of a script call (no frame per test; see
    # _BlockWriter): the expression with the fixed-up set as {0}, and the code on ParseError
    is_method.script_inline = ("1 if ctx.msg.method.upper() in {0} else -1", -1)  # type: ignore[attr-defined]

    # -- body ---------------------------------------------------------------
    @function("has_body", "str", optional=1, routes=ALL_MSG_ROUTES)
    def has_body(self, ctx: Any, mime: str | None = None) -> int:
        msg = ctx.msg
        if not msg.body:
            return -1
        if mime is None:
            return 1
        wanted = mime.strip().lower()
        ctype = msg.get("content-type") or ""
        if _media_type(ctype) == wanted:
            return 1
        parts = _multipart_parts(ctype, msg.body)
        if parts and any(_media_type(t) == wanted for t, _ in parts):
            return 1
        return -1

    @function("strip_body", "str", optional=1, routes=ALL_MSG_ROUTES)
    def strip_body(self, ctx: Any, mime: str | None = None) -> int:
        msg = ctx.msg
        if not msg.body:
            return -1
        if mime is not None and _media_type(msg.get("content-type") or "") != mime.strip().lower():
            return -1
        msg.body = b""
        msg.remove_headers("content-type")
        msg._changed()
        return 1

    @function("add_body", "fmt", "fmt", optional=1, routes=ALL_MSG_ROUTES)
    def add_body(self, ctx: Any, text: Any, content_type: Any = None) -> int:
        msg = ctx.msg
        msg.body = text.render(ctx).encode(ENCODING, ERRORS)
        if content_type is not None:
            msg.set_header("Content-Type", content_type.render(ctx))
        msg._changed()
        return 1

    @function("filter_body", "str", routes=ALL_MSG_ROUTES)
    def filter_body(self, ctx: Any, content_type: str) -> int:
        msg = ctx.msg
        if not msg.body:
            return -1
        wanted = content_type.strip().lower()
        ctype = msg.get("content-type") or ""
        parts = _multipart_parts(ctype, msg.body)
        if parts is None:
            return 1 if _media_type(ctype) == wanted else -1
        for part_type, content in parts:
            if _media_type(part_type) == wanted:
                msg.body = content
                msg.set_header("Content-Type", part_type)
                msg._changed()
                return 1
        return -1

    # -- misc ---------------------------------------------------------------
    @function("append_time", routes=R | F | B | L)
    def append_time(self, ctx: Any) -> int:
        date = email.utils.formatdate(time.time(), usegmt=True)
        ctx.extra.setdefault("reply_headers", []).append(f"Date: {date}")
        return 1

    @function("is_privacy", "str", routes=ALL_MSG_ROUTES)
    def is_privacy(self, ctx: Any, value: str) -> int:
        wanted = value.strip().lower()
        if wanted not in PRIVACY_VALUES:
            log.error("is_privacy: unknown privacy value %r", value)
            return -1
        for header in ctx.msg.get_all("privacy"):
            for item in re.split(r"[;,]", header):
                if item.strip().lower() == wanted:
                    return 1
        return -1
