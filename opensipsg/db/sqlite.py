"""SQLite backend (the embedded default): stdlib sqlite3, autocommit."""
from __future__ import annotations

import os
import sqlite3
from typing import Any

from . import Database, check_identifier


class SqliteDatabase(Database):
    dialect = "sqlite"
    _rows_are_tuples = True  # sqlite3 without a row_factory

    def __init__(self, path: str, timeout: float = 5.0) -> None:
        super().__init__(timeout)
        self.path = path

    def describe(self) -> str:
        return f"sqlite {self.path}"

    def quote(self, name: str) -> str:
        return '"' + check_identifier(name) + '"'

    def _errors(self) -> tuple[type[BaseException], ...]:
        return (sqlite3.Error, OSError)

    def _open(self) -> Any:
        if self.path != ":memory:":
            directory = os.path.dirname(os.path.abspath(self.path))
            if not os.path.isdir(directory):
                raise sqlite3.OperationalError(f"no such directory: {directory}")
        # isolation_level=None: autocommit, as the MySQL backend; the lock in
        # Database serialises users, so the connection may cross threads
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
        return conn
