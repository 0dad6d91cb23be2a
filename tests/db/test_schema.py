"""The 1.6 schema: generated sql/ files, creation on SQLite and MariaDB, versions."""
from __future__ import annotations

import pathlib

import pytest

from opensipsg.db import connect
from opensipsg.db.schema import (
    GROUPS, TABLES, TABLES_BY_NAME, create_database, create_statements, drop_statements,
    generated_files, main, table_versions, tables_of_group,
)

SQL_DIR = pathlib.Path(__file__).resolve().parents[2] / "sql"

# 1.6.3 scripts/mysql/*-create.sql
VERSIONS_16 = {
    "acc": 5, "missed_calls": 4, "dbaliases": 2, "subscriber": 7, "usr_preferences": 3, "dialog": 4,
    "dialplan": 2, "domain": 2, "dr_gateways": 4, "dr_rules": 3, "dr_gw_lists": 1, "dr_groups": 2,
    "grp": 3, "re_grp": 2, "silo": 6, "address": 5, "aliases": 1005, "sip_trace": 3, "uri": 2,
    "location": 1005,
}

OPENSIPSDBCTL_GROUPS = {"standard", "acc", "alias_db", "auth_db", "avpops", "dialog", "dialplan", "domain",
                        "drouting", "group", "msilo", "permissions", "registrar", "siptrace", "uri_db", "usrloc"}


def test_committed_files_match_generated():
    expected = generated_files()
    for relative, text in expected.items():
        path = SQL_DIR / relative
        assert path.exists(), f"{path} missing: run python -m opensipsg.db.schema --write sql/"
        assert path.read_text(encoding="utf-8") == text, f"{path} drifted: regenerate it"
    on_disk = {str(p.relative_to(SQL_DIR)) for p in SQL_DIR.glob("*/*-create.sql")}
    assert on_disk == set(expected)


def test_write_command(tmp_path, capsys):
    assert main(["--write", str(tmp_path)]) == 0
    assert (tmp_path / "mysql" / "usrloc-create.sql").read_text() == generated_files()["mysql/usrloc-create.sql"]
    assert main(["--dialect", "sqlite"]) == 0
    assert "CREATE TABLE IF NOT EXISTS location" in capsys.readouterr().out


def test_groups_and_versions():
    assert OPENSIPSDBCTL_GROUPS <= set(GROUPS)
    assert set(GROUPS) - OPENSIPSDBCTL_GROUPS == {"cdrs"}
    assert table_versions() == VERSIONS_16
    assert [t.name for t in tables_of_group("usrloc")] == ["location"]
    assert [t.name for t in tables_of_group("drouting")] == ["dr_gateways", "dr_rules", "dr_gw_lists", "dr_groups"]
    # acc stays exactly 1.6: CDR columns only in the separate cdrs table
    assert TABLES_BY_NAME["acc"].column_names == [
        "id", "method", "from_tag", "to_tag", "callid", "sip_code", "sip_reason", "time"]
    assert TABLES_BY_NAME["missed_calls"].column_names == TABLES_BY_NAME["acc"].column_names


def test_mysql_types_as_16():
    text = "\n".join(create_statements("mysql", ["location", "silo", "address", "version"]))
    for fragment in (
        "id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL",
        "expires DATETIME DEFAULT '2020-05-28 21:32:15' NOT NULL",
        "q FLOAT(10,2) DEFAULT 1.0 NOT NULL",
        "callid CHAR(255) DEFAULT 'Default-Call-ID' NOT NULL",
        "domain CHAR(64) DEFAULT NULL",
        "methods INT(11) DEFAULT NULL",
        "INDEX account_contact_idx (username, domain, contact)",
        "body BLOB DEFAULT '' NOT NULL",
        "inc_time INT DEFAULT 0 NOT NULL",
        "grp SMALLINT(5) UNSIGNED DEFAULT 0 NOT NULL",
        "mask TINYINT DEFAULT 32 NOT NULL",
        "table_version INT UNSIGNED DEFAULT 0 NOT NULL",
        "CONSTRAINT t_name_idx UNIQUE (table_name)",
        "INSERT IGNORE INTO version (table_name, table_version) VALUES ('location', 1005)",
    ):
        assert fragment in text, fragment


def test_create_statements_put_version_first():
    statements = create_statements("sqlite", ["acc"])
    assert statements[0].startswith("CREATE TABLE IF NOT EXISTS version")
    assert drop_statements("sqlite", ["version", "acc"]) == ["DROP TABLE IF EXISTS acc", "DROP TABLE IF EXISTS version"]
    with pytest.raises(ValueError):
        create_statements("oracle")


def _check_created(db):
    for table in TABLES:
        columns = table.column_names
        assert db.select(table.name, columns) == [] or table.name == "version"
    assert {r["table_name"]: r["table_version"] for r in db.select("version", ["table_name", "table_version"])} == VERSIONS_16
    for name, version in VERSIONS_16.items():
        assert db.table_version(name) == version
    # defaults work as in 1.6: a location row needs only its key columns
    db.insert("location", {"username": "alice", "contact": "sip:alice@192.0.2.1"})
    row = db.select("location", ["domain", "expires", "q", "callid", "cseq", "last_modified", "methods"])[0]
    assert row == {"domain": None, "expires": "2020-05-28 21:32:15", "q": 1.0, "callid": "Default-Call-ID",
                   "cseq": 13, "last_modified": "1900-01-01 00:00:01", "methods": None}
    db.insert("subscriber", {"username": "alice", "domain": "example.com", "ha1": "x"})
    with pytest.raises(Exception):
        db.insert("subscriber", {"username": "alice", "domain": "example.com"})  # account_idx UNIQUE


def test_create_on_sqlite(tmp_path):
    db = connect(f"sqlite:///{tmp_path}/schema.db")
    create_database(db)
    create_database(db)  # idempotent
    _check_created(db)
    for statement in drop_statements("sqlite"):
        db.execute(statement)
    assert db.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'") == []


def test_committed_sqlite_scripts_run(tmp_path):
    import sqlite3

    conn = sqlite3.connect(tmp_path / "files.db")
    for group in GROUPS:
        conn.executescript((SQL_DIR / "sqlite" / f"{group}-create.sql").read_text())
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {t.name for t in TABLES} <= names
    conn.close()


@pytest.mark.integration
def test_create_on_mariadb(mariadb):
    db = connect(mariadb.url)
    for statement in drop_statements("mysql"):
        db.execute(statement)
    try:
        create_database(db)
        create_database(db)  # idempotent
        _check_created(db)
    finally:
        for statement in drop_statements("mysql"):
            db.execute(statement)
        db.close()


@pytest.mark.integration
def test_committed_mysql_scripts_run(mariadb):
    db = connect(mariadb.url)
    try:
        for group in GROUPS:
            text = (SQL_DIR / "mysql" / f"{group}-create.sql").read_text()
            body = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
            for statement in filter(None, (s.strip() for s in body.split(";\n"))):
                db.execute(statement.rstrip(";"))
        assert db.table_version("location") == 1005
    finally:
        for statement in drop_statements("mysql"):
            db.execute(statement)
        db.close()
