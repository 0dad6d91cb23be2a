"""opensipsctl as a subprocess against SQLite (and MariaDB when it is installed)."""
from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "opensipsctl"


def run_ctl(rc_file: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), HOME=str(rc_file.parent))
    return subprocess.run([sys.executable, str(SCRIPT), "-c", str(rc_file), *args], capture_output=True,
                          text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL)


@pytest.fixture
def sqlite_rc(tmp_path):
    rc = tmp_path / "opensipsctlrc"
    rc.write_text(f"DBENGINE=SQLITE\nDB_PATH={tmp_path}/opensips.sqlite\nSIP_DOMAIN=example.com\n"
                  f"OSIPS_FIFO={tmp_path}/no_fifo\nFIFO_REPLY_DIR={tmp_path}/\n")
    result = run_ctl(rc, "db", "create")
    assert result.returncode == 0, result.stderr
    return rc


def rows(rc, sql, *params):
    with sqlite3.connect(rc.parent / "opensips.sqlite") as conn:
        return conn.execute(sql, params).fetchall()


def test_add_writes_both_ha1s_and_refuses_existing(sqlite_rc):
    result = run_ctl(sqlite_rc, "add", "alice", "secret")
    assert result.returncode == 0 and "new user 'alice' added" in result.stdout
    (user, domain, password, a1, a1b), = rows(sqlite_rc, "SELECT username, domain, password, ha1, ha1b FROM subscriber")
    assert (user, domain, password) == ("alice", "example.com", "secret")
    assert a1 == hashlib.md5(b"alice:example.com:secret").hexdigest()
    assert a1b == hashlib.md5(b"alice@example.com:example.com:secret").hexdigest()
    again = run_ctl(sqlite_rc, "add", "alice@example.com", "other")
    assert again.returncode == 1 and "user 'alice@example.com' already exists" in again.stdout


def test_plaintext_password_only_when_asked(sqlite_rc):
    with open(sqlite_rc, "a") as handle:
        handle.write("STORE_PLAINTEXT_PW=0\n")
    assert run_ctl(sqlite_rc, "add", "bob@example.com", "pw").returncode == 0
    assert rows(sqlite_rc, "SELECT password FROM subscriber") == [("",)]


def test_existing_alias_is_refused(sqlite_rc):
    assert run_ctl(sqlite_rc, "add", "carol", "pw").returncode == 0
    assert run_ctl(sqlite_rc, "alias_db", "add", "cc@example.com", "carol@example.com").returncode == 0
    result = run_ctl(sqlite_rc, "add", "cc", "pw")
    assert result.returncode == 1 and "already exists as alias" in result.stdout
    shown = run_ctl(sqlite_rc, "alias_db", "show", "cc@example.com")
    assert shown.stdout.splitlines() == ["SIP-ID", "carol@example.com"]
    assert "cc\texample.com\tcarol\texample.com" in run_ctl(sqlite_rc, "alias_db", "list").stdout
    assert run_ctl(sqlite_rc, "alias_db", "rm", "cc@example.com").returncode == 0
    assert rows(sqlite_rc, "SELECT * FROM dbaliases") == []


def test_passwd_and_rm(sqlite_rc):
    assert run_ctl(sqlite_rc, "add", "dave", "one").returncode == 0
    result = run_ctl(sqlite_rc, "passwd", "dave", "two")
    assert result.returncode == 0 and "password change succeeded" in result.stdout
    assert rows(sqlite_rc, "SELECT ha1 FROM subscriber") == [(hashlib.md5(b"dave:example.com:two").hexdigest(),)]
    assert run_ctl(sqlite_rc, "acl", "grant", "dave", "local").returncode == 0
    assert run_ctl(sqlite_rc, "rm", "dave").returncode == 0  # no server running: the ul rm part is skipped
    assert rows(sqlite_rc, "SELECT * FROM subscriber") == [] and rows(sqlite_rc, "SELECT * FROM grp") == []


@pytest.mark.parametrize("command", [["rm", "ghost"], ["passwd", "ghost", "pw"]])
def test_missing_user_is_a_clear_error(sqlite_rc, command):
    result = run_ctl(sqlite_rc, *command)
    assert result.returncode == 1
    assert result.stderr.strip() == "ERROR: non-existent user 'ghost'"


