"""The harness's own pieces that need no server: ports, templates, request framing."""
from __future__ import annotations

import os
import socket

import pytest

from tests.e2e import harness


def test_free_port_is_bindable_for_udp_and_tcp():
    port = harness.free_port("both")
    assert harness.PORT_RANGE[0] <= port <= harness.PORT_RANGE[1]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, \
            socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
        udp.bind((harness.LOCALHOST, port))
        tcp.bind((harness.LOCALHOST, port))
        tcp.listen()
        assert harness.port_is_bound(port, "udp") and harness.port_is_bound(port, "tcp")
        assert harness.free_port("both", exclude=[port]) != port


def test_fill_leaves_script_braces_alone():
    cfg = 'listen=udp:127.0.0.1:{port}\nroute{ if (is_method("X")) { exit; } }\n# {unknown}\n'
    out = harness.fill(cfg, port=5071)
    assert out == 'listen=udp:127.0.0.1:5071\nroute{ if (is_method("X")) { exit; } }\n# {unknown}\n'
    assert harness.listen_ports(out + "listen=tcp:127.0.0.1:5072\n") == {"udp": 5071, "tcp": 5072}


def test_prepare_request_adds_via_and_content_length():
    data = harness.prepare_request("MESSAGE sip:a@b SIP/2.0\nContent-Length: 99\nCall-ID: [call_id]\n\nhello",
                                   "udp", 4242, "z9hG4bKx")
    head, body = data.split(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[1] == "Via: SIP/2.0/UDP 127.0.0.1:4242;branch=z9hG4bKx;rport"
    assert lines[-1] == "Content-Length: 5" and body == b"hello"
    assert "Content-Length: 99" not in lines and "[call_id]" not in head.decode()


def test_parse_stat_csv_last_row():
    text = "A;SuccessfulCall(C);FailedCall(C);\n1;0;0;\n2;9;1;\n"
    stats = harness.parse_stat_csv(text)
    assert stats["SuccessfulCall(C)"] == "9" and stats["FailedCall(C)"] == "1"
    assert harness.parse_stat_csv("") == {}


def test_cpu_seconds_of_this_process():
    assert harness.cpu_seconds(os.getpid()) > 0


def test_server_that_dies_early_raises_with_log_tail(tmp_workdir):
    """Whatever the state of opensipsg, a config that is not one must not start:
    the harness reports the exit and the log instead of waiting out the timeout."""
    port = harness.free_port()
    server = harness.Server(f"listen=udp:127.0.0.1:{port}\nthis is ( not a config\n", tmp_workdir,
                            ready_timeout=60)
    with pytest.raises(harness.ServerError, match="exited with"):
        server.start()
    assert not server.running() and server.proc.pid not in harness._live
