"""The OpenSIPS 1.6 database schema as data: one definition, two dialects.

Tables, columns, keys and ``version`` numbers are those of 1.6.3's
``scripts/mysql/<group>-create.sql`` (generated there from ``db/schema/*.xml``).
Differences, on purpose:

- MySQL tables use InnoDB, not 1.6's MyISAM: crash-safe, row locks for two
  proxies sharing usrloc in db_mode 3, and MyISAM's 1000-byte key limit breaks
  ``location``'s index under a utf8mb4 default charset.
- Every statement is idempotent (``CREATE TABLE IF NOT EXISTS``, indexes
  inside the table definition for MySQL, ``CREATE INDEX IF NOT EXISTS`` for
  SQLite, ``INSERT IGNORE`` / ``INSERT OR IGNORE`` of version rows), so
  ``create_database()`` may run on a database that already has the tables.
- SQLite index names carry the table name (``acc_callid_idx``) because SQLite
  index names are per database, as 1.6's PostgreSQL scripts do.
- ``cdrs`` is not part of OpenSIPS 1.6: it is the opensips-cp style CDR table
  (group ``cdrs``), filled from ``acc`` by a job outside the proxy. ``acc``
  itself stays exactly 1.6 (no ``cdr_id`` column).

``python -m opensipsg.db.schema --write sql/`` writes ``sql/<dialect>/<group>-create.sql``.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from typing import Any

DIALECTS = ("mysql", "sqlite")
_NO_DEFAULT = object()


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # char, int, smallint, tinyint, bigint, datetime, float, text, blob
    length: int | str | None = None  # CHAR(64), INT(11), FLOAT(10,2) -> "10,2"
    unsigned: bool = False
    nullable: bool = False
    default: Any = _NO_DEFAULT  # None with nullable: DEFAULT NULL
    autoincrement: bool = False  # also the primary key

    @property
    def has_default(self) -> bool:
        return self.default is not _NO_DEFAULT


@dataclass(frozen=True)
class Index:
    name: str
    columns: tuple[str, ...]
    unique: bool = False


@dataclass(frozen=True)
class Table:
    name: str
    version: int | None
    group: str
    columns: tuple[Column, ...]
    indexes: tuple[Index, ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


# -- column shorthands ------------------------------------------------------------
def _id(name: str = "id") -> Column:
    return Column(name, "int", 10, unsigned=True, autoincrement=True)


def _char(name: str, length: int, default: Any = "", nullable: bool = False) -> Column:
    return Column(name, "char", length, nullable=nullable, default=default)


def _char_null(name: str, length: int) -> Column:
    return Column(name, "char", length, nullable=True, default=None)


def _char_req(name: str, length: int) -> Column:
    """CHAR NOT NULL without a default."""
    return Column(name, "char", length)


def _int(name: str, default: Any = _NO_DEFAULT, length: int | None = 11, unsigned: bool = False) -> Column:
    return Column(name, "int", length, unsigned=unsigned, default=default)


def _datetime(name: str, default: Any = "1900-01-01 00:00:01") -> Column:
    return Column(name, "datetime", default=default)


def _contacts_table(name: str, group: str, index: str) -> Table:
    """location and aliases (usrloc/registrar) share one layout [1005]."""
    return Table(name, 1005, group, (
        _id(),
        _char("username", 64),
        _char_null("domain", 64),
        _char("contact", 255),
        _char_null("received", 128),
        _char_null("path", 128),
        _datetime("expires", "2020-05-28 21:32:15"),
        Column("q", "float", "10,2", default=1.0),
        _char("callid", 255, "Default-Call-ID"),
        _int("cseq", 13),
        _datetime("last_modified"),
        _int("flags", 0),
        _int("cflags", 0),
        _char("user_agent", 255),
        _char_null("socket", 64),
        Column("methods", "int", 11, nullable=True, default=None),
    ), (Index(index, ("username", "domain", "contact")),))


def _acc_table(name: str, version: int) -> Table:
    return Table(name, version, "acc", (
        _id(),
        _char("method", 16),
        _char("from_tag", 64),
        _char("to_tag", 64),
        _char("callid", 64),
        _char("sip_code", 3),
        _char("sip_reason", 32),
        Column("time", "datetime"),
    ), (Index("callid_idx", ("callid",)),))


TABLES: tuple[Table, ...] = (
    Table("version", None, "standard", (
        _char_req("table_name", 32),
        Column("table_version", "int", None, unsigned=True, default=0),
    ), (Index("t_name_idx", ("table_name",), unique=True),)),
    _acc_table("acc", 5),
    _acc_table("missed_calls", 4),
    Table("dbaliases", 2, "alias_db", (
        _id(),
        _char("alias_username", 64),
        _char("alias_domain", 64),
        _char("username", 64),
        _char("domain", 64),
    ), (Index("alias_idx", ("alias_username", "alias_domain"), unique=True),
        Index("target_idx", ("username", "domain")))),
    Table("subscriber", 7, "auth_db", (
        _id(),
        _char("username", 64),
        _char("domain", 64),
        _char("password", 25),
        _char("email_address", 64),
        _char("ha1", 64),
        _char("ha1b", 64),
        _char_null("rpid", 64),
    ), (Index("account_idx", ("username", "domain"), unique=True),
        Index("username_idx", ("username",)))),
    Table("usr_preferences", 3, "avpops", (
        _id(),
        _char("uuid", 64),
        _char("username", 128, 0),
        _char("domain", 64),
        _char("attribute", 32),
        _int("type", 0),
        _char("value", 128),
        _datetime("last_modified"),
    ), (Index("ua_idx", ("uuid", "attribute")),
        Index("uda_idx", ("username", "domain", "attribute")),
        Index("value_idx", ("value",)))),
    Table("dialog", 4, "dialog", (
        _id(),
        _int("hash_entry", length=10, unsigned=True),
        _int("hash_id", length=10, unsigned=True),
        _char_req("callid", 255),
        _char_req("from_uri", 128),
        _char_req("from_tag", 64),
        _char_req("to_uri", 128),
        _char_req("to_tag", 64),
        _char_req("caller_cseq", 7),
        _char_req("callee_cseq", 7),
        Column("caller_route_set", "text", 512, nullable=True),
        Column("callee_route_set", "text", 512, nullable=True),
        _char_req("caller_contact", 128),
        _char_req("callee_contact", 128),
        _char_req("caller_sock", 64),
        _char_req("callee_sock", 64),
        _int("state", length=10, unsigned=True),
        _int("start_time", length=10, unsigned=True),
        _int("timeout", length=10, unsigned=True),
        Column("vars", "text", 512, nullable=True, default=None),
        Column("profiles", "text", 512, nullable=True, default=None),
        _int("script_flags", 0, length=10, unsigned=True),
    ), (Index("hash_idx", ("hash_entry", "hash_id")),)),
    Table("dialplan", 2, "dialplan", (
        _id(),
        _int("dpid"),
        _int("pr"),
        _int("match_op"),
        _char_req("match_exp", 64),
        _int("match_len"),
        _char_req("subst_exp", 64),
        _char_req("repl_exp", 32),
        _char_req("attrs", 32),
    )),
    Table("domain", 2, "domain", (
        _id(),
        _char("domain", 64),
        _datetime("last_modified"),
    ), (Index("domain_idx", ("domain",), unique=True),)),
    Table("dr_gateways", 4, "drouting", (
        _id("gwid"),
        _int("type", 0, unsigned=True),
        _char_req("address", 128),
        _int("strip", 0, unsigned=True),
        _char_null("pri_prefix", 16),
        _char_null("attrs", 255),
        _int("probe_mode", 0, unsigned=True),
        _char("description", 128),
    )),
    Table("dr_rules", 3, "drouting", (
        _id("ruleid"),
        _char_req("groupid", 255),
        _char_req("prefix", 64),
        _char_req("timerec", 255),
        _int("priority", 0),
        _char_req("routeid", 255),
        _char_req("gwlist", 255),
        _char("description", 128),
    )),
    Table("dr_gw_lists", 1, "drouting", (
        _id(),
        _char_req("gwlist", 255),
        _char("description", 128),
    )),
    Table("dr_groups", 2, "drouting", (
        _id(),
        _char_req("username", 64),
        _char("domain", 128),
        _int("groupid", 0, unsigned=True),
        _char("description", 128),
    )),
    Table("grp", 3, "group", (
        _id(),
        _char("username", 64),
        _char("domain", 64),
        _char("grp", 64),
        _datetime("last_modified"),
    ), (Index("account_group_idx", ("username", "domain", "grp"), unique=True),)),
    Table("re_grp", 2, "group", (
        _id(),
        _char("reg_exp", 128),
        _int("group_id", 0),
    ), (Index("group_idx", ("group_id",)),)),
    Table("silo", 6, "msilo", (
        _id(),
        _char("src_addr", 128),
        _char("dst_addr", 128),
        _char("username", 64),
        _char("domain", 64),
        _int("inc_time", 0, length=None),
        _int("exp_time", 0, length=None),
        _int("snd_time", 0, length=None),
        _char("ctype", 32, "text/plain"),
        Column("body", "blob", default=""),
    ), (Index("account_idx", ("username", "domain")),)),
    Table("address", 5, "permissions", (
        _id(),
        Column("grp", "smallint", 5, unsigned=True, default=0),
        _char_req("ip", 50),
        Column("mask", "tinyint", default=32),
        Column("port", "smallint", 5, unsigned=True, default=0),
        _char("proto", 4, "any"),
        _char_null("pattern", 64),
        _char_null("context_info", 32),
    )),
    _contacts_table("aliases", "registrar", "alias_idx"),
    Table("sip_trace", 3, "siptrace", (
        _id(),
        _datetime("time_stamp"),
        _char("callid", 255),
        _char_null("traced_user", 128),
        Column("msg", "text"),
        _char("method", 32),
        _char_null("status", 128),
        _char("fromip", 50),
        _char("toip", 50),
        _char("fromtag", 64),
        _char("direction", 4),
    ), (Index("traced_user_idx", ("traced_user",)),
        Index("date_idx", ("time_stamp",)),
        Index("fromip_idx", ("fromip",)),
        Index("callid_idx", ("callid",)))),
    Table("uri", 2, "uri_db", (
        _id(),
        _char("username", 64),
        _char("domain", 64),
        _char("uri_user", 64),
        _datetime("last_modified"),
    ), (Index("account_idx", ("username", "domain", "uri_user"), unique=True),)),
    _contacts_table("location", "usrloc", "account_contact_idx"),
    # Not OpenSIPS 1.6: the opensips-cp style CDR table (one row per call,
    # built from the INVITE and BYE rows of acc). The column set follows
    # opensips-cp's cdrviewer; no version row (1.6 has no number for it).
    Table("cdrs", None, "cdrs", (
        Column("cdr_id", "bigint", 20, unsigned=True, autoincrement=True),
        _char("src_username", 64),
        _char("src_domain", 128),
        _char("dst_username", 64),
        _char("dst_domain", 128),
        _char("dst_ousername", 64),
        _datetime("call_start_time"),
        _int("duration", 0, length=10, unsigned=True),
        _char("sip_call_id", 128),
        _char("sip_from_tag", 128),
        _char("sip_to_tag", 128),
        _char("src_ip", 64),
        _int("cost", 0),
        _int("rated", 0),
        Column("created", "datetime"),
    ), (Index("call_idx", ("sip_call_id", "sip_from_tag", "sip_to_tag"), unique=True),
        Index("call_start_idx", ("call_start_time",)))),
)

TABLES_BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}

# opensipsdbctl's module groups (1.6 file names), in its creation order
GROUPS: tuple[str, ...] = (
    "standard", "acc", "domain", "group", "permissions", "registrar", "usrloc", "msilo",
    "alias_db", "uri_db", "avpops", "auth_db", "dialog", "dialplan", "drouting", "siptrace",
    "cdrs",
)


def tables_of_group(group: str) -> list[Table]:
    if group not in GROUPS:
        raise KeyError(f"unknown schema group {group!r}")
    return [t for t in TABLES if t.group == group]


def table_versions() -> dict[str, int]:
    """table name -> the 1.6 ``version.table_version`` number."""
    return {t.name: t.version for t in TABLES if t.version is not None}


# -- rendering ---------------------------------------------------------------------
def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _mysql_type(column: Column) -> str:
    kind = column.type.upper()
    if column.type in ("char", "int", "smallint", "bigint", "text") and column.length is not None:
        kind += f"({column.length})"
    elif column.type == "float":
        kind += f"({column.length})" if column.length is not None else ""
    if column.unsigned:
        kind += " UNSIGNED"
    return kind


_SQLITE_TYPES = {"int": "INTEGER", "smallint": "INTEGER", "tinyint": "INTEGER", "bigint": "INTEGER",
                 "datetime": "DATETIME", "float": "REAL", "text": "TEXT", "blob": "BLOB"}


def _sqlite_type(column: Column) -> str:
    if column.type == "char":
        return f"CHAR({column.length})"
    return _SQLITE_TYPES[column.type]


def _column_sql(column: Column, dialect: str) -> str:
    if column.autoincrement:
        if dialect == "sqlite":
            return f"{column.name} INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL"
        return f"{column.name} {_mysql_type(column)} AUTO_INCREMENT PRIMARY KEY NOT NULL"
    text = f"{column.name} {_mysql_type(column) if dialect == 'mysql' else _sqlite_type(column)}"
    if column.has_default:
        text += f" DEFAULT {_literal(column.default)}"
    if not column.nullable:
        text += " NOT NULL"
    return text


def _check_dialect(dialect: str) -> None:
    if dialect not in DIALECTS:
        raise ValueError(f"unknown SQL dialect {dialect!r}")


def _select(tables: Any) -> list[Table]:
    if tables is None:
        return list(TABLES)
    return [t if isinstance(t, Table) else TABLES_BY_NAME[t] for t in tables]


def version_statement(table: Table, dialect: str) -> str:
    verb = "INSERT IGNORE INTO" if dialect == "mysql" else "INSERT OR IGNORE INTO"
    return (f"{verb} version (table_name, table_version) "
            f"VALUES ({_literal(table.name)}, {table.version})")


def table_statements(table: Table, dialect: str) -> list[str]:
    """CREATE TABLE (+ indexes) and the version row of one table."""
    _check_dialect(dialect)
    statements = []
    if table.version is not None:
        statements.append(version_statement(table, dialect))
    lines = [_column_sql(c, dialect) for c in table.columns]
    unique = [i for i in table.indexes if i.unique]
    plain = [i for i in table.indexes if not i.unique]
    for index in unique:
        lines.append(f"CONSTRAINT {index.name} UNIQUE ({', '.join(index.columns)})")
    if dialect == "mysql":
        lines += [f"INDEX {i.name} ({', '.join(i.columns)})" for i in plain]
    body = ",\n    ".join(lines)
    tail = ") ENGINE=InnoDB" if dialect == "mysql" else ")"
    statements.append(f"CREATE TABLE IF NOT EXISTS {table.name} (\n    {body}\n{tail}")
    if dialect == "sqlite":
        statements += [f"CREATE INDEX IF NOT EXISTS {table.name}_{i.name} ON {table.name} ({', '.join(i.columns)})"
                       for i in plain]
    return statements


def create_statements(dialect: str, tables: Any = None) -> list[str]:
    """Statements creating ``tables`` (names or Tables; default all), ``version`` first."""
    _check_dialect(dialect)
    selected = _select(tables)
    if any(t.version is not None for t in selected) and TABLES_BY_NAME["version"] not in selected:
        selected.insert(0, TABLES_BY_NAME["version"])
    selected.sort(key=lambda t: t.name != "version")
    statements: list[str] = []
    for table in selected:
        statements += table_statements(table, dialect)
    return statements


def drop_statements(dialect: str, tables: Any = None) -> list[str]:
    """DROP TABLE IF EXISTS for ``tables`` (default all, ``version`` last)."""
    _check_dialect(dialect)
    selected = _select(tables)
    selected.sort(key=lambda t: t.name == "version")
    return [f"DROP TABLE IF EXISTS {t.name}" for t in selected]


def create_database(db: Any, tables: Any = None) -> None:
    """Create the tables (default all) and their version rows on a Database."""
    for statement in create_statements(db.dialect, tables):
        db.execute(statement)


def group_script(group: str, dialect: str) -> str:
    """The text of ``sql/<dialect>/<group>-create.sql``."""
    _check_dialect(dialect)
    tables = tables_of_group(group)
    header = [f"-- {group}-create.sql: OpenSIPS 1.6 tables for {dialect}",
              "-- generated by `python -m opensipsg.db.schema --write sql/`; do not edit"]
    if group == "cdrs":
        header.append("-- not part of OpenSIPS 1.6: the opensips-cp style CDR table")
    statements: list[str] = []
    for table in tables:
        statements += table_statements(table, dialect)
    return "\n".join(header) + "\n\n" + "".join(s + ";\n\n" for s in statements).rstrip("\n") + "\n"


def generated_files() -> dict[str, str]:
    """Relative path -> text of every file under sql/."""
    return {os.path.join(dialect, f"{group}-create.sql"): group_script(group, dialect)
            for dialect in DIALECTS for group in GROUPS}


def write_files(directory: str) -> list[str]:
    written = []
    for relative, text in generated_files().items():
        path = os.path.join(directory, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as out:
            out.write(text)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m opensipsg.db.schema",
                                     description="Print or write the OpenSIPS 1.6 schema SQL.")
    parser.add_argument("--write", metavar="DIR", help="write DIR/<dialect>/<group>-create.sql")
    parser.add_argument("--dialect", choices=DIALECTS, default="mysql", help="dialect to print")
    args = parser.parse_args(argv)
    if args.write:
        for path in write_files(args.write):
            sys.stdout.write(path + "\n")
        return 0
    sys.stdout.write("".join(s + ";\n\n" for s in create_statements(args.dialect)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
