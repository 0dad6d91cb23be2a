"""group -- group membership from database tables (OpenSIPS 1.6).

Overview
    db_is_user_in() tells whether a user is in a group of the ``grp`` table
    (ACLs: opensipsctl acl grant/revoke write that table).
    db_get_user_group() matches ``sip:user@domain`` against the regular
    expressions of ``re_grp`` (loaded at start-up, POSIX ERE, case
    insensitive as 1.6's REG_ICASE) and returns the group ids as AVPs.
    aaa_is_user_in() asks a RADIUS server instead (Group-Check).
    The 1.5 names is_user_in / get_user_group stop the start-up.

    Which user: "Request-URI", "To", "From", "Credentials" (the authorized
    digest user; domain = the digest username's domain, else the realm)
    or a pseudo-variable holding a URI.

Dependencies
    A database (db_url) for the db_* functions; aaa_radius (optional: its
    shared clients) and a RADIUS server (aaa_url) for aaa_is_user_in; for
    "Credentials", auth_db's / auth_aaa's authorize before.

Parameters
    db_url (str), table "grp", user_column "username", domain_column
    "domain", group_column "grp", use_domain (int, 0), re_table (str, ""),
    re_exp_column "reg_exp", re_gid_column "group_id", multiple_gid (int, 1),
    aaa_url (str, NULL; see aaa_radius). Required when the script calls
    aaa_is_user_in() (start-up refused otherwise); the RADIUS client is made
    on the first call, so loading the script never needs RADIUS.

Functions
    db_is_user_in(URI, "group")  [request, failure, branch, local] -- 1 in
        the group; -6 not in it; -5 database error; -1 no user / bad URI /
        no credentials (1.6's codes).
    db_get_user_group(URI, $avp)  [request, failure, branch, local] -- the
        number of matching re_grp rows (each group_id added to the AVP;
        only the first with multiple_gid=0), -1 none or error.
    aaa_is_user_in(URI, "group")  [request, failure, branch, local] -- one
        Access-Request, 1.6's attributes in 1.6's order:
          User-Name        user, or "user@domain" with use_domain=1
          Sip-Group (211)  the group
          Service-Type     Group-Check (12)
          Acct-Session-Id  the Call-ID
        (plus NAS-IP-Address, NAS-Port, Message-Authenticator from the
        client). Codes as 1.6's aaa_is_user_in: 1 Access-Accept (member);
        -12 Access-Reject, or no server answered, or the client could not be
        set up (1.6 cannot tell them apart: both are "not a member" to the
        script; the error is logged); -1 bad URI / no user part / empty PV;
        -4 "Credentials" without authorized credentials; -10 no Call-ID.
        With a dead server the call returns after timeout * (retries + 1)
        per server of aaa_url. Reply items are not used (as 1.6).

Example
    modparam("group", "aaa_url", "radius:/etc/radiusclient-ng/radiusclient.conf")
    modparam("group", "use_domain", 1)
    if (aaa_is_user_in("Credentials", "gold")) { ... }
"""
from __future__ import annotations

import logging
import re
from typing import Any

from ..aaa.avps import LazyClient
from ..aaa.radius import AAAError
from ..auth import store
from ..errors import ConfigError, ParseError
from ..registry import B, F, L, Module, Param, R, function, register_module
from ..script.regex import compile_ere
from ..sip.uri import parse_uri, unescape
from .aaa_radius import close_private_client, shared_client

log = logging.getLogger(__name__)

SOURCES = {"request-uri": "ruri", "to": "to", "from": "from", "credentials": "credentials"}

GROUP_CHECK = 12  # Service-Type value (1.6: vals[V_GROUP_CHECK])
AAA_GROUP_ATTRIBUTES = ("User-Name", "Sip-Group", "Service-Type", "Acct-Session-Id")


def group_check_attributes(user_name: str, group: str, call_id: str) -> list[tuple[str, Any]]:
    """The Access-Request of aaa_is_user_in, in 1.6's order."""
    return [("User-Name", user_name), ("Sip-Group", group), ("Service-Type", GROUP_CHECK),
            ("Acct-Session-Id", call_id)]


def _source_fixup(args: Any, binder: Any) -> tuple[Any, ...]:
    """First argument: a header name (checked at load time) or a PV; the rest as written."""
    first = args[0]
    text = binder.arg_text(first).strip()
    if first.kind == "pv" or text.startswith("$"):
        source: Any = binder.pv(first)
    else:
        source = SOURCES.get(text.lower())
        if source is None:
            raise binder.error(first, f"unsupported user source '{text}' (Request-URI, To, From, "
                                      f"Credentials or a pseudo-variable)")
    values: list[Any] = [source]
    if binder.current_function == "db_get_user_group":
        values.append(binder.pv(args[1]))
    else:
        group = binder.arg_text(args[1])
        if not group:
            raise binder.error(args[1], "empty group name")
        values.append(group)
    return tuple(values)


