"""Test doubles shared by the module tests: a FakeCore with the core API the
modules use, a Format double, and helpers that build a RouteContext around a
really parsed SIP message."""
from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import pytest

from opensipsg.registry import RouteType
from opensipsg.script.context import RouteContext
from opensipsg.sip.message import parse


class FakeStats:
    def __init__(self) -> None:
        self.values: defaultdict[str, int] = defaultdict(int)
        self.counts = self.values  # as Statistics.counts: hot paths add to it directly
        self.getters: dict[str, Any] = {}

    def register(self, name: str, getter: Any = None) -> None:
        self.values.setdefault(name, 0)
        if getter is not None:
            self.getters[name] = getter

    def inc(self, name: str, n: int = 1) -> None:
        self.values[name] = self.values.get(name, 0) + n

    def set(self, name: str, value: int) -> None:
        self.values[name] = value

    def get(self, name: str) -> int:
        if name in self.getters:
            return self.getters[name]()
        return self.values.get(name, 0)


class Reply:
    def __init__(self, status: int, reason: str, headers: list[str], body: bytes) -> None:
        self.status = status
        self.reason = reason
        self.headers = list(headers)
        self.body = body

    def header(self, name: str) -> str | None:
        prefix = name.lower() + ":"
        for line in self.headers:
            if line.lower().startswith(prefix):
                return line.split(":", 1)[1].strip()
        return None

    def __repr__(self) -> str:
        return f"<Reply {self.status} {self.reason} {self.headers}>"


class FakeCore:
    """The core API modules may call (see the module brief)."""

    def __init__(
        self,
        myself: tuple[tuple[str, int], ...] = (("10.0.0.1", 5060), ("proxy.example.com", 5060)),
        local: tuple[str, int, str] = ("10.0.0.1", 5060, "udp"),
    ) -> None:
        self.myself = {(h.lower(), p) for h, p in myself}
        self.local = local
        self.replies: list[Reply] = []
        self.stats = FakeStats()
        self.script_vars: dict[str, Any] = {}
        self.reply_result = 1

    def send_reply(self, ctx: Any, status: int, reason: str, headers: list[str] = [], body: bytes = b"",  # noqa: B006
                   own_lines: bool = False) -> int:
        self.replies.append(Reply(status, reason, headers, body))
        return self.reply_result

    def is_myself(self, host: str, port: int | None) -> bool:
        host = host.lower()
        if port is None:
            port = 5060
        return (host, port) in self.myself

    def local_address(self, ctx: Any) -> tuple[str, int, str]:
        return self.local

    @property
    def last_reply(self) -> Reply:
        return self.replies[-1]


class Fmt:
    """Format double: ``render(ctx)`` returns the text, or calls a function."""

    def __init__(self, text: str | None = None, fn: Any = None) -> None:
        self.text = text
        self.fn = fn
        self.static = text if fn is None else None

    def render(self, ctx: Any) -> str:
        if self.fn is not None:
            return self.fn(ctx)
        return self.text or ""


class PV:
    """PV accessor double."""

    def __init__(self, value: Any = None) -> None:
        self.value = value

    def get(self, ctx: Any) -> Any:
        return self.value

    def set(self, ctx: Any, value: Any) -> None:
        self.value = value


def sip(text: str) -> Any:
    """Parse a message written with LF line ends (converted to CRLF)."""
    head, sep, body = text.lstrip("\n").partition("\n\n")
    # keep Content-Length true to the body as written
    head = re.sub(r"(?mi)^(Content-Length|l):.*$", lambda m: f"{m.group(1)}: {len(body.encode())}", head)
    raw = head.replace("\n", "\r\n") + "\r\n\r\n" + body
    return parse(raw.encode())


def make_ctx(
    core: FakeCore,
    text: str,
    route_type: RouteType = RouteType.REQUEST,
    **kwargs: Any,
) -> RouteContext:
    msg = sip(text)
    kwargs.setdefault("src_ip", "192.0.2.10")
    kwargs.setdefault("src_port", 5062)
    kwargs.setdefault("local_ip", "10.0.0.1")
    kwargs.setdefault("local_port", 5060)
    return RouteContext(core, msg, route_type, **kwargs)


INVITE = """
INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK776asdhds
Max-Forwards: 70
To: Bob <sip:bob@example.com>
From: Alice <sip:alice@example.com>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.example.com
CSeq: 314159 INVITE
Contact: <sip:alice@192.0.2.10:5062>
Content-Type: application/sdp
Content-Length: 4

v=0
"""


@pytest.fixture
def core() -> FakeCore:
    return FakeCore()
