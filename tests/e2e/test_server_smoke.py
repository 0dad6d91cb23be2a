"""Smoke test of the harness against the real opensipsg: start, answer, stop.

Skipped until opensipsg/__main__.py exists; from then on it is the first e2e
test to look at when anything else in tests/e2e fails.
"""
from __future__ import annotations

import signal

import pytest

from tests.e2e import harness

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (harness.REPO_ROOT / "opensipsg" / "__main__.py").exists(),
                       reason="opensipsg/__main__.py not written yet"),
]

CFG = """
debug=3
fork=no
log_stderror=yes
children=1
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}

mpath="/usr/lib/opensips/modules/"
loadmodule "sl.so"

route {
    sl_send_reply("200", "OK");
    exit;
}
"""


def test_server_answers_options_and_stops_on_sigterm(server_factory):
    port = harness.free_port("both")
    server = server_factory(harness.fill(CFG, port=port))
    assert server.running() and server.udp_port == port and server.tcp_port == port
    for proto in ("udp", "tcp"):
        code, text = harness.sip_request("127.0.0.1", port, harness.options_request("127.0.0.1", port, proto),
                                         proto=proto, timeout=5)
        assert code == 200, (proto, text, server.log_tail())
    assert server.cpu_seconds() >= 0
    status = server.stop(grace=10)
    assert status is not None and status != -signal.SIGKILL, server.log_tail()
    assert not server.running()
