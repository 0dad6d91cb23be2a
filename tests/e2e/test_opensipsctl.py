"""opensipsctl end to end against a running opensipsg (mi_fifo and mi_json)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e import harness
from tests.e2e.harness import LOCALHOST, run_sipp, scenario, sip_request, write_users_csv

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CFG = (REPO / "tests" / "data" / "cfg" / "mi_test.cfg").read_text()


@pytest.fixture
def env(server_factory, tmp_workdir):
    port = harness.free_port("both")
    json_port = harness.free_port("tcp", exclude=[port])
    mi_dir = tmp_workdir / "mi"
    mi_dir.mkdir()
    db = tmp_workdir / "opensips.sqlite"
    extra_modules = 'loadmodule "domain.so"'
    extra_params = (f'modparam("domain", "db_url", "sqlite://{db}")\n'
                    'modparam("domain", "db_mode", 1)')
    rc = tmp_workdir / "opensipsctlrc"
    rc.write_text(f"OSIPS_FIFO={mi_dir}/fifo\nFIFO_REPLY_DIR={mi_dir}/\nSIP_DOMAIN={LOCALHOST}\n"
                  f"DBENGINE=SQLITE\nDB_PATH={db}\nWATCH_PERIOD=0\n")
    json_rc = tmp_workdir / "json_rc"
    json_rc.write_text(f"MI_CONNECTOR=JSON:{LOCALHOST}:{json_port}\nSIP_DOMAIN={LOCALHOST}\n")
    created = ctl(rc, "db", "create")
    assert created.returncode == 0, created.stderr
    server = server_factory(harness.fill(CFG, port=port, fifo=mi_dir / "fifo", reply_dir=f"{mi_dir}/",
                                         json_port=json_port, extra_modules=extra_modules,
                                         extra_params=extra_params))
    return server, rc, json_rc


def ctl(rc, *args):
    environment = dict(os.environ, PYTHONPATH=str(REPO), HOME=str(Path(rc).parent))
    return subprocess.run([sys.executable, str(REPO / "scripts" / "opensipsctl"), "-c", str(rc), *args],
                          capture_output=True, text=True, timeout=30, env=environment, stdin=subprocess.DEVNULL)


def test_fifo_ps_uptime(env):
    server, rc, _ = env
    which = ctl(rc, "fifo", "which")
    assert which.returncode == 0 and which.stdout.startswith("uptime\nversion\n")
    assert "domain_reload" in which.stdout
    assert f"Process::  ID=0 PID={server.pid} Type=attendant" in ctl(rc, "ps").stdout
    assert ctl(rc, "uptime").stdout.startswith("Now:: ")
    stats = ctl(rc, "fifo", "get_statistics", "all")
    assert stats.returncode == 0 and "core:rcv_requests = " in stats.stdout
    missing = ctl(rc, "fifo", "no_such")
    assert missing.returncode == 1 and missing.stdout.strip() == "500 command 'no_such' not available"


def test_statistics_grow(env):
    server, rc, _ = env

    def received():
        return int(ctl(rc, "fifo", "get_statistics", "rcv_requests").stdout.split("=")[1])

    before = received()
    for _ in range(2):
        sip_request(LOCALHOST, server.udp_port, harness.options_request(LOCALHOST, server.udp_port))
    assert received() >= before + 2


def test_ul_show_after_register_and_rm(env, sipp, tmp_workdir):
    server, rc, json_rc = env
    users = write_users_csv(tmp_workdir / "reg.csv", ["alice"])
    contact_port = harness.free_port("both", exclude=[server.udp_port])
    result = run_sipp([f"{LOCALHOST}:{server.udp_port}", "-sf", scenario("register.xml"), "-inf", str(users),
                       "-key", "expires", "300", "-p", str(contact_port), "-m", "1"], tmp_workdir, timeout=15)
    assert result.ok, result.describe()
    shown = ctl(rc, "ul", "show", "alice")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert shown.stdout.startswith("Contact:: <sip:") and f":{contact_port}" in shown.stdout
    dump = ctl(rc, "ul", "show")
    assert "AOR:: alice" in dump.stdout and "Domain:: location" in dump.stdout
    assert ctl(rc, "ul", "show", "--brief").stdout.splitlines()[1] == "\tAOR:: alice"
    assert ctl(rc, "online").stdout.splitlines() == ["alice"]
    assert "AOR:: alice" in ctl(json_rc, "ul", "show").stdout  # the same over JSON-RPC
    monitor = ctl(rc, "monitor", "-n", "1")
    assert monitor.returncode == 0 and "usrloc:registered_users = 1" in monitor.stdout
    assert ctl(rc, "ul", "rm", "alice").returncode == 0
    gone = ctl(rc, "ul", "show", "alice")
    assert gone.returncode == 1 and gone.stdout.strip() == "404 AOR not found"


def test_ul_add_and_rm_contact(env):
    _, rc, _ = env
    assert ctl(rc, "ul", "add", "bob", "sip:bob@127.0.0.1:5099", "60").returncode == 0
    assert ctl(rc, "ul", "add", "bob", "sip:bob@127.0.0.2:5099").returncode == 0  # permanent
    assert "Expires:: permanent" in ctl(rc, "ul", "show").stdout
    assert ctl(rc, "ul", "rm", "bob", "sip:bob@127.0.0.1:5099").returncode == 0
    assert ctl(rc, "ul", "show", "bob").stdout.count("Contact::") == 1


def test_domain_reload(env):
    _, rc, json_rc = env
    assert ctl(rc, "domain", "add", "example.org").returncode == 0
    reloaded = ctl(rc, "domain", "reload")
    assert reloaded.returncode == 0, reloaded.stdout + reloaded.stderr
    assert "Domain:: example.org" in ctl(rc, "domain", "show").stdout
    assert "Domain:: example.org" in ctl(json_rc, "domain", "show").stdout


def test_ping_sends_options_through_t_uac_dlg(env):
    server, rc, _ = env
    # the server sends an OPTIONS of its own (MI t_uac_dlg) to the URI: here itself,
    # whose script answers OPTIONS with 200
    result = ctl(rc, "ping", f"sip:127.0.0.1:{server.udp_port}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "200 OK", result.stdout
