"""domain -- the local domains, from a database table (OpenSIPS 1.6).

Overview
    Tells whether a host is one of "our" domains (multi-domain setups), by
    looking it up in the ``domain`` table: on each call (db_mode 0) or in a
    copy kept in memory (db_mode 1), loaded at start-up and replaced by the
    MI command domain_reload. Hosts compare case-insensitively (1.6's hash
    and MySQL's collation both do).

Dependencies
    A database (db_url).

Parameters
    db_url (str), db_mode (int, 0), domain_table (str, "domain"),
    domain_col (str, "domain").

Functions
    is_from_local()  [request, branch, failure, local] -- From host is
        local: 1, -1 not (or database error), -2 From cannot be parsed.
    is_uri_host_local()  [request, branch, failure, local] -- the R-URI host
        (in failure_route: the R-URI of the transaction, 1.6 branch 0).
    is_domain_local($pv)  [request, failure, branch, local, startup, timer]
        -- the PV's value is a local domain: 1, -1 not.

MI commands
    domain_reload -- reloads the cache (db_mode 1): returns [] (200 OK);
        raises DomainMIError(500, ...) when db_mode is 0 or the reload fails.
    domain_dump -- the cached domains as lines ``Domain:: <name>``.
"""
from __future__ import annotations

import logging
from typing import Any

from ..auth import store
from ..errors import OpensipsgError, ParseError
from ..registry import B, F, L, Module, Param, R, S, T, function, mi_command, register_module
from ..sip.uri import parse_uri

log = logging.getLogger(__name__)


class DomainMIError(OpensipsgError):
    """An MI command failed: ``status`` and ``reason`` as 1.6 answers them."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


@register_module
class DomainModule(Module):
    name = "domain"
    params = {
        "db_url": Param(str, "mysql://opensipsro:opensipsro@localhost/opensips"),
        "db_mode": Param(int, 0),
        "domain_table": Param(str, "domain"),
        "domain_col": Param(str, "domain"),
    }

    def __init__(self, core: Any) -> None:
        super().__init__(core)
        self.db: Any = None
        self.cache: frozenset[str] = frozenset()

    def init(self) -> None:
        if self.db_mode not in (0, 1):
            raise ValueError("domain: db_mode must be 0 or 1")
        self.db = store.open_database(self.core, self.db_url, "domain")
        if self.db_mode == 1:
            try:
                self.reload()
            except store.StoreError as exc:
                raise ValueError(f"domain: domain table reload failed: {exc}") from exc

    def reload(self) -> int:
        """Load the table into a new set and swap it in; returns its size."""
        rows = store.select(self.db, self.domain_table, [self.domain_col], {})
        domains = frozenset(store.text(r[self.domain_col]).lower() for r in rows if r[self.domain_col])
        self.cache = domains
        return len(domains)

    def is_domain_local(self, host: str) -> int:
        if not host:
            return -1
        if self.db_mode == 1:
            return 1 if host.lower() in self.cache else -1
        db = self.db
        try:
            rows = store.query(
                db,
                f"SELECT {db.quote(self.domain_col)} FROM {db.quote(self.domain_table)} "
                f"WHERE lower({db.quote(self.domain_col)}) = ? LIMIT 1",
                (host.lower(),),
            )
        except store.StoreError as exc:
            log.error("domain: %s", exc)
            return -1
        return 1 if rows else -1

    # -- script functions -----------------------------------------------------------
    @function("is_from_local", routes=R | B | F | L)
    def is_from_local(self, ctx: Any) -> int:
        try:
            host = ctx.msg.from_.uri.host
        except ParseError:
            log.error("is_from_local: error while parsing the From header")
            return -2
        return self.is_domain_local(host)

    @function("is_uri_host_local", routes=R | B | F | L)
    def is_uri_host_local(self, ctx: Any) -> int:
        try:
            if ctx.route_type == F and ctx.request is not None:
                host = parse_uri(ctx.request.ruri).host
            else:
                host = ctx.parsed_ruri().host
        except ParseError:
            log.error("is_uri_host_local: error while parsing the R-URI")
            return -1
        return self.is_domain_local(host)

    @function("is_domain_local", "pv", routes=R | F | B | L | S | T)
    def w_is_domain_local(self, ctx: Any, pv: Any) -> int:
        value = pv.get(ctx)
        if not isinstance(value, str) or not value:
            log.debug("is_domain_local: missing domain name")
            return -1
        return self.is_domain_local(value)

    # -- MI ------------------------------------------------------------------------------
    @mi_command("domain_reload")
    def mi_domain_reload(self, args: list[str]) -> list[str]:
        if self.db_mode == 0:
            raise DomainMIError(500, "command not activated")
        try:
            self.reload()
        except store.StoreError as exc:
            log.error("domain_reload: %s", exc)
            raise DomainMIError(500, "Domain table reload failed") from exc
        return []

    @mi_command("domain_dump")
    def mi_domain_dump(self, args: list[str]) -> list[str]:
        if self.db_mode == 0:
            raise DomainMIError(500, "command not activated")
        return [f"Domain:: {name}" for name in sorted(self.cache)]
