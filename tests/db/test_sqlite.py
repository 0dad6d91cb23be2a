"""The Database API on SQLite (plus URL parsing and laziness)."""
from __future__ import annotations

import threading

import pytest

from opensipsg.db import DBError, connect, db_to_time, time_to_db
from opensipsg.db.sqlite import SqliteDatabase

from .api_tests import *  # noqa: F401,F403  (the shared API tests)

ITEMS = ("CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, name CHAR(128), value INTEGER, "
         "amount REAL, stamp DATETIME)")


@pytest.fixture
def db(tmp_path):
    database = connect(f"sqlite:///{tmp_path}/test.db")
    database.execute(ITEMS)
    yield database
    database.close()


def test_urls(tmp_path, monkeypatch):
    assert connect("sqlite:///:memory:").path == ":memory:"
    assert connect("sqlite:///var/lib/x.db").path == "/var/lib/x.db"
    assert connect("sqlite://rel/dir/x.db").path == "rel/dir/x.db"
    mysql = connect("mysql://us%40er:p%3Aw%2Fd@db.example.com:3307/open%20sips")
    assert (mysql.dialect, mysql.host, mysql.port, mysql.user, mysql.password, mysql.database) == (
        "mysql", "db.example.com", 3307, "us@er", "p:w/d", "open sips")
    assert connect("mysql://opensips:opensipsrw@localhost/opensips").port == 3306
    for bad in ("postgres://a@b/c", "nothing", "mysql://host-only", "sqlite://", "mysql://u:p@h:99999/d"):
        with pytest.raises(DBError):
            connect(bad)


def test_lazy_open(tmp_path):
    path = tmp_path / "lazy.db"
    db = connect(f"sqlite:///{path}")
    assert not path.exists()
    db.ping()
    assert path.exists()
    db.close()


def test_missing_directory_is_dberror(tmp_path):
    db = connect(f"sqlite:///{tmp_path}/no/such/dir/x.db")
    with pytest.raises(DBError):
        db.ping()


def test_memory_database_keeps_one_connection():
    db = connect("sqlite:///:memory:")
    db.execute("CREATE TABLE t (a INTEGER)")
    db.insert("t", {"a": 1})
    assert db.select("t", ["a"]) == [{"a": 1}]


def test_threads_share_one_database(db):
    errors = []

    def worker(n):
        try:
            for i in range(20):
                db.insert("items", {"name": f"t{n}-{i}", "value": n})
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert db.query("SELECT COUNT(*) FROM items") == [(160,)]


def test_datetime_helpers():
    for stamp in (0, 1_700_000_000, 2_000_000_000):
        assert db_to_time(time_to_db(stamp)) == stamp
    assert db_to_time(None) == 0
    with pytest.raises(DBError):
        db_to_time("yesterday")


def test_is_sqlite(db):
    assert isinstance(db, SqliteDatabase)
    assert db.dialect == "sqlite"