def test_domain_acl_avp(sqlite_rc):
    assert run_ctl(sqlite_rc, "domain", "add", "example.com").returncode == 0
    again = run_ctl(sqlite_rc, "domain", "add", "example.com")
    assert again.returncode == 0 and "example.com already in domain table" in again.stdout
    assert "example.com" in run_ctl(sqlite_rc, "domain", "showdb").stdout
    run_ctl(sqlite_rc, "add", "erin", "pw")
    granted = run_ctl(sqlite_rc, "acl", "grant", "erin", "local", "bogus")
    assert "Invalid privilege: acl 'bogus' ignored" in granted.stdout
    assert rows(sqlite_rc, "SELECT grp FROM grp") == [("local",)]
    assert run_ctl(sqlite_rc, "acl", "revoke", "erin", "local").returncode == 0
    assert rows(sqlite_rc, "SELECT grp FROM grp") == []
    assert run_ctl(sqlite_rc, "avp", "add", "erin@example.com", "callfwd", "0", "sip:vm@example.com").returncode == 0
    listed = run_ctl(sqlite_rc, "avp", "list", "-u", "erin@example.com", "-a", "callfwd")
    assert "\terin\texample.com\tcallfwd\t0\tsip:vm@example.com" in listed.stdout
    assert run_ctl(sqlite_rc, "avp", "rm", "-a", "callfwd").returncode == 0
    assert rows(sqlite_rc, "SELECT * FROM usr_preferences") == []
    assert run_ctl(sqlite_rc, "domain", "rm", "example.com").returncode == 0
    assert rows(sqlite_rc, "SELECT * FROM domain") == []


def test_db_create_is_idempotent_and_migrate_reports(sqlite_rc):
    assert run_ctl(sqlite_rc, "db", "create").returncode == 0
    result = run_ctl(sqlite_rc, "db", "migrate")
    assert result.returncode == 0 and "up to date" in result.stdout


def test_unreachable_database_is_one_line(tmp_path):
    rc = tmp_path / "rc"
    rc.write_text("DBURL=mysql://opensips:x@127.0.0.1:1/opensips\nSIP_DOMAIN=example.com\n")
    result = run_ctl(rc, "add", "alice", "pw")
    assert result.returncode == 1
    assert result.stderr.startswith("ERROR: cannot connect to the database: ")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_no_database_engine(tmp_path):
    rc = tmp_path / "rc"
    rc.write_text("SIP_DOMAIN=example.com\n")
    result = run_ctl(rc, "add", "alice", "pw")
    assert result.returncode == 255 and "requires a database engine" in result.stderr


def test_no_fifo_server_is_a_clear_error(sqlite_rc):
    result = run_ctl(sqlite_rc, "ul", "show")
    assert result.returncode == 2
    assert "Error opening OpenSIPS's FIFO" in result.stderr and "Traceback" not in result.stderr


def test_usage_and_version(sqlite_rc):
    assert run_ctl(sqlite_rc, "bogus").returncode == 1
    assert run_ctl(sqlite_rc, "version").stdout.startswith("opensipsctl ")


@pytest.mark.integration
def test_against_mariadb(mariadb, tmp_path):
    rc = tmp_path / "rc"
    rc.write_text(f"DBENGINE=MYSQL\nDBHOST=127.0.0.1\nDBPORT={mariadb.port}\nDBNAME={mariadb.database}\n"
                  f"DBRWUSER={mariadb.user}\nDBRWPW={mariadb.password}\nSIP_DOMAIN=ctl.example\n"
                  f"DBROOTUSER={mariadb.user}\nDBROOTPW={mariadb.password}\n")
    from opensipsg.db import connect, schema

    db = connect(mariadb.url)
    schema.create_database(db, ["subscriber", "dbaliases", "grp", "version"])
    try:
        db.delete("subscriber", {"domain": "ctl.example"})
        result = run_ctl(rc, "add", "frank", "pw")
        assert result.returncode == 0, result.stderr
        assert db.select("subscriber", ["ha1"], {"username": "frank", "domain": "ctl.example"}) == [
            {"ha1": hashlib.md5(b"frank:ctl.example:pw").hexdigest()}]
        assert run_ctl(rc, "add", "frank", "pw").returncode == 1
        assert run_ctl(rc, "rm", "frank").returncode == 0
        mariadb.stop()
        try:
            down = run_ctl(rc, "passwd", "frank", "x")
        finally:
            mariadb.start()
        assert down.returncode == 1 and down.stderr.startswith("ERROR: cannot connect to the database: ")
    finally:
        db.delete("subscriber", {"domain": "ctl.example"})
        db.close()


def test_rpid_add_show_rm(sqlite_rc):
    assert run_ctl(sqlite_rc, "add", "dave", "pw").returncode == 0
    added = run_ctl(sqlite_rc, "rpid", "add", "dave", "<sip:+4930123@example.com>")
    assert added.returncode == 0 and added.stdout.splitlines() == ["rpid", "<sip:+4930123@example.com>"]
    assert rows(sqlite_rc, "SELECT rpid FROM subscriber WHERE username='dave'") == [("<sip:+4930123@example.com>",)]
    shown = run_ctl(sqlite_rc, "rpid", "show", "dave@example.com")
    assert shown.stdout.splitlines() == ["rpid", "<sip:+4930123@example.com>"]
    removed = run_ctl(sqlite_rc, "rpid", "rm", "dave")
    assert removed.returncode == 0 and removed.stdout.splitlines() == ["rpid", "NULL"]
    assert rows(sqlite_rc, "SELECT rpid FROM subscriber WHERE username='dave'") == [(None,)]
    missing = run_ctl(sqlite_rc, "rpid", "add", "nobody", "x")
    assert missing.returncode == 1 and "non-existent user 'nobody'" in missing.stdout + missing.stderr
