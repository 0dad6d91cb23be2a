"""The Database API against a real (throwaway) MariaDB; lost connections."""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

from opensipsg.db import DBError, connect
from opensipsg.db.mysql import MysqlDatabase, translate_placeholders

from .api_tests import *  # noqa: F401,F403  (the shared API tests)

pytestmark = pytest.mark.integration

ITEMS = ("CREATE TABLE items (id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY, name CHAR(128), "
         "value INT, amount FLOAT(10,2), stamp DATETIME) DEFAULT CHARSET=utf8mb4")


@pytest.fixture
def db(mariadb):
    database = connect(mariadb.url, timeout=3)
    database.execute("DROP TABLE IF EXISTS items")
    database.execute(ITEMS)
    yield database
    database.execute("DROP TABLE IF EXISTS items")
    database.close()


def test_translate_placeholders_unit():
    assert translate_placeholders("SELECT ?, '?', \"?\", `a?`, 'it''s ?', 'x\\'?' -- ?\n, ? /* ? */", 2) == (
        "SELECT %s, '?', \"?\", `a?`, 'it''s ?', 'x\\'?' -- ?\n, %s /* ? */")
    assert translate_placeholders("SELECT 5 % 2, '%' LIKE ?", 1) == "SELECT 5 %% 2, '%%' LIKE %s"
    with pytest.raises(DBError):
        translate_placeholders("SELECT ?", 0)


def test_is_mysql(db):
    assert isinstance(db, MysqlDatabase)
    assert db.query("SELECT CURRENT_USER()")[0][0].startswith("opensips@")


def test_wrong_password_is_dberror(mariadb):
    bad = connect(mariadb.url.replace("opensipsrw", "wrong"), timeout=3)
    with pytest.raises(DBError, match="1045"):
        bad.ping()


def test_killed_connection_reconnects_once(db, mariadb):
    db.insert("items", {"name": "before"})
    (connection_id,) = db.query("SELECT CONNECTION_ID()")[0]
    with mariadb.root_connect() as root, root.cursor() as cursor:
        cursor.execute(f"KILL {int(connection_id)}")
    # the first statement after the kill meets a dead socket: reconnect + retry
    assert db.select("items", ["name"]) == [{"name": "before"}]
    assert db.query("SELECT CONNECTION_ID()")[0][0] != connection_id


def test_server_stop_and_start(db, mariadb):
    db.insert("items", {"name": "survives"})
    mariadb.stop()
    try:
        # refused at once: a DBError, no hang (the socket timeout bounds it anyway)
        with pytest.raises(DBError):
            db.select("items", ["name"])
        with pytest.raises(DBError):
            db.insert("items", {"name": "lost"})
        with pytest.raises(DBError):
            db.ping()
    finally:
        mariadb.start()
    # the same Database object works again
    assert db.select("items", ["name"]) == [{"name": "survives"}]
    db.insert("items", {"name": "after"})
    assert db.query("SELECT COUNT(*) FROM items") == [(2,)]


def test_lazy_connect_to_nothing():
    # a port nobody listens on: connect() itself succeeds, use fails with DBError
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    db = connect(f"mysql://opensips:opensipsrw@127.0.0.1:{port}/opensips", timeout=2)
    with pytest.raises(DBError):
        db.ping()


def test_monkey_patched_greenlets(db, mariadb, tmp_path):
    """In a gevent-patched process (as the daemon) greenlets share one Database."""
    script = tmp_path / "greenlets.py"
    script.write_text(textwrap.dedent(f"""
        from gevent import monkey; monkey.patch_all()
        import gevent
        from opensipsg.db import connect
        db = connect({mariadb.url!r}, timeout=5)
        def worker(n):
            for i in range(10):
                row_id = db.insert("items", {{"name": "g%d-%d" % (n, i), "value": n}})
                assert db.select("items", ["name"], {{"id": row_id}}) == [{{"name": "g%d-%d" % (n, i)}}]
            return n
        jobs = [gevent.spawn(worker, n) for n in range(30)]
        gevent.joinall(jobs, raise_error=True)
        print(db.query("SELECT COUNT(*) FROM items")[0][0])
        db.close()
    """))
    root = str(pathlib.Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": root}
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                            cwd=root, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "300"
