"""``opensipsctl db create|drop|migrate`` (what 1.6's opensipsdbctl did) and
``db show|exec|roexec`` (1.6 opensipsctl's raw SQL helpers).

create
    SQLite: creates the file DB_PATH (and nothing else is needed). MySQL:
    connects as DBROOTUSER/DBROOTPW (rc file or environment; never a prompt),
    ``CREATE DATABASE IF NOT EXISTS``, creates DBRWUSER/DBROUSER for '%' and
    'localhost' and grants them ALL / SELECT (as opensipsdbctl did). Then every
    standard table of opensipsg.db.schema with its ``version`` row.
    Idempotent: running it on an existing database adds missing tables only.
drop
    SQLite: removes the file. MySQL: ``DROP DATABASE`` as DBROOTUSER.
migrate
    1.6's migrate copied a 1.5 database into a new 1.6 one. Here: bring an
    existing database up to the current schema (create missing tables and
    version rows) and list tables whose ``version`` differs from 1.6's.
"""
from __future__ import annotations

import os
from typing import Any

from ..errors import DBError
from .commands import _one_line, db_url


class DBAdmin:
    def __init__(self, ctl: Any) -> None:
        self.ctl = ctl
        self.config = ctl.config

    @property
    def engine(self) -> str:
        url = self.config.get("DBURL") or ""
        if url:
            return url.partition("://")[0].upper()
        return (self.config.get("DBENGINE") or "").strip().upper()

    def _schema(self) -> Any:
        try:
            from ..db import schema
        except ImportError:
            self.ctl.fail("the database schema (opensipsg.db.schema) is not available")
        return schema

    def _name(self, dbname: str | None) -> str:
        return dbname or self.config.get("DBNAME") or "opensips"

    # -- create ------------------------------------------------------------------------
    def create(self, dbname: str | None) -> int:
        engine = self.engine
        if engine in ("SQLITE", "SQLITE3"):
            url = db_url(self.config)
            if url is None:
                self.ctl.fail("DB_PATH is not set: where should the SQLite database go?")
            path = url[len("sqlite://"):]
            directory = os.path.dirname(path) or "."
            if not os.path.isdir(directory):
                self.ctl.fail(f"cannot create the database: directory {directory} does not exist")
            self.ctl.info(f"creating database {path} ...")
            return self._create_tables(url)
        if engine == "MYSQL":
            name = self._name(dbname)
            self._mysql_root(name, create=True)
            config = dict(self.config, DBNAME=name)
            return self._create_tables(db_url(config) or "")
        self.ctl.fail("This command requires a database engine - none was loaded "
                      "(DBENGINE=MYSQL or DBENGINE=SQLITE)", 255)

    def _create_tables(self, url: str) -> int:
        from ..db import connect

        schema = self._schema()
        try:
            db = connect(url)
            db.ping()
        except DBError as exc:
            self.ctl.fail(f"cannot connect to the database: {_one_line(exc)}")
        try:
            schema.create_database(db)
        except DBError as exc:
            self.ctl.fail(f"creating the tables failed: {_one_line(exc)}")
        finally:
            db.close()
        self.ctl.info("Core OpenSIPS tables successfully created.")
        return 0

    def _mysql_root(self, name: str, create: bool) -> None:
        import pymysql

        host = self.config.get("DBHOST") or "localhost"
        port = int(self.config.get("DBPORT") or 3306)
        user = self.config.get("DBROOTUSER") or "root"
        password = self.config.get("DBROOTPW") or os.environ.get("DBROOTPW", "")
        quoted = "`" + name.replace("`", "``") + "`"
        try:
            conn = pymysql.connect(host=host, port=port, user=user, password=password, connect_timeout=5,
                                   autocommit=True, charset="utf8mb4")
        except pymysql.MySQLError as exc:
            self.ctl.fail(f"cannot connect to the database: {_one_line(exc)}")
        try:
            with conn.cursor() as cursor:
                if not create:
                    cursor.execute(f"DROP DATABASE IF EXISTS {quoted}")
                    return
                try:
                    cursor.execute(f"CREATE DATABASE IF NOT EXISTS {quoted}")
                except pymysql.MySQLError as exc:
                    self.ctl.fail(f"creating database {name} failed: {_one_line(exc)}")
                grants = [(self.config.get("DBRWUSER") or "opensips", self.config.get("DBRWPW") or "opensipsrw",
                           "ALL PRIVILEGES"),
                          (self.config.get("DBROUSER") or "opensipsro", self.config.get("DBROPW") or "opensipsro",
                           "SELECT")]
                for db_user, db_password, privileges in grants:
                    for user_host in ("%", "localhost"):
                        try:
                            cursor.execute("CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s",
                                           (db_user, user_host, db_password))
                            cursor.execute(f"GRANT {privileges} ON {quoted}.* TO %s@%s", (db_user, user_host))
                        except pymysql.MySQLError as exc:
                            self.ctl.warn(f"granting {privileges} on {name} to {db_user}@{user_host} failed: "
                                          f"{_one_line(exc)}")
        except pymysql.MySQLError as exc:
            self.ctl.fail(f"{'creating' if create else 'dropping'} database {name} failed: {_one_line(exc)}")
        finally:
            conn.close()

    # -- drop ----------------------------------------------------------------------------
    def drop(self, dbname: str | None) -> int:
        engine = self.engine
        if engine in ("SQLITE", "SQLITE3"):
            url = db_url(self.config) or ""
            path = url[len("sqlite://"):]
            if not path or not os.path.exists(path):
                self.ctl.info(f"database {path or '(none)'} does not exist")
                return 0
            os.unlink(path)
            self.ctl.info(f"database {path} dropped")
            return 0
        if engine == "MYSQL":
            name = self._name(dbname)
            self._mysql_root(name, create=False)
            self.ctl.info(f"database {name} dropped")
            return 0
        self.ctl.fail("This command requires a database engine - none was loaded", 255)

    # -- migrate ----------------------------------------------------------------------------
    def migrate(self, dbname: str | None) -> int:
        schema = self._schema()
        db = self.ctl.db
        wanted = schema.table_versions()
        try:
            have = {str(r["table_name"]): int(r["table_version"])
                    for r in db.select("version", ["table_name", "table_version"])}
        except DBError:
            have = {}
        try:
            schema.create_database(db)
        except DBError as exc:
            self.ctl.fail(f"migrate failed: {_one_line(exc)}")
        added = sorted(set(wanted) - set(have))
        for name in added:
            self.ctl.info(f"table {name} created")
        stale = sorted(n for n in wanted if n in have and have[n] != wanted[n])
        for name in stale:
            self.ctl.warn(f"table {name} has version {have[name]}, 1.6 uses {wanted[name]}: migrate its rows by hand")
        self.ctl.info("database schema is up to date" if not stale else "database migrated (see warnings)")
        return 1 if stale else 0

    # -- raw SQL -------------------------------------------------------------------------------
    def show(self, table: str) -> int:
        db = self.ctl.db
        try:
            db.quote(table) if hasattr(db, "quote") else None
            from ..db import check_identifier

            check_identifier(table)
            cursor_rows = db.query(f"SELECT * FROM {db.quote(table)}")
            columns = self._columns(db, table)
        except DBError as exc:
            self.ctl.fail(f"db show - SQL Error: {_one_line(exc)}")
        if columns and cursor_rows and len(columns) == len(cursor_rows[0]):
            self.ctl.table(columns, cursor_rows)
        else:
            for row in cursor_rows:
                self.ctl.echo("\t".join("NULL" if v is None else str(v) for v in row))
        return 0

    @staticmethod
    def _columns(db: Any, table: str) -> list[str]:
        if getattr(db, "dialect", "") == "sqlite":
            return [str(r[1]) for r in db.query(f"PRAGMA table_info({db.quote(table)})")]
        return [str(r[0]) for r in db.query(f"SHOW COLUMNS FROM {db.quote(table)}")]

    def exec(self, query: str, read_only: bool) -> int:
        db = self.ctl.db
        try:
            if query.lstrip().lower().startswith(("select", "show", "pragma")):
                for row in db.query(query):
                    self.ctl.echo("\t".join("NULL" if v is None else str(v) for v in row))
            elif read_only:
                self.ctl.fail("db roexec runs read-only queries (SELECT/SHOW) only")
            else:
                count = db.execute(query)
                self.ctl.info(f"{count} row(s) affected")
        except DBError as exc:
            self.ctl.fail(f"SQL Error: {_one_line(exc)}")
        return 0
