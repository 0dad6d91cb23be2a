"""Database access: one small interface, two backends chosen by the db_url.

``connect(url)`` returns a :class:`Database` without touching the server; the
connection opens on first use, so ``opensipsg -c`` never needs a database.

URLs (OpenSIPS 1.6 ``db_url`` syntax plus an embedded SQLite backend):

- ``mysql://user:password@host[:port]/database`` (pymysql; user and password
  are URL-decoded, port 3306 by default)
- ``sqlite:///abs/path.db``, ``sqlite://relative/path.db``,
  ``sqlite:///:memory:`` (tests)

Every statement takes ``?`` placeholders in both dialects; values always
travel as parameters, identifiers are checked against
``[A-Za-z_][A-Za-z0-9_]*`` and quoted per dialect. DATETIME values go in and
come out as ``'YYYY-MM-DD HH:MM:SS'`` text (local time, as 1.6's db_mysql
does); :func:`time_to_db` and :func:`db_to_time` convert.

Every failure (unreachable server, timeout, SQL error) raises
:class:`~opensipsg.errors.DBError`. A lost connection is reopened once and the
statement retried once. Each Database owns one connection guarded by a
``threading.Lock``: gevent's monkey-patching (daemon only) makes that lock
cooperative, and the CLI, which stays synchronous, never imports gevent.
"""
from __future__ import annotations

import abc
import datetime
import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

from ..errors import DBError

__all__ = ["DBError", "Database", "connect", "time_to_db", "db_to_time", "check_identifier"]

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_ORDER_TERM = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)(?:\s+(ASC|DESC))?\s*\Z", re.IGNORECASE)
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
STATEMENT_CACHE_MAX = 256  # SQL texts kept per Database (then the cache starts over)
_COLLECTIONS = (list, tuple, set, frozenset)


def check_identifier(name: str) -> str:
    """``name`` if it is a plain SQL identifier; DBError otherwise."""
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise DBError(f"invalid SQL identifier {name!r}")
    return name


def time_to_db(timestamp: float) -> str:
    """Unix time -> DATETIME text in local time (0 -> the epoch, as 1.6 stores it)."""
    return time.strftime(DATETIME_FORMAT, time.localtime(int(timestamp)))


def db_to_time(value: Any) -> float:
    """DATETIME text (or datetime) in local time -> unix time."""
    if value is None:
        return 0.0
    if isinstance(value, datetime.datetime):
        return time.mktime(value.timetuple())
    if isinstance(value, (int, float)):
        return float(value)
    text = value.decode() if isinstance(value, bytes) else str(value)
    try:
        return time.mktime(time.strptime(text[:19], DATETIME_FORMAT))
    except (ValueError, OverflowError):
        raise DBError(f"bad DATETIME value {text!r}") from None


