"""What a new user does, end to end, with the shipped files: create the database
with opensipsctl, add subscribers, run etc/opensipsg-auth.cfg (the default
configuration with digest authentication), register two SIPp phones and call from
one to the other. Once on the embedded SQLite default, once on MariaDB."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e import harness
from tests.e2e.harness import LOCALHOST, run_sipp, scenario

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SHIPPED_CFG = (REPO / "etc" / "opensipsg-auth.cfg").read_text()
SHIPPED_DB_URL = "sqlite:////var/lib/opensipsg/opensips.sqlite"
# test safety: this copy of the shipped script never relays beyond this machine
GUARD = ('route[1] {\n\tif ($rd != "127.0.0.1" || ($du != NULL && $dd != "127.0.0.1")) {\n'
         '\t\tsl_send_reply("403", "Not a test host");\n\t\texit;\n\t}\n')


def ctl(rc: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), HOME=str(rc.parent))
    return subprocess.run([sys.executable, str(REPO / "scripts" / "opensipsctl"), "-c", str(rc), *args],
                          capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)


def test_config(port: int, db_url: str, fifo: Path) -> str:
    assert SHIPPED_CFG.count(SHIPPED_DB_URL) == 2 and SHIPPED_CFG.count("\nroute[1] {\n") == 1
    text = SHIPPED_CFG.replace(SHIPPED_DB_URL, db_url).replace("/tmp/opensips_fifo", str(fifo))
    text = text.replace("\nroute[1] {\n", "\n" + GUARD)
    # the phones' domain is 127.0.0.1 (port 5060 implied): it names this proxy
    return f"listen=udp:127.0.0.1:{port}\nlisten=tcp:127.0.0.1:{port}\nalias=127.0.0.1:5060\n" + text
test_config.__test__ = False  # a helper, not a test


@pytest.fixture(params=["sqlite", "mysql"])
def backend(request, tmp_workdir):
    """(rc file, db_url) for a fresh database of the given engine."""
    rc = tmp_workdir / "opensipsctlrc"
    common = f"SIP_DOMAIN=127.0.0.1\nOSIPS_FIFO={tmp_workdir}/fifo\nFIFO_REPLY_DIR={tmp_workdir}/\n"
    if request.param == "sqlite":
        path = tmp_workdir / "opensips.sqlite"
        rc.write_text(common + f"DBENGINE=SQLITE\nDB_PATH={path}\n")
        created = ctl(rc, "db", "create")
        assert created.returncode == 0, created.stdout + created.stderr
        return rc, f"sqlite:///{path}"
    mariadb = request.getfixturevalue("mariadb")
    rc.write_text(common + f"DBENGINE=MYSQL\nDBHOST=127.0.0.1\nDBPORT={mariadb.port}\nDBNAME=opensips\n"
                           "DBRWUSER=opensips\nDBRWPW=opensipsrw\n")
    created = ctl(rc, "db", "migrate")  # the test database exists: create the missing 1.6 tables
    assert created.returncode == 0, created.stdout + created.stderr
    return rc, mariadb.url


def test_new_user_registers_and_calls_with_authentication(backend, server_factory, sipp, tmp_workdir):
    rc, db_url = backend
    tag = secrets.token_hex(3)
    alice, bob = f"alice{tag}", f"bob{tag}"
    for user, password in ((alice, "alice-secret"), (bob, "bob-secret")):
        added = ctl(rc, "add", f"{user}@127.0.0.1", password)
        assert added.returncode == 0, added.stdout + added.stderr
    again = ctl(rc, "add", f"{alice}@127.0.0.1", "other")
    assert again.returncode != 0  # an existing subscriber is refused

    port = harness.free_port("both")
    server = server_factory(test_config(port, db_url, tmp_workdir / "fifo"))

    def credentials(user: str, password: str, name: str) -> Path:
        path = tmp_workdir / f"{name}.csv"
        path.write_text(f"SEQUENTIAL\n{user};127.0.0.1;[authentication username={user} password={password}]\n")
        return path

    wrong = run_sipp([f"{LOCALHOST}:{port}", "-sf", scenario("reg_auth_wrong.xml"),
                      "-inf", str(credentials(alice, "not-her-password", "wrong")), "-m", "1"],
                     tmp_workdir, timeout=20)
    assert wrong.ok, wrong.describe()  # a wrong password is challenged again

    uas_port = harness.free_port("both", exclude=[port])
    reg = run_sipp([f"{LOCALHOST}:{port}", "-sf", scenario("reg_auth.xml"),
                    "-inf", str(credentials(bob, "bob-secret", "bob")), "-p", str(uas_port), "-m", "1"],
                   tmp_workdir, timeout=20)
    assert reg.ok, reg.describe() + server.log_tail()
    uas = harness.start_sipp(["-sf", scenario("uas_rr.xml"), "-p", str(uas_port), "-m", "1"],
                             tmp_workdir, timeout=30)
    try:
        call = run_sipp([f"{LOCALHOST}:{port}", "-sf", scenario("uac_auth_rr.xml"),
                         "-inf", str(credentials(alice, "alice-secret", "alice")), "-s", bob,
                         "-d", "200", "-m", "1"], tmp_workdir, timeout=30)
        assert call.ok, call.describe() + server.log_tail()
        assert uas.wait().ok
    finally:
        uas.stop()
