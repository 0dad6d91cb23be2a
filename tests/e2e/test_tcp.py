"""TCP as an OpenSIPS user configures it: replies on the connection the request came
in on, several messages in one stream, and idle connections closed after
tcp_connection_lifetime."""
from __future__ import annotations

import socket
import time

import pytest

from tests.e2e import harness

pytestmark = pytest.mark.integration

CFG = """
debug=3
log_stderror=yes
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}
tcp_connection_lifetime=2
loadmodule "sl.so"
route {{
    sl_send_reply("200", "ok $rm");
}}
"""


def options(port: int, n: int) -> bytes:
    return (f"OPTIONS sip:127.0.0.1:{port};transport=tcp SIP/2.0\r\n"
            f"Via: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKtcp{n}\r\nMax-Forwards: 70\r\n"
            f"From: <sip:a@127.0.0.1>;tag={n}\r\nTo: <sip:b@127.0.0.1>\r\nCall-ID: tcp{n}@test\r\n"
            f"CSeq: {n} OPTIONS\r\nContent-Length: 0\r\n\r\n").encode()


def read_replies(sock: socket.socket, count: int) -> bytes:
    data = b""
    deadline = time.monotonic() + 10
    while data.count(b"SIP/2.0 200") < count and time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_pipelined_requests_on_one_connection_and_idle_close(server_factory):
    port = harness.free_port("both")
    server_factory(CFG.format(port=port))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        # three requests in one write, the last one cut in two writes
        stream = options(port, 1) + options(port, 2) + options(port, 3)
        sock.sendall(stream[:-20])
        time.sleep(0.2)
        sock.sendall(stream[-20:])
        replies = read_replies(sock, 3)
        assert replies.count(b"SIP/2.0 200 ok OPTIONS") == 3, replies
        # a keep-alive ping gets its pong (RFC 5626)
        sock.sendall(b"\r\n\r\n")
        assert sock.recv(16) == b"\r\n"
        # then silence: the server closes the connection after tcp_connection_lifetime
        sock.settimeout(30)
        started = time.monotonic()
        assert sock.recv(1) == b""
        assert time.monotonic() - started < 30  # a bound against hanging, not a timing figure
