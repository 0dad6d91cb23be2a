"""MySQL/MariaDB backend (pymysql), as 1.6's db_mysql: autocommit, one
connection per Database, DATETIME values as text, UPDATE counting matched rows.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import DBError
from . import STATEMENT_CACHE_MAX, Database, check_identifier

# pymysql/MySQL client error codes that mean "the connection is gone"
_LOST = {
    2006,  # MySQL server has gone away
    2013,  # Lost connection to MySQL server during query
    2055,  # Lost connection ... system error
    1053,  # Server shutdown in progress
    1927,  # MariaDB: connection was killed
    4031,  # disconnected by the server because of inactivity
}


def translate_placeholders(sql: str, nparams: int | None = None) -> str:
    """``?`` -> ``%s`` and ``%`` -> ``%%`` (pymysql formats with ``%``),
    leaving ``?`` inside quoted literals, quoted identifiers and comments alone.
    """
    out: list[str] = []
    count = 0
    i = 0
    n = len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"`":
            j = i + 1
            while j < n:
                if sql[j] == "\\" and ch != "`":
                    j += 2
                    continue
                if sql[j] == ch:
                    if j + 1 < n and sql[j + 1] == ch:  # doubled quote
                        j += 2
                        continue
                    break
                j += 1
            out.append(sql[i : j + 1].replace("%", "%%"))
            i = j + 1
            continue
        if sql.startswith("--", i) or ch == "#":
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(sql[i:end].replace("%", "%%"))
            i = end
            continue
        if sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(sql[i:end].replace("%", "%%"))
            i = end
            continue
        if ch == "?":
            out.append("%s")
            count += 1
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
        i += 1
    if nparams is not None and count != nparams:
        raise DBError(f"statement has {count} placeholders but {nparams} parameters were given")
    return "".join(out)


class MysqlDatabase(Database):
    dialect = "mysql"

    def __init__(self, host: str, port: int, user: str, password: str, database: str, timeout: float = 5.0) -> None:
        super().__init__(timeout)
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self._translated: dict[tuple[str, int], str] = {}

    def describe(self) -> str:
        return f"mysql {self.user}@{self.host}:{self.port}/{self.database}"

    def quote(self, name: str) -> str:
        return "`" + check_identifier(name) + "`"

    def _translate(self, sql: str, params: Sequence[Any]) -> str:
        # the scan is a Python loop per character: done once per statement text
        key = (sql, len(params))
        text = self._translated.get(key)
        if text is None:
            text = translate_placeholders(sql, len(params))
            if len(self._translated) >= STATEMENT_CACHE_MAX:
                self._translated.clear()
            self._translated[key] = text
        return text

    def _errors(self) -> tuple[type[BaseException], ...]:
        import pymysql

        return (pymysql.err.Error, OSError)

    def _is_lost(self, exc: BaseException) -> bool:
        import pymysql

        if isinstance(exc, (pymysql.err.InterfaceError, OSError)):
            return True
        if isinstance(exc, pymysql.err.OperationalError) and exc.args:
            return exc.args[0] in _LOST or exc.args[0] == 2003
        return False

    def _open(self) -> Any:
        import pymysql
        from pymysql.constants import CLIENT, FIELD_TYPE
        from pymysql.converters import conversions

        conv = dict(conversions)
        for field_type in (FIELD_TYPE.DATETIME, FIELD_TYPE.TIMESTAMP, FIELD_TYPE.DATE, FIELD_TYPE.TIME):
            conv[field_type] = str  # the same text the SQLite backend returns
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=self.database,
            connect_timeout=self.timeout,
            read_timeout=self.timeout,
            write_timeout=self.timeout,
            autocommit=True,
            charset="utf8mb4",
            client_flag=CLIENT.FOUND_ROWS,  # UPDATE returns matched rows, like SQLite
            conv=conv,
        )
