"""Database API tests shared by test_sqlite.py and test_mysql.py (each
defines a ``db`` fixture with an empty table ``items``)."""
from __future__ import annotations

import pytest

from opensipsg.db import DBError, check_identifier

NASTY = [
    "'; DROP TABLE items; --",
    "Robert'); DELETE FROM items WHERE ('1'='1",
    'double "quotes" and `backticks`',
    "question? marks ?? and %s %d %% percent",
    "back\\slash \\' \\\\",
    "semi;colon /* comment */ -- dash # hash",
    "unicode: ñ € 日本",
    "",
]

ITEMS_COLUMNS = ["id", "name", "value", "amount", "stamp"]


def test_dialect(db):
    assert db.dialect in ("sqlite", "mysql")


def test_insert_returns_lastrowid_and_select(db):
    first = db.insert("items", {"name": "a", "value": 1})
    second = db.insert("items", {"name": "b", "value": 2, "amount": 2.5, "stamp": "2024-01-02 03:04:05"})
    assert second == first + 1
    rows = db.select("items", ITEMS_COLUMNS, order_by="id")
    assert rows == [
        {"id": first, "name": "a", "value": 1, "amount": None, "stamp": None},
        {"id": second, "name": "b", "value": 2, "amount": 2.5, "stamp": "2024-01-02 03:04:05"},
    ]


def test_select_where_order_limit(db):
    for i in range(5):
        db.insert("items", {"name": f"n{i}", "value": i % 2})
    rows = db.select("items", ["name"], {"value": 1}, order_by="name DESC")
    assert [r["name"] for r in rows] == ["n3", "n1"]
    rows = db.select("items", ["name"], order_by="value ASC, name DESC", limit=2)
    assert [r["name"] for r in rows] == ["n4", "n2"]
    assert db.select("items", ["name"], {"name": ["n0", "n4"]}, order_by="name") == [{"name": "n0"}, {"name": "n4"}]
    assert db.select("items", ["name"], {"name": []}) == []
    assert db.select("items", "name", {"stamp": None, "value": 0}, order_by="id") == [
        {"name": "n0"}, {"name": "n2"}, {"name": "n4"}]


def test_select_statement_reused_with_other_values(db):
    """select() keeps the SQL text per shape: other values, NULL and IN lists still query right."""
    for i in range(4):
        db.insert("items", {"name": f"n{i}", "value": i})
    for i in range(4):
        assert db.select("items", ["name"], {"value": i}, limit=1) == [{"name": f"n{i}"}]
    assert db.select("items", ["name"], {"value": None}, limit=1) == []
    assert db.select("items", ["name"], {"value": [1, 2]}, order_by="name") == [{"name": "n1"}, {"name": "n2"}]
    assert db.select("items", ["name"], {"value": [3]}) == [{"name": "n3"}]
    assert db.select("items", ["value"], {"name": "n2"}) == [{"value": 2}]
    assert db.select("items", ["name"], {"value": 3}) == [{"name": "n3"}]
    assert db.select_rows("items", ["name", "value"], {"value": 2}) == [("n2", 2)]
    with pytest.raises(DBError):
        db.select("items", ["name"], {"bad name": 1})


def test_update_and_delete_counts(db):
    db.insert("items", {"name": "x", "value": 1})
    db.insert("items", {"name": "y", "value": 1})
    assert db.update("items", {"value": 2}, {"name": "x"}) == 1
    # matched rows, even when nothing changes (both dialects alike)
    assert db.update("items", {"value": 2}, {"name": "x"}) == 1
    assert db.update("items", {"value": 5}, {"name": "nobody"}) == 0
    assert db.delete("items", {"value": 1}) == 1
    assert db.select("items", ["name", "value"]) == [{"name": "x", "value": 2}]
    assert db.delete("items", {}) == 1
    assert db.select("items", ["name"]) == []


def test_query_and_execute_with_placeholders(db):
    assert db.execute("INSERT INTO items (name, value) VALUES (?, ?)", ("p", 7)) == 1
    assert db.query("SELECT name, value FROM items WHERE value = ? AND name LIKE ?", (7, "p%")) == [("p", 7)]
    # '?' and '%' inside a literal are text, not placeholders
    assert db.query("SELECT '?', '%', ? FROM items", ("z",)) == [("?", "%", "z")]
    assert db.query("SELECT COUNT(*) FROM items WHERE name = ?", ["p"]) == [(1,)]


@pytest.mark.parametrize("text", NASTY)
def test_metacharacters_stored_verbatim(db, text):
    row_id = db.insert("items", {"name": text, "value": 1})
    assert db.select("items", ["name"], {"id": row_id}) == [{"name": text}]
    assert db.select("items", ["id"], {"name": text}) == [{"id": row_id}]
    assert db.query("SELECT name FROM items WHERE name = ?", (text,)) == [(text,)]
    assert db.update("items", {"name": text + "!"}, {"name": text}) == 1
    assert db.delete("items", {"name": text + "!"}) == 1
    assert db.query("SELECT COUNT(*) FROM items") == [(0,)]


@pytest.mark.parametrize("name", ["items; DROP TABLE items", "a b", "1abc", "na`me", 'x"y', "", "é"])
def test_identifiers_checked(db, name):
    with pytest.raises(DBError):
        check_identifier(name)
    with pytest.raises(DBError):
        db.select(name, ["id"])
    with pytest.raises(DBError):
        db.select("items", [name])
    with pytest.raises(DBError):
        db.insert("items", {name: 1})
    with pytest.raises(DBError):
        db.update("items", {"value": 1}, {name: 1})
    with pytest.raises(DBError):
        db.delete("items", {name: 1})


def test_order_by_checked(db):
    for bad in ("name; DROP TABLE items", "name DESC, (SELECT 1)", "name SIDEWAYS", ""):
        with pytest.raises(DBError):
            db.select("items", ["id"], order_by=bad or ",")


def test_sql_error_is_dberror(db):
    with pytest.raises(DBError):
        db.query("SELECT nope FROM items")
    with pytest.raises(DBError):
        db.execute("INSERT INTO no_such_table (a) VALUES (?)", (1,))
    with pytest.raises(DBError):
        db.query("SELECT ? FROM items", (1, 2))
    # still usable afterwards
    assert db.ping() is True


def test_table_version(db):
    db.execute("CREATE TABLE IF NOT EXISTS version (table_name CHAR(32) NOT NULL, "
               "table_version INT DEFAULT 0 NOT NULL)")
    db.delete("version", {"table_name": "items"})
    assert db.table_version("items") is None
    db.insert("version", {"table_name": "items", "table_version": 3})
    assert db.table_version("items") == 3
    db.delete("version", {"table_name": "items"})


def test_close_and_reopen(db):
    db.insert("items", {"name": "kept"})
    db.close()
    assert db.select("items", ["name"]) == [{"name": "kept"}]


def test_concurrent_greenlets(db):
    import gevent

    def worker(n):
        for i in range(10):
            row_id = db.insert("items", {"name": f"w{n}-{i}", "value": n})
            assert db.select("items", ["name"], {"id": row_id}) == [{"name": f"w{n}-{i}"}]
            gevent.sleep(0)
        return len(db.select("items", ["id"], {"value": n}))

    jobs = [gevent.spawn(worker, n) for n in range(20)]
    gevent.joinall(jobs, raise_error=True)
    assert [job.value for job in jobs] == [10] * 20
    assert db.query("SELECT COUNT(*) FROM items") == [(200,)]