class Database(abc.ABC):
    """A lazily opened connection with the portable helpers. See module docstring.

    Backends implement ``_open()``, ``_translate(sql)``, ``_is_lost(exc)``,
    ``_wrap(exc)`` and ``quote(name)``.
    """

    dialect: str = ""
    _rows_are_tuples = False  # the backend's fetchall() gives a list of plain tuples already

    def __init__(self, timeout: float = 5.0) -> None:
        self.timeout = float(timeout)
        self._conn: Any = None
        self._lock = threading.Lock()
        # select() shape -> SQL text: built (identifiers checked and quoted) once per call site
        self._select_sql: dict[tuple[Any, ...], str] = {}

    # -- backend hooks --------------------------------------------------------
    @abc.abstractmethod
    def _open(self) -> Any:
        """Open and return the backend connection."""

    def _translate(self, sql: str, params: Sequence[Any]) -> str:
        return sql

    def _is_lost(self, exc: BaseException) -> bool:
        """Whether ``exc`` means the connection is gone (worth one reconnect)."""
        return False

    def _errors(self) -> tuple[type[BaseException], ...]:
        return ()

    @abc.abstractmethod
    def quote(self, name: str) -> str:
        """An identifier quoted for this dialect."""

    def describe(self) -> str:
        return self.dialect

    # -- core -------------------------------------------------------------------
    def _acquire(self) -> None:
        if self._lock.acquire(False):  # the usual case, without arming a timer
            return
        # bounded: a stuck statement ends by its own timeout; waiting in line
        # behind many of them must not hang a caller forever
        if not self._lock.acquire(timeout=max(self.timeout * 4, 1.0)):
            raise DBError(f"{self.describe()}: timed out waiting for the connection")

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def _run(self, sql: str, params: Sequence[Any], fetch: bool) -> tuple[list[tuple], int, Any]:
        params = tuple(params)
        text = self._translate(sql, params)
        if not self._lock.acquire(False):  # (the usual case without the _acquire() call)
            self._acquire()
        try:
            started = time.monotonic()
            for attempt in (1, 2):
                fresh = self._conn is None
                try:
                    if fresh:
                        self._conn = self._open()
                    cursor = self._conn.cursor()
                    try:
                        cursor.execute(text, params)
                        if not fetch:
                            rows = []
                        elif self._rows_are_tuples:
                            rows = cursor.fetchall()
                        else:
                            rows = [tuple(r) for r in cursor.fetchall()]
                        return rows, cursor.rowcount, cursor.lastrowid
                    finally:
                        cursor.close()
                except self._errors() as exc:
                    lost = self._is_lost(exc)
                    if lost:
                        self._drop()
                    retry = (
                        lost and attempt == 1 and not fresh and "timed out" not in str(exc)
                        and time.monotonic() - started < self.timeout
                    )
                    if not retry:
                        raise DBError(f"{self.describe()}: {exc}") from exc
                except BaseException:
                    # e.g. gevent.Timeout mid-statement: the protocol state is unknown
                    self._drop()
                    raise
            raise AssertionError("unreachable")
        finally:
            self._lock.release()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Rows of a SELECT as tuples."""
        return self._run(sql, params, True)[0]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; returns the affected (for UPDATE: matched) row count."""
        return self._run(sql, params, False)[1]

    def close(self) -> None:
        self._acquire()
        try:
            self._drop()
        finally:
            self._lock.release()

    def ping(self) -> bool:
        """True when the server answers; DBError otherwise."""
        self.query("SELECT 1")
        return True

    def table_version(self, table: str) -> int | None:
        """``version.table_version`` of ``table`` (None when no row)."""
        rows = self.select("version", ["table_version"], {"table_name": table})
        return int(rows[0]["table_version"]) if rows else None

    # -- helpers ----------------------------------------------------------------
    def _where(self, where: Mapping[str, Any]) -> tuple[str, list[Any]]:
        if not where:
            return "", []
        parts: list[str] = []
        values: list[Any] = []
        for column, value in where.items():
            name = self.quote(column)
            if value is None:
                parts.append(f"{name} IS NULL")
            elif isinstance(value, (list, tuple, set, frozenset)):
                items = list(value)
                if not items:
                    parts.append("1=0")
                    continue
                parts.append(f"{name} IN ({', '.join('?' * len(items))})")
                values.extend(items)
            else:
                parts.append(f"{name} = ?")
                values.append(value)
        return " WHERE " + " AND ".join(parts), values

    def _order_by(self, order_by: str) -> str:
        terms = []
        for term in order_by.split(","):
            match = _ORDER_TERM.match(term)
            if not match:
                raise DBError(f"invalid ORDER BY {order_by!r}")
            terms.append(self.quote(match.group(1)) + (f" {match.group(2).upper()}" if match.group(2) else ""))
        return " ORDER BY " + ", ".join(terms)

    def select(
        self,
        table: str,
        columns: Iterable[str] | str,
        where: Mapping[str, Any] | None = None,
        order_by: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Rows as dicts; ``where`` maps column -> value (None: IS NULL, list: IN)."""
        names = [columns] if isinstance(columns, str) else list(columns)
        return [dict(zip(names, row)) for row in self.select_rows(table, names, where, order_by, limit)]

    def select_rows(
        self,
        table: str,
        columns: Sequence[str],
        where: Mapping[str, Any] | None = None,
        order_by: str | None = None,
        limit: int | None = None,
    ) -> list[tuple]:
        """:meth:`select` with rows as tuples, values in the order of ``columns``."""
        names = columns
        if not names:
            raise DBError("select: no columns")
        where = where or {}
        values = list(where.values())
        for value in values:
            if value is None or isinstance(value, _COLLECTIONS):
                key = None  # IS NULL / IN (...): the text depends on the values
                break
        else:
            key = (table, tuple(names), tuple(where), order_by, limit is not None)
        sql = self._select_sql.get(key) if key is not None else None
        if sql is None:
            sql_columns = ", ".join(self.quote(c) for c in names)
            clause, values = self._where(where)
            sql = f"SELECT {sql_columns} FROM {self.quote(table)}{clause}"
            if order_by:
                sql += self._order_by(order_by)
            if limit is not None:
                sql += " LIMIT ?"
            if key is not None:
                if len(self._select_sql) >= STATEMENT_CACHE_MAX:
                    self._select_sql.clear()
                self._select_sql[key] = sql
        if limit is not None:
            values.append(int(limit))
        return self._run(sql, values, True)[0]  # query(), without its call

    def insert(self, table: str, row: Mapping[str, Any]) -> int:
        """Insert one row; returns its auto-increment id (lastrowid)."""
        if not row:
            raise DBError("insert: no values")
        columns = ", ".join(self.quote(c) for c in row)
        marks = ", ".join("?" * len(row))
        sql = f"INSERT INTO {self.quote(table)} ({columns}) VALUES ({marks})"
        return int(self._run(sql, list(row.values()), False)[2] or 0)

    def update(self, table: str, values: Mapping[str, Any], where: Mapping[str, Any]) -> int:
        """Returns the number of matched rows (the same in both dialects)."""
        if not values:
            raise DBError("update: no values")
        assignments = ", ".join(f"{self.quote(c)} = ?" for c in values)
        clause, where_values = self._where(where)
        sql = f"UPDATE {self.quote(table)} SET {assignments}{clause}"
        return self.execute(sql, [*values.values(), *where_values])

    def delete(self, table: str, where: Mapping[str, Any]) -> int:
        """Delete matching rows (an empty ``where`` deletes every row)."""
        clause, values = self._where(where)
        return self.execute(f"DELETE FROM {self.quote(table)}{clause}", values)

    def __repr__(self) -> str:
        return f"<Database {self.describe()}>"


def connect(url: str, timeout: float = 5.0) -> Database:
    """A Database for ``url`` (nothing is opened until the first statement)."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise DBError(f"invalid db_url {url!r}")
    if scheme == "sqlite":
        from .sqlite import SqliteDatabase

        if rest.startswith("/"):
            path = rest[1:] if rest == "/:memory:" else rest
        else:
            path = rest
        if not path:
            raise DBError(f"invalid db_url {url!r}: no file name")
        return SqliteDatabase(path, timeout)
    if scheme == "mysql":
        from .mysql import MysqlDatabase

        parts = urlsplit(url)
        database = parts.path.lstrip("/")
        try:
            port = parts.port or 3306
        except ValueError:
            raise DBError(f"invalid db_url {url!r}: bad port") from None
        if not parts.hostname or not database:
            raise DBError(f"invalid db_url {url!r}: host and database are required")
        return MysqlDatabase(
            host=parts.hostname,
            port=port,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            database=unquote(database),
            timeout=timeout,
        )
    raise DBError(f"unsupported db_url scheme {scheme!r} (mysql:// and sqlite:// are supported)")
