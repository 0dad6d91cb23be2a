"""db_mysql -- the MySQL driver module of OpenSIPS 1.6, kept so that
``loadmodule "db_mysql.so"`` works unchanged.

Overview
    In 1.6 a module that needs a database binds, through its db_url, to the
    driver module named by the URL's scheme (``mysql://`` -> db_mysql), and
    start-up fails when that driver is not loaded. Here the database layer
    (:mod:`opensipsg.db`) picks its backend from each db_url by itself
    (``mysql://`` -> pymysql, ``sqlite://`` -> the embedded SQLite), so this
    module only has to exist: it has no functions and no state, and
    loading it is never required (a ``mysql://`` db_url works without it).

Dependencies
    None (pymysql is imported by the database layer on the first MySQL
    statement).

Parameters
    The two parameters of 1.6's db_mysql, accepted so that scripts setting
    them still start; neither changes anything here:

    ping_interval (int, 300)   1.6 pinged an idle connection after this many
        seconds; our backend reconnects (once) when a statement finds the
        connection lost.
    timeout_interval (int, 2)  1.6's connect/read/write timeout (tried 3
        times); our database connections use their own timeout (5 s per
        statement, with one reconnect-and-retry).

    Later releases' parameters (auto_reconnect, max_db_queries...) are not
    1.6's and are refused at start-up, as 1.6 refuses them.

Functions
    None.

Example
    loadmodule "db_mysql.so"
    modparam("db_mysql", "ping_interval", 60)
"""
from __future__ import annotations

from ..registry import Module, Param, register_module


@register_module
class DbMysqlModule(Module):
    name = "db_mysql"
    params = {
        "ping_interval": Param(int, 300),
        "timeout_interval": Param(int, 2),
    }