@register_module
class GroupModule(Module):
    name = "group"
    params = {
        "db_url": Param(str, "mysql://opensipsro:opensipsro@localhost/opensips"),
        "table": Param(str, "grp"),
        "user_column": Param(str, "username"),
        "domain_column": Param(str, "domain"),
        "group_column": Param(str, "grp"),
        "use_domain": Param(int, 0),
        "re_table": Param(str, ""),
        "re_exp_column": Param(str, "reg_exp"),
        "re_gid_column": Param(str, "group_id"),
        "multiple_gid": Param(int, 1),
        "aaa_url": Param(str, ""),
    }
    obsolete = {
        "is_user_in": "is_user_in() is obsolete in 1.6: use db_is_user_in() (or aaa_is_user_in())",
        "get_user_group": "get_user_group() is obsolete in 1.6: use db_get_user_group()",
    }

    def __init__(self, core: Any) -> None:
        super().__init__(core)
        self.db: Any = None
        self.re_groups: list[tuple[re.Pattern[str], int]] = []
        self.aaa_used = False
        self.aaa: LazyClient | None = None

    def on_bind(self, function: str, values: tuple[Any, ...]) -> None:
        if function == "aaa_is_user_in":
            self.aaa_used = True

    def init(self) -> None:
        if self.aaa_used and not self.aaa_url:
            raise ConfigError("group: aaa_is_user_in() is used but the aaa_url parameter is not set")
        if self.aaa_url:
            self.aaa = LazyClient(self._make_aaa_client, "group", AAA_GROUP_ATTRIBUTES)
        self.db = store.open_database(self.core, self.db_url, "group")
        if self.re_table:
            try:
                self.load_re_groups()
            except store.StoreError as exc:
                raise ValueError(f"group: failed to load table {self.re_table}: {exc}") from exc

    def _make_aaa_client(self) -> Any:
        return shared_client(self.core, self.aaa_url, "group")

    def stop(self) -> None:
        close_private_client(self.core, self.aaa.opened if self.aaa is not None else None)

    def load_re_groups(self) -> None:
        rows = store.select(self.db, self.re_table, [self.re_exp_column, self.re_gid_column], {})
        groups = []
        for row in rows:
            text = store.text(row[self.re_exp_column])
            try:
                pattern = compile_ere(text)
                gid = int(row[self.re_gid_column])
            except Exception as exc:  # noqa: BLE001 - a bad row stops the start-up, as 1.6
                raise store.StoreError(f"bad re_grp row {text!r}: {exc}") from exc
            groups.append((pattern, gid))
        self.re_groups = groups

    # -- the user ----------------------------------------------------------------------
    def user_domain(self, ctx: Any, source: Any, fname: str) -> tuple[str, str] | None:
        try:
            if source == "ruri":
                uri = ctx.parsed_ruri()
            elif source == "to":
                uri = ctx.msg.to.uri
            elif source == "from":
                uri = ctx.msg.from_.uri
            elif source == "credentials":
                creds = ctx.extra.get("authorized_credentials")
                if creds is None:
                    log.error("%s: no authorized credentials found (error in script)", fname)
                    return None
                user, _, domain = creds.username.partition("@")
                return user, domain or creds.realm
            else:
                value = source.get(ctx)
                if not isinstance(value, str) or not value:
                    log.error("%s: no AVP found (error in script)", fname)
                    return None
                uri = parse_uri(value)
        except ParseError:
            log.error("%s: failed to get the URI", fname)
            return None
        return unescape(uri.user or ""), uri.host

    # -- script functions ------------------------------------------------------------------
    @function("db_is_user_in", "any", "str", routes=R | F | B | L, fixup=_source_fixup)
    def db_is_user_in(self, ctx: Any, source: Any, group: str) -> int:
        found = self.user_domain(ctx, source, "db_is_user_in")
        if found is None:
            return -1
        user, domain = found
        if not user:
            log.debug("db_is_user_in: no username part")
            return -1
        where: dict[str, Any] = {self.user_column: user, self.group_column: group}
        if self.use_domain:
            where[self.domain_column] = domain
        try:
            rows = store.select(self.db, self.table, [self.group_column], where, limit=1)
        except store.StoreError as exc:
            log.error("db_is_user_in: %s", exc)
            return -5
        return 1 if rows else -6

    @function("db_get_user_group", "any", "pv", routes=R | F | B | L, fixup=_source_fixup)
    def db_get_user_group(self, ctx: Any, source: Any, avp: Any) -> int:
        found = self.user_domain(ctx, source, "db_get_user_group")
        if found is None:
            return -1
        user, domain = found
        if not user:
            return -1
        text = f"sip:{user}@{domain}"
        count = 0
        for pattern, gid in self.re_groups:
            if pattern.search(text):
                avp.set(ctx, gid)
                count += 1
                if not self.multiple_gid:
                    break
        return count if count else -1

    @function("aaa_is_user_in", "any", "str", routes=R | F | B | L, fixup=_source_fixup)
    def aaa_is_user_in(self, ctx: Any, source: Any, group: str) -> int:
        if source == "credentials" and ctx.extra.get("authorized_credentials") is None:
            log.error("aaa_is_user_in: no authorized credentials found (error in script)")
            return -4
        found = self.user_domain(ctx, source, "aaa_is_user_in")
        if found is None:
            return -1
        user, domain = found
        if not user:
            log.debug("aaa_is_user_in: no username part")
            return -1
        try:
            call_id = ctx.msg.call_id
        except (ParseError, AttributeError):
            call_id = None
        if not call_id:
            log.error("aaa_is_user_in: msg parsing failed or callid not present")
            return -10
        user_name = f"{user}@{domain}" if self.use_domain else user
        if self.aaa is None:
            log.error("aaa_is_user_in: the aaa_url parameter is not set")
            return -12
        try:
            reply = self.aaa.get().authenticate(group_check_attributes(user_name, group, call_id))
        except AAAError as exc:
            log.error("aaa_is_user_in: %s (call-id %s)", exc, call_id)
            return -12
        if reply.accepted:
            return 1
        log.debug("aaa_is_user_in: %s is not in group %r (call-id %s)", user_name, group, call_id)
        return -12
