"""A transport for in-process Core tests: keeps every datagram sent, with its destination."""
from __future__ import annotations

from opensipsg.sip.message import parse


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, str, int]] = []

    def send(self, data: bytes, ip: str, port: int, conn: object = None) -> bool:
        self.sent.append((data, ip, port))
        return True

    def to(self, addr: tuple[str, int]) -> list:
        """The messages sent to ``addr``, parsed, in order."""
        return [parse(d) for d, ip, port in self.sent if (ip, port) == addr]

    def requests_to(self, addr: tuple[str, int], method: str) -> list:
        return [m for m in self.to(addr) if m.is_request and m.method == method]

    def replies_to(self, addr: tuple[str, int]) -> list:
        return [m for m in self.to(addr) if not m.is_request]
