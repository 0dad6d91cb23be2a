"""alias_db -- aliases of users kept in a database table (OpenSIPS 1.6).

Overview
    alias_db_lookup() looks the R-URI user (and host, with use_domain) up
    among the aliases of the table (``dbaliases``: alias_username,
    alias_domain -> username, domain) and, when found, rewrites the R-URI
    to ``sip:username@domain`` (URI parameters and port are dropped, as
    1.6). With append_branches=1 every further match becomes a branch.
    Values travel as bound parameters and are compared verbatim.

Dependencies
    A database (db_url).

Parameters
    db_url (str), user_column "username", domain_column "domain",
    alias_user_column "alias_username", alias_domain_column "alias_domain",
    use_domain (int, 0), domain_prefix (str, ""; stripped from the R-URI
    host before the lookup), append_branches (int, 0).

Functions
    alias_db_lookup(table[, flags])  [request, failure] -- 1 the R-URI was
        rewritten, -1 no alias (or a database error, logged at ERR).
        Flags: ``d`` ignore the domain for this call, ``r`` reverse
        (user -> its alias).
"""
from __future__ import annotations

import logging
from typing import Any

from ..auth import store
from ..errors import ParseError
from ..registry import F, Module, Param, R, function, register_module
from ..script.context import Branch
from ..sip.uri import parse_uri, unescape

log = logging.getLogger(__name__)


@register_module
class AliasDbModule(Module):
    name = "alias_db"
    params = {
        "db_url": Param(str, "mysql://opensipsro:opensipsro@localhost/opensips"),
        "user_column": Param(str, "username"),
        "domain_column": Param(str, "domain"),
        "alias_user_column": Param(str, "alias_username"),
        "alias_domain_column": Param(str, "alias_domain"),
        "use_domain": Param(int, 0),
        "domain_prefix": Param(str, ""),
        "append_branches": Param(int, 0),
    }

    def __init__(self, core: Any) -> None:
        super().__init__(core)
        self.db: Any = None

    def init(self) -> None:
        self.db = store.open_database(self.core, self.db_url, "alias_db")

    def find(self, table: str, user: str, host: str, flags: str = "") -> list[tuple[str, str]]:
        """(user, domain) pairs the given user@host maps to; StoreError on failure."""
        reverse = "r" in flags
        use_domain = bool(self.use_domain) and "d" not in flags
        if reverse:
            key_user, key_domain = self.user_column, self.domain_column
            out_user, out_domain = self.alias_user_column, self.alias_domain_column
        else:
            key_user, key_domain = self.alias_user_column, self.alias_domain_column
            out_user, out_domain = self.user_column, self.domain_column
        where: dict[str, Any] = {key_user: user}
        if use_domain:
            prefix = self.domain_prefix
            if prefix and len(prefix) < len(host) and host[: len(prefix)].lower() == prefix.lower():
                host = host[len(prefix):]
            where[key_domain] = host
        rows = store.select(self.db, table, [out_user, out_domain], where)
        return [(store.text(r[out_user]), store.text(r[out_domain]))
                for r in rows if r[out_user] is not None]

    @function("alias_db_lookup", "fmt", "str", optional=1, routes=R | F)
    def alias_db_lookup(self, ctx: Any, table_fmt: Any, flags: str = "") -> int:
        table = table_fmt.render(ctx)
        if not table:
            log.error("alias_db_lookup: invalid table parameter")
            return -1
        try:
            uri = ctx.parsed_ruri()
        except ParseError:
            return -1
        try:
            found = self.find(table, unescape(uri.user or ""), uri.host, (flags or "").lower())
        except store.StoreError as exc:
            log.error("alias_db_lookup: %s", exc)
            return -1
        if not found:
            log.debug("alias_db_lookup: no alias found for the R-URI")
            return -1
        for position, (user, domain) in enumerate(found):
            new = f"sip:{user}@{domain}"
            try:
                parse_uri(new)
            except ParseError:
                log.error("alias_db_lookup: the alias gives a bad URI %r", new)
                return -1
            if position == 0:
                ctx.new_uri = new
                if not self.append_branches:
                    break
            else:
                ctx.branches.append(Branch(new, q=0))
        return 1
