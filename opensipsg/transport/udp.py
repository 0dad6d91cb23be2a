"""UDP listener: one non-blocking socket, drained on every wake-up.

Waking a gevent greenlet costs tens of microseconds, so there is no reader
greenlet: a persistent libev watcher calls :meth:`UDPTransport._on_readable`
in the hub, which hands the socket to a pooled worker greenlet (workers.py).
The worker reads the datagrams waiting (a bounded batch) and passes each to
the Core's ``receive`` in turn, so a burst costs one switch into a worker and
one back, not two per datagram. When a handler blocks (a script waiting for a
database), the worker stays with it and control goes back to the hub; the
watcher fires again for the datagrams still waiting, and another worker
drains them, so one slow message never holds up the others.
"""
from __future__ import annotations

import errno
import logging
import _socket  # the C socket: monkey-patching does not wrap it, so calls stay cheap
import socket
from typing import Any, Callable

from gevent.socket import wait_write

from .workers import shared_pool

log = logging.getLogger("opensipsg.transport")

MAX_DATAGRAM = 65535
BATCH = 64  # datagrams read per wake-up before the loop looks at other work


class UDPTransport:
    proto = "udp"

    def __init__(self, listener: Any, handler: Callable[..., None]) -> None:
        self.listener = listener
        self.handler = handler
        family = socket.AF_INET6 if ":" in listener.host else socket.AF_INET
        self.sock = _socket.socket(family, socket.SOCK_DGRAM)
        # no SO_REUSEADDR (1.6's udp_init sets it): on UDP it only lets a second server bind
        # the same address and port and take part of its traffic without a word; a port in
        # use must stop the start instead (UDP has no TIME_WAIT, so restarts do not need it)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        except OSError:
            pass
        try:
            self.sock.bind((listener.host.strip("[]"), listener.port))
        except OSError:
            self.sock.close()
            raise
        self.sock.setblocking(False)
        self._watcher: Any = None

    def start(self) -> None:
        self._workers = shared_pool()
        self._watcher = self._workers.hub.loop.io(self.sock.fileno(), 1)
        self._watcher.start(self._on_readable)

    def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        self.sock.close()

    def _on_readable(self) -> None:
        """Watcher callback, in the hub: a worker drains the socket."""
        self._workers.run(self._drain)

    def _drain(self) -> None:
        """In a worker: handle what is waiting, a bounded batch (the loop calls again while
        data is left, so timers and other sockets get their turn)."""
        recvfrom = self.sock.recvfrom
        handler = self.handler
        listener = self.listener
        for _ in range(BATCH):
            try:
                data, addr = recvfrom(MAX_DATAGRAM)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in (errno.ECONNREFUSED, errno.EINTR):
                    continue  # ICMP unreachable from an earlier send
                log.error("udp receive failed on %s: %s", self.listener.name, exc)
                return
            try:
                handler(data, addr[0], addr[1], listener, None)
            except Exception:
                log.exception("unhandled error in a message handler")

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

