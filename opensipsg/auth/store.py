"""Database access shared by the auth family of modules (auth_db, uri, domain,
alias_db, group): one place that turns every backend failure into
:class:`StoreError`, so a script function can answer "error" instead of
letting an exception escape. Values always travel as bound parameters; table
and column names come from modparams only."""
from __future__ import annotations

import logging
from typing import Any

from .. import errors

log = logging.getLogger(__name__)

# the database layer raises errors.DBError; until it exists, its root class
DBError: type[Exception] = getattr(errors, "DBError", errors.OpensipsgError)


class StoreError(errors.OpensipsgError):
    """A database query failed (connection, timeout, bad table/column...)."""


def open_database(core: Any, url: str, module: str) -> Any:
    """The shared handle for ``url`` (ValueError at start-up when impossible)."""
    if not url:
        raise ValueError(f"{module}: db_url is not set")
    opener = getattr(core, "database", None)
    if opener is None:
        raise ValueError(f"{module}: no database support in this core")
    try:
        return opener(url)
    except Exception as exc:  # noqa: BLE001 - any backend failure is a start-up error here
        raise ValueError(f"{module}: cannot open database {url!r}: {exc}") from exc


def select(db: Any, table: str, columns: list[str], where: dict[str, Any],
           limit: int | None = None) -> list[dict[str, Any]]:
    """``db.select`` with every failure turned into StoreError."""
    return _guarded(lambda: list(db.select(table, columns, where, limit=limit)), f"query on table {table!r}")


def select_rows(db: Any, table: str, columns: list[str], where: dict[str, Any],
                limit: int | None = None) -> list[tuple[Any, ...]]:
    """``db.select_rows`` (tuples in the order of ``columns``) with every failure turned into StoreError."""
    try:  # inline rather than _guarded(lambda ...): this runs once per authenticated request
        return db.select_rows(table, columns, where, limit=limit)
    except Exception as exc:  # noqa: BLE001 - as _guarded
        raise _store_error(exc, f"query on table {table!r}") from exc


def query(db: Any, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
    return _guarded(lambda: list(db.query(sql, params)), "query")


def _guarded(run: Any, what: str) -> Any:
    try:
        return run()
    except Exception as exc:  # noqa: BLE001 - the backend's own errors (sqlite3, pymysql)
        raise _store_error(exc, what) from exc


def _store_error(exc: Exception, what: str) -> StoreError:
    if isinstance(exc, DBError):
        return StoreError(f"{what} failed: {exc}")
    return StoreError(f"{what} failed: {exc!r}")


def text(value: Any) -> str:
    """A column value as text ('' for NULL)."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
