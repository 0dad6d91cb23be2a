"""UDP listener: one non-blocking socket, drained on every wake-up.

Waking a gevent socket costs tens of microseconds, so the reader reads every
datagram waiting before it sleeps again. Each datagram is handed to the
Core's ``receive`` in a greenlet of its own (a script may block on a
database), spawned with ``spawn_raw`` to keep the per-message cost low.
"""
from __future__ import annotations

import errno
import logging
import _socket  # the C socket: monkey-patching does not wrap it, so calls stay cheap
import socket
from typing import Any, Callable

import gevent
from gevent.socket import wait_read, wait_write

log = logging.getLogger("opensipsg.transport")

MAX_DATAGRAM = 65535


class UDPTransport:
    proto = "udp"

    def __init__(self, listener: Any, handler: Callable[..., None]) -> None:
        self.listener = listener
        self.handler = handler
        family = socket.AF_INET6 if ":" in listener.host else socket.AF_INET
        self.sock = _socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        except OSError:
            pass
        self.sock.bind((listener.host.strip("[]"), listener.port))
        self.sock.setblocking(False)
        self._reader: gevent.Greenlet | None = None

    def start(self) -> None:
        self._reader = gevent.spawn(self._serve)
        self._reader.link_exception(_log_crash)

    def stop(self) -> None:
        if self._reader is not None:
            self._reader.kill(block=False)
        self.sock.close()

    def _serve(self) -> None:
        sock = self.sock
        fileno = sock.fileno()
        recvfrom = sock.recvfrom
        spawn = gevent.spawn_raw
        handler = self.handler
        listener = self.listener
        while True:
            try:
                data, addr = recvfrom(MAX_DATAGRAM)
            except BlockingIOError:
                wait_read(fileno)
                continue
            except OSError as exc:
                if exc.errno in (errno.ECONNREFUSED, errno.EINTR):
                    continue  # ICMP unreachable from an earlier send
                raise
            spawn(handler, data, addr[0], addr[1], listener, None)

    def send(self, data: bytes, ip: str, port: int) -> bool:
        while True:
            try:
                self.sock.sendto(data, (ip, port))
                return True
            except BlockingIOError:
                wait_write(self.sock.fileno())
            except OSError as exc:
                log.error("send failed: udp to %s:%d: %s", ip, port, exc)
                return False


def _log_crash(greenlet: gevent.Greenlet) -> None:
    log.critical("udp reader died: %r", greenlet.exception)
