"""etc/init.d/opensipsg driven as an administrator would: start, status, restart, stop,
a broken configuration refused. The script runs with a private defaults file, so it
touches nothing outside the test's temporary folder."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sysconfig
import time
from pathlib import Path

import pytest

from opensipsg.ctl.daemon import alive
from tests.e2e import harness

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "etc" / "init.d" / "opensipsg"
DAEMON = ROOT / ".venv" / "bin" / "opensipsg"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="the init script starts the daemon as root"),
    pytest.mark.skipif(not Path("/lib/lsb/init-functions").exists() or shutil.which("start-stop-daemon") is None,
                       reason="needs lsb-base and start-stop-daemon"),
    pytest.mark.skipif(not DAEMON.exists(), reason="needs the console script (pip install -e .)"),
]

CFG = """
debug=3
fork=yes
log_stderror=yes
listen=udp:127.0.0.1:{port}
loadmodule "sl.so"
route {{
    sl_send_reply("200", "init test");
}}
"""


def stdlib_open_to_all() -> bool:
    """Whether an unprivileged user can import this interpreter's standard library
    (not so for a pyenv Python under /root): only then can the daemon drop to nobody."""
    path = Path(sysconfig.get_paths()["stdlib"]).resolve()
    for part in [path, *path.parents]:
        if not part.stat().st_mode & stat.S_IXOTH:
            return False
    return True


DROP = stdlib_open_to_all()
RUN_AS = ("nobody", "nogroup") if DROP else ("root", "root")


@pytest.fixture
def init(tmp_path):
    port = harness.free_port("udp")
    cfg = tmp_path / "opensipsg.cfg"
    cfg.write_text(CFG.format(port=port))
    run_dir = tmp_path / "run"
    defaults = tmp_path / "default"
    defaults.write_text(
        f'DAEMON="{DAEMON}"\nCFGFILE="{cfg}"\nRUN_USER={RUN_AS[0]}\nRUN_GROUP={RUN_AS[1]}\nPIDDIR="{run_dir}"\n'
    )
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "OPENSIPSG_DEFAULTS": str(defaults)}

    def action(name: str) -> subprocess.CompletedProcess:
        return subprocess.run(["sh", str(SCRIPT), name], env=env, capture_output=True, text=True, timeout=60)

    action.port = port
    action.cfg = cfg
    action.pidfile = run_dir / "opensipsg.pid"
    yield action
    action("stop")
    if action.pidfile.exists():  # last resort: never leave a daemon behind
        pid = int(action.pidfile.read_text())
        if alive(pid):
            os.kill(pid, 9)


def test_start_status_restart_stop(init):
    assert init("status").returncode == 3
    started = init("start")
    assert started.returncode == 0, started.stdout + started.stderr
    pid = int(init.pidfile.read_text())
    assert alive(pid)
    code, _ = harness.sip_request("127.0.0.1", init.port, harness.options_request("127.0.0.1", init.port))
    assert code == 200
    owner = subprocess.run(["ps", "-o", "user=", "-p", str(pid)], capture_output=True, text=True).stdout.strip()
    assert owner == RUN_AS[0]  # dropped privileges after binding (when the interpreter allows it)
    assert init("start").returncode == 0 and int(init.pidfile.read_text()) == pid  # already running
    assert init("status").returncode == 0
    assert init("restart").returncode == 0
    new_pid = int(init.pidfile.read_text())
    assert new_pid != pid and alive(new_pid)
    assert init("stop").returncode == 0
    deadline = time.monotonic() + 10
    while alive(new_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(new_pid) and not init.pidfile.exists()
    assert init("status").returncode == 3


def test_broken_config_is_refused_at_start(init):
    init.cfg.write_text('route {\n    no_such_function();\n}\n')
    result = init("start")
    assert result.returncode != 0
    assert f"{init.cfg}:2:" in result.stderr
    assert not init.pidfile.exists()
