"""TCP listener and connections: Content-Length framing (RFC 3261 18.3), replies over
the connection a request came in on, outgoing connections reused by peer address,
and an idle timeout (``tcp_connection_lifetime``)."""
from __future__ import annotations

import logging
import re
import socket
import time
from typing import Any, Callable

import gevent
from gevent.lock import Semaphore
from gevent.server import StreamServer

from .workers import shared_pool

log = logging.getLogger("opensipsg.transport")

MAX_MESSAGE = 65535
_CONTENT_LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*(\d+)[ \t]*$", re.I | re.M)


class FramingError(Exception):
    """The byte stream can not be cut into SIP messages: the connection must close."""


def split_stream(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Cut complete messages off the front of ``buffer``: (messages, rest).

    Keep-alive CRLFs between messages are skipped (RFC 5626 3.5.1 pings come
    back as the single item ``b"\\r\\n\\r\\n"`` so the caller can pong).
    """
    messages: list[bytes] = []
    while True:
        if buffer.startswith(b"\r\n\r\n"):
            messages.append(b"\r\n\r\n")
            buffer = buffer[4:]
            continue
        stripped = buffer.lstrip(b"\r\n")
        if not stripped:
            return messages, buffer if buffer in (b"\r", b"\r\n", b"\r\n\r") else b""
        buffer = stripped
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > MAX_MESSAGE:
                raise FramingError("headers too long")
            return messages, buffer
        head = buffer[:end]
        match = _CONTENT_LENGTH.search(head)
        if match is None:
            raise FramingError("missing Content-Length")
        length = int(match.group(1))
        total = end + 4 + length
        if total > MAX_MESSAGE:
            raise FramingError("message too large")
        if len(buffer) < total:
            return messages, buffer
        messages.append(buffer[:total])
        buffer = buffer[total:]


class Connection:
    def __init__(self, transport: "TCPTransport", sock: socket.socket, peer: tuple[str, int]) -> None:
        self.transport = transport
        self.sock = sock
        self.peer = peer
        self.last_used = time.monotonic()
        self.lock = Semaphore()
        self.closed = False
        # 1.6's tcp_send_timeout: a peer that stops reading can not block a sender for ever
        self.send_timeout = getattr(transport, "send_timeout", 10.0)

    def send(self, data: bytes) -> bool:
        try:
            with gevent.Timeout(self.send_timeout, OSError("send timeout")):
                with self.lock:
                    self.sock.sendall(data)
            self.last_used = time.monotonic()
            return True
        except OSError as exc:
            log.error("send failed: tcp to %s:%d: %s", self.peer[0], self.peer[1], exc)
            self.close()
            return False

    def serve(self) -> None:
        buffer = b""
        handler = self.transport.handler
        listener = self.transport.listener
        spawn = shared_pool().spawn
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                self.last_used = time.monotonic()
                try:
                    messages, buffer = split_stream(buffer + chunk)
                except FramingError as exc:
                    log.info("closing tcp connection from %s:%d: %s", self.peer[0], self.peer[1], exc)
                    break
                for message in messages:
                    if message == b"\r\n\r\n":
                        self.send(b"\r\n")
                        continue
                    spawn(handler, message, self.peer[0], self.peer[1], listener, self)
        except OSError:
            pass
        finally:
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.transport.forget(self)
        try:
            self.sock.close()
        except OSError:
            pass


class TCPTransport:
    proto = "tcp"

    def __init__(
        self,
        listener: Any,
        handler: Callable[..., None],
        lifetime: float = 120.0,
        connect_timeout: float = 10.0,
        send_timeout: float = 10.0,
    ) -> None:
        self.listener = listener
        self.handler = handler
        self.lifetime = lifetime
        self.connect_timeout = connect_timeout
        self.send_timeout = send_timeout
        self.connections: dict[tuple[str, int], Connection] = {}
        self.server = StreamServer((listener.host.strip("[]"), listener.port), self._accept)
        self.server.init_socket()  # bind now, so errors show at start-up
        self._reaper: gevent.Greenlet | None = None

    def start(self) -> None:
        self.server.start()
        self._reaper = gevent.spawn(self._reap_idle)

    def stop(self) -> None:
        self.server.stop(timeout=1)
        if self._reaper is not None:
            self._reaper.kill(block=False)
        for conn in list(self.connections.values()):
            conn.close()

    def _accept(self, sock: socket.socket, address: tuple[str, int]) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Connection(self, sock, (address[0], address[1]))
        self.connections[conn.peer] = conn
        conn.serve()

    def forget(self, conn: Connection) -> None:
        if self.connections.get(conn.peer) is conn:
            del self.connections[conn.peer]

    def _reap_idle(self) -> None:
        while True:
            gevent.sleep(min(self.lifetime, 10.0))
            limit = time.monotonic() - self.lifetime
            for conn in list(self.connections.values()):
                if conn.last_used < limit:
                    conn.close()

    def connection_to(self, ip: str, port: int) -> Connection | None:
        """An open connection to the peer, or a new one (None if it can not be opened)."""
        conn = self.connections.get((ip, port))
        if conn is not None and not conn.closed:
            return conn
        try:
            with gevent.Timeout(self.connect_timeout):
                sock = socket.create_connection((ip, port))
        except (OSError, gevent.Timeout) as exc:
            log.error("connect failed: tcp to %s:%d: %s", ip, port, exc)
            return None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Connection(self, sock, (ip, port))
        self.connections[conn.peer] = conn
        gevent.spawn(conn.serve)
        return conn

    def send(self, data: bytes, ip: str, port: int, conn: Connection | None = None) -> bool:
        if conn is None or conn.closed:
            conn = self.connection_to(ip, port)
            if conn is None:
                return False
        return conn.send(data)
