"""UDPTransport: a burst is drained by one worker; a blocked handler does not hold up the rest."""
from __future__ import annotations

import errno
import socket
from types import SimpleNamespace

import gevent
from gevent.event import Event
from greenlet import getcurrent

from opensipsg.transport.udp import UDPTransport


def _transport(handler):  # type: ignore[no-untyped-def]
    listener = SimpleNamespace(host="127.0.0.1", port=0, name="udp:127.0.0.1")
    transport = UDPTransport(listener, handler)
    listener.port = transport.sock.getsockname()[1]
    transport.start()
    return transport, listener.port


def _send(port: int, *datagrams: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for data in datagrams:
            sock.sendto(data, ("127.0.0.1", port))


def test_a_burst_is_handled_in_order_by_one_worker():
    seen = []
    transport, port = _transport(lambda data, ip, port, listener, conn: seen.append((data, getcurrent())))
    try:
        _send(port, b"one", b"two", b"three")
        gevent.sleep(0.05)
        assert [data for data, _ in seen] == [b"one", b"two", b"three"]
        assert len({id(worker) for _, worker in seen}) == 1
    finally:
        transport.stop()


def test_a_blocked_handler_does_not_stop_the_datagrams_behind_it():
    release = Event()
    seen = []

    def handler(data, ip, port, listener, conn):  # type: ignore[no-untyped-def]
        seen.append(data)
        if data == b"slow":
            release.wait(5)
            seen.append(b"slow done")

    transport, port = _transport(handler)
    try:
        _send(port, b"slow", b"quick", b"quicker")
        gevent.sleep(0.05)
        assert seen == [b"slow", b"quick", b"quicker"]
        release.set()
        gevent.sleep(0.01)
        assert seen[-1] == b"slow done"
    finally:
        transport.stop()


def test_a_handler_error_is_logged_and_the_next_datagram_handled(caplog):
    seen = []

    def handler(data, ip, port, listener, conn):  # type: ignore[no-untyped-def]
        if data == b"bad":
            raise ValueError("boom")
        seen.append(data)

    transport, port = _transport(handler)
    try:
        _send(port, b"bad", b"good")
        gevent.sleep(0.05)
        assert seen == [b"good"]
        assert "boom" in caplog.text
    finally:
        transport.stop()



def _assert_bind_refused(port: int) -> None:
    listener = SimpleNamespace(host="127.0.0.1", port=port, name="udp:127.0.0.1")
    try:
        UDPTransport(listener, lambda *args: None).stop()
    except OSError as exc:
        assert exc.errno == errno.EADDRINUSE
    else:
        raise AssertionError(f"bound UDP port {port}, which another socket holds")


def test_a_port_in_use_is_refused_even_when_its_owner_allows_sharing():
    """A second server on the same UDP port must fail to start, not share the traffic."""
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as 1.6 and our older versions bound
    other.bind(("127.0.0.1", 0))
    try:
        _assert_bind_refused(other.getsockname()[1])
    finally:
        other.close()


def test_two_transports_can_not_share_a_port():
    first, port = _transport(lambda *args: None)
    try:
        _assert_bind_refused(port)
    finally:
        first.stop()
