"""opensipsctl start / stop / restart: the server runs in the background by its PID file."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from opensipsg.ctl.daemon import alive

from . import harness

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "opensipsctl"

CONFIG = """
listen=udp:127.0.0.1:{port}
log_stderror=yes
loadmodule "sl.so"
route {{
    sl_send_reply("200", "started by opensipsctl");
    exit;
}}
"""

OPTIONS = ("OPTIONS sip:ping@127.0.0.1:{port} SIP/2.0\nMax-Forwards: 70\n"
           "From: <sip:t@127.0.0.1>;tag=1\nTo: <sip:ping@127.0.0.1>\nCall-ID: [call_id]\nCSeq: 1 OPTIONS\n\n")


def ctl(rc: Path, *args: str) -> tuple[int, str]:
    out = rc.parent / "ctl.out"
    env = dict(os.environ, PYTHONPATH=str(REPO), HOME=str(rc.parent))
    with open(out, "w") as handle:  # a file, not a pipe: nothing may hold our pipe open
        code = subprocess.run([sys.executable, str(SCRIPT), "-c", str(rc), *args], stdout=handle,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, timeout=60).returncode
    return code, out.read_text()


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


@pytest.fixture
def daemon_rc(tmp_path):
    port = harness.free_port("udp")
    cfg = tmp_path / "daemon.cfg"
    cfg.write_text(CONFIG.format(port=port))
    pid_file = tmp_path / "opensipsg.pid"
    rc = tmp_path / "opensipsctlrc"
    rc.write_text(f"PID_FILE={pid_file}\nSTARTOPTIONS=\"-f {cfg}\"\nOSIPS_FIFO={tmp_path}/no_fifo\n")
    started: list[int] = []
    yield rc, pid_file, port, started
    for pid in {*started, read_pid(pid_file) or 0} - {0}:  # whatever the test did, stop it by PID
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_start_stop_restart(daemon_rc):
    rc, pid_file, port, started = daemon_rc
    code, out = ctl(rc, "start")
    pid = read_pid(pid_file)
    if pid:
        started.append(pid)
    assert code == 0, out
    assert f"started (pid: {pid})" in out
    status, reply = harness.sip_request("127.0.0.1", port, OPTIONS.format(port=port))
    assert status == 200 and "started by opensipsctl" in reply

    code, out = ctl(rc, "start")
    assert code == 1 and f"already running with pid {pid}" in out

    code, out = ctl(rc, "restart")
    new_pid = read_pid(pid_file)
    if new_pid:
        started.append(new_pid)
    assert code == 0, out
    assert new_pid != pid and not alive(pid)  # (a zombie until its subreaper waits: gone for us)
    assert harness.sip_request("127.0.0.1", port, OPTIONS.format(port=port))[0] == 200

    code, out = ctl(rc, "stop")
    assert code == 0 and "stopped" in out
    assert not alive(new_pid)
    assert harness.sip_request("127.0.0.1", port, OPTIONS.format(port=port), timeout=1.0)[0] is None

    code, out = ctl(rc, "stop")
    assert code == 1 and ("probably not running" in out or "is not running" in out)


def test_start_with_a_broken_config_fails(daemon_rc):
    rc, pid_file, port, started = daemon_rc
    (rc.parent / "daemon.cfg").write_text("route { no_such_function(); }\n")
    code, out = ctl(rc, "start")
    assert code == 1
    assert "start failed" in out
    assert read_pid(pid_file) is None


def test_start_fails_when_the_port_is_taken(daemon_rc):
    rc, pid_file, port, started = daemon_rc
    import socket

    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # a holder that allows sharing (as another opensipsg or 1.6 binds): we must still refuse
    taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    taken.bind(("127.0.0.1", port))
    try:
        code, out = ctl(rc, "start")
        pid = read_pid(pid_file)
        if pid:
            started.append(pid)
    finally:
        taken.close()
    assert code == 1 and "start failed" in out
