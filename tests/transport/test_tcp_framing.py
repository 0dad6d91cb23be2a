"""Cutting a TCP byte stream into SIP messages (RFC 3261 18.3): pure, no sockets."""
from __future__ import annotations

import pytest

from opensipsg.transport.tcp import MAX_MESSAGE, FramingError, split_stream

MSG = (b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP 1.2.3.4;branch=z9hG4bK1\r\n"
       b"Content-Length: 5\r\n\r\nhello")
COMPACT = b"OPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/TCP 1.2.3.4;branch=z9hG4bK2\r\nl: 0\r\n\r\n"


def test_whole_messages_back_to_back():
    messages, rest = split_stream(MSG + COMPACT + MSG)
    assert messages == [MSG, COMPACT, MSG] and rest == b""


def test_partial_message_waits_for_the_rest_byte_by_byte():
    buffer = b""
    out = []
    for i in range(len(MSG)):
        messages, buffer = split_stream(buffer + MSG[i:i + 1])
        out.extend(messages)
    assert out == [MSG] and buffer == b""


def test_body_split_across_reads():
    messages, rest = split_stream(MSG[:-2])
    assert messages == [] and rest == MSG[:-2]
    messages, rest = split_stream(rest + MSG[-2:])
    assert messages == [MSG]


def test_keepalive_ping_is_reported_and_stray_crlf_skipped():
    messages, rest = split_stream(b"\r\n\r\n" + MSG + b"\r\n" + COMPACT)
    assert messages == [b"\r\n\r\n", MSG, COMPACT] and rest == b""
    messages, rest = split_stream(b"\r\n")
    assert messages == [] and rest == b"\r\n"  # may become a ping with the next bytes


def test_missing_content_length_breaks_the_stream():
    with pytest.raises(FramingError):
        split_stream(b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP x\r\n\r\n")


def test_oversized_messages_break_the_stream():
    with pytest.raises(FramingError):
        split_stream(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: %d\r\n\r\n" % MAX_MESSAGE)
    with pytest.raises(FramingError):
        split_stream(b"X" * (MAX_MESSAGE + 10))  # headers that never end


def test_send_to_a_peer_that_stops_reading_gives_up_after_the_send_timeout():
    """1.6's tcp_send_timeout: a connection that stays unwritable is closed and the send
    fails; before, sendall() blocked for ever, holding the connection's lock (and the
    transaction's, for a reply) so every later send and timer of it hung as well."""
    import socket as pysocket
    import time

    import gevent
    from gevent import socket as gsocket

    from opensipsg.transport.tcp import Connection

    class Stub:
        connections: dict = {}

        def forget(self, conn):
            pass

    ours, theirs = gsocket.socketpair(pysocket.AF_UNIX, pysocket.SOCK_STREAM)
    conn = Connection(Stub(), ours, ("127.0.0.1", 5070))
    conn.send_timeout = 0.3
    started = time.monotonic()
    with gevent.Timeout(5):
        ok = True
        for _ in range(200):  # fill both socket buffers: the peer never reads
            ok = conn.send(b"x" * 65536)
            if not ok:
                break
    assert not ok and conn.closed
    assert time.monotonic() - started < 3
    theirs.close()
