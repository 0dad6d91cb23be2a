"""opensipsctl start | stop | restart: run the server by its PID file, as 1.6's opensipsctl did.

1.6 ran ``$OSIPSBIN -P $PID_FILE $STARTOPTIONS`` (with ``-E`` unless
``SYSLOG=1``), slept 3 seconds and checked that the PID file was there; stop
sent SIGTERM to the PID in the file; restart was stop, a pause, start. We do
the same, but poll instead of sleeping a fixed time, and stop waits (up to
``STOP_TIMEOUT`` seconds, default 10) until the process is gone, so that a
restart does not find the old server still holding the port.

``OSIPSBIN`` defaults to the ``opensipsg`` next to this Python (the installed
console script), else ``python -m opensipsg``. Put ``-f FILE`` in
``STARTOPTIONS`` for a configuration other than /etc/opensipsg/opensipsg.cfg.
"""
from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from typing import Any

START_TIMEOUT = 5.0
SETTLE = 0.5


def read_pid(path: str) -> int | None:
    try:
        with open(path) as handle:
            text = handle.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def server_command(config: dict[str, str]) -> list[str]:
    binary = config.get("OSIPSBIN", "").strip()
    if binary:
        command = [binary]
    else:
        beside = os.path.join(os.path.dirname(sys.executable), "opensipsg")
        found = beside if os.access(beside, os.X_OK) else shutil.which("opensipsg")
        command = [found] if found else [sys.executable, "-m", "opensipsg"]
    command += ["-P", config["PID_FILE"]]
    if config.get("SYSLOG", "").strip() != "1":
        command.append("-E")
    return command + shlex.split(config.get("STARTOPTIONS", ""))


def start(ctl: Any) -> int:
    pid_file = ctl.config["PID_FILE"]
    ctl.info("Starting OpenSIPS : ")
    pid = read_pid(pid_file)
    if pid is not None and alive(pid):
        ctl.warn(f"OpenSIPS is already running with pid {pid}")
        return 1
    command = server_command(ctl.config)
    try:
        # without -D the server forks into the background once it is up; its parent
        # exits 0 then, or non-zero when the configuration does not load
        result = subprocess.run(command, stdin=subprocess.DEVNULL, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        ctl.error(f"cannot run {' '.join(command)}: {exc}")
        return 1
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        pid = read_pid(pid_file)
        if pid is not None and alive(pid):
            time.sleep(SETTLE)  # a server that cannot bind its sockets dies right after writing the file
            if alive(pid):
                ctl.info(f"started (pid: {pid})")
                return 0
            break
        if result.returncode != 0 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    ctl.error(f"PID file {pid_file} does not exist -- OpenSIPS start failed")
    return 1


def stop(ctl: Any) -> int:
    pid_file = ctl.config["PID_FILE"]
    ctl.info("Stopping OpenSIPS : ")
    pid = read_pid(pid_file)
    if pid is None:
        ctl.echo(f"No PID file found ({pid_file})! OpenSIPS probably not running")
        ctl.info("check with 'ps' and 'kill $pid'")
        return 1
    if not alive(pid):
        ctl.echo(f"OpenSIPS (pid {pid} in {pid_file}) is not running")
        return 1
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    except PermissionError:
        ctl.error(f"not allowed to stop pid {pid}")
        return 1
    deadline = time.monotonic() + float(ctl.config.get("STOP_TIMEOUT") or 10)
    while alive(pid):
        if time.monotonic() > deadline:
            ctl.error(f"pid {pid} still running after SIGTERM")
            return 1
        time.sleep(0.1)
    ctl.info("stopped")
    return 0


def restart(ctl: Any) -> int:
    stop(ctl)  # "not running" is fine for a restart
    return start(ctl)
