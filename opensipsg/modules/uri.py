"""uri -- checks on URIs and the digest user (OpenSIPS 1.6, former uri_db merged in).

Overview
    Tests on the Request-URI and To tag, a URI user in E.164 form and the
    authenticated digest user; adds R-URI parameters and turns tel: URIs into
    sip: URIs; database checks of the digest user against To/From and of the
    R-URI user against ``subscriber`` (or the ``uri`` table); RADIUS checks
    of a URI (aaa_does_uri_exist, aaa_does_uri_user_exist: Call-Check).
    The 1.5 names check_to, check_from, does_uri_exist, does_uri_user_exist
    and get_auth_id stop the start-up with an "obsolete" error, as in 1.6.

Dependencies
    None for the plain functions; is_user and db_check_* need credentials
    checked by auth_db (``ctx.extra['authorized_credentials']``, a digest
    Credentials); the db_* functions need db_url; the aaa_* functions need
    aaa_url (aaa_radius, when loaded, shares its RADIUS clients).

Parameters
    db_url (str, NULL), db_table "subscriber", user_column "username",
    domain_column "domain", uriuser_column "uri_user", use_uri_table 0,
    use_domain 0, aaa_url (str, NULL; see aaa_radius; required when the
    script calls an aaa_* function; the client is made on the first call,
    so loading the script never needs RADIUS), service_type (int, 10,
    Call-Check: the Service-Type of the aaa_* requests), use_sip_uri_host
    (int, 0: see aaa_does_uri_exist).

Functions
    has_totag()  [request, local] -- 1 if the To header has a tag.
    is_user("name")  [request, local] -- 1 if the user part of the
        authorized digest username is ``name`` (case-sensitive); -1 if not
        or when there are no authorized credentials.
    uri_param("p"[, "v"])  [request, local] -- 1 if the R-URI has parameter
        p (with value v).
    add_uri_param("p=v")  [request] -- append ``;p=v`` to the R-URI.
    tel2sip()  [request] -- tel:NUMBER becomes
        sip:NUMBER@FROM_HOST;user=phone; 1 also when R-URI is not tel:.
    is_uri_user_e164($pv)  [request, failure, local] -- 1 if the user of the
        URI in the PV is '+' and 2..15 digits.
    db_check_to(), db_check_from()  [request] -- the To/From URI user
        equals the authorized digest user (case-insensitive) or, with
        use_uri_table=1, db_table has a row (user_column = digest user,
        domain_column = digest domain or realm, uriuser_column = URI user).
        1 match; -10 no match; -9 no row in the uri table (spoofed); -2 no
        authorized credentials; -4 no user in the URI; -8 database error;
        -1 parse error. Statistics uri:positive checks / negative_checks.
    db_does_uri_exist()  [request, local] -- the R-URI user (and host with
        use_domain) is in db_table (keys uriuser_column/domain_column with
        use_uri_table). 1 found, -5 not found, -4 database error (1.6's
        codes), -1 bad R-URI.
    db_get_auth_id(uri, $user_pv, $realm_pv)  [request, local] -- finds the
        account (user_column, domain_column) of the URI (keyed by
        uriuser_column with use_uri_table, else user_column; and
        domain_column with use_domain) and writes them to the two PVs.
        1 found, -4 not found, -8 database error, -1 bad URI.
    aaa_does_uri_exist([$pv])  [request, local] -- asks RADIUS whether the
        R-URI (or the URI in the PV) belongs to a local user. Access-Request
        attributes in 1.6's order:
          User-Name        "user@host" (use_sip_uri_host=0), else "user"
          SIP-URI-Host     the host (only with use_sip_uri_host=1; the
                           dictionary must define it: dict= of aaa_url)
          Service-Type     service_type (10, Call-Check)
          Acct-Session-Id  the Call-ID
    aaa_does_uri_user_exist([$pv])  [request, local] -- the same with
        User-Name = the R-URI user (or the PV's value as it is).
        Both: 1 Access-Accept, and each SIP-AVP reply item becomes an AVP
        (``name:str``, ``name#int``, ``#id:str``, ``#id#int``; one
        malformed item -> -2 and none is added); -1 Access-Reject, or a bad
        or user-less URI / empty PV / no Call-ID (no request sent); -2 error:
        no server answered (after timeout * (retries + 1) per server) or
        the client could not be set up. The user is %-unescaped.
        1.6.x's aaa_checks.c returned -1 for errors too (its -2 branch was
        commented out) and loaded no AVPs; we follow the 1.6 documentation
        and 1.5's uri_radius here. A script testing ``if (!aaa_...())``
        sees no difference.

Example
    modparam("uri", "aaa_url", "radius:/etc/radiusclient-ng/radiusclient.conf")
    if (!aaa_does_uri_exist()) { sl_send_reply("404", "Not Found"); exit; }
"""
from __future__ import annotations

import logging
from typing import Any

from ..aaa.avps import LazyClient, parse_sip_avps
from ..aaa.radius import AAAError
from ..auth import store
from ..errors import ConfigError, ParseError
from ..registry import F, L, Module, Param, R, function, register_module
from ..sip.uri import parse_uri, unescape
from .aaa_radius import close_private_client, shared_client

log = logging.getLogger(__name__)


def unescape_user(user: str | None) -> str | None:
    """The URI user as the database stores it (%-escapes decoded)."""
    return unescape(user) if user else user


AAA_FUNCTIONS = ("aaa_does_uri_exist", "aaa_does_uri_user_exist")
AAA_URI_ATTRIBUTES = ("User-Name", "Service-Type", "Acct-Session-Id", "SIP-AVP")


def call_check_attributes(user_name: str, host: str | None, service_type: int,
                          call_id: str) -> list[tuple[str, Any]]:
    """The Access-Request of the aaa_does_uri_* checks, in 1.6's order (``host``
    given: use_sip_uri_host's separate SIP-URI-Host attribute)."""
    attributes: list[tuple[str, Any]] = [("User-Name", user_name)]
    if host is not None:
        attributes.append(("SIP-URI-Host", host))
    return attributes + [("Service-Type", service_type), ("Acct-Session-Id", call_id)]


def is_e164(user: str | None) -> bool:
    return bool(user) and 3 <= len(user) <= 16 and user[0] == "+" and user[1:].isdigit()  # type: ignore[index]


@register_module
class UriModule(Module):
    name = "uri"
    params = {
        "db_url": Param(str, ""),
        "db_table": Param(str, "subscriber"),
        "user_column": Param(str, "username"),
        "domain_column": Param(str, "domain"),
        "uriuser_column": Param(str, "uri_user"),
        "use_uri_table": Param(int, 0),
        "use_domain": Param(int, 0),
        "aaa_url": Param(str, ""),
        "service_type": Param(int, 10),
        "use_sip_uri_host": Param(int, 0),
    }
    obsolete = {
        "check_to": "check_to() is obsolete in 1.6 (uri_db merged into uri): use db_check_to()",
        "check_from": "check_from() is obsolete in 1.6 (uri_db merged into uri): use db_check_from()",
        "does_uri_exist": "does_uri_exist() is obsolete in 1.6 (uri_db merged into uri): use db_does_uri_exist()",
        "does_uri_user_exist": (
            "does_uri_user_exist() is obsolete in 1.6: use aaa_does_uri_user_exist()"
        ),
        "get_auth_id": "get_auth_id() is obsolete in 1.6 (uri_db merged into uri): use db_get_auth_id()",
    }

    def __init__(self, core: Any) -> None:
        super().__init__(core)
        self.db: Any = None
        self.aaa_used = False
        self.aaa: LazyClient | None = None

    def on_bind(self, function: str, values: tuple[Any, ...]) -> None:
        if function in AAA_FUNCTIONS:
            self.aaa_used = True

    def init(self) -> None:
        if self.aaa_used and not self.aaa_url:
            raise ConfigError("uri: aaa_does_uri_exist()/aaa_does_uri_user_exist() are used but "
                              "the aaa_url parameter is not set")
        if self.aaa_url:
            required = AAA_URI_ATTRIBUTES + (("SIP-URI-Host",) if self.use_sip_uri_host else ())
            self.aaa = LazyClient(self._make_aaa_client, "uri", required)
        if self.db_url:
            self.db = store.open_database(self.core, self.db_url, "uri")
        stats = getattr(self.core, "stats", None)
        if stats is not None:
            stats.register("uri:positive checks")
            stats.register("uri:negative_checks")

    def _make_aaa_client(self) -> Any:
        return shared_client(self.core, self.aaa_url, "uri")

    def stop(self) -> None:
        close_private_client(self.core, self.aaa.opened if self.aaa is not None else None)

    def _stat(self, name: str) -> None:
        stats = getattr(self.core, "stats", None)
        if stats is not None:
            stats.inc(name)

    def _database(self, fname: str) -> Any:
        if self.db is None:
            log.error("%s: db_url is not set", fname)
        return self.db

    # -- database checks (former uri_db) ------------------------------------------
    def _check_username(self, ctx: Any, uri_user: str | None, fname: str) -> int:
        credentials = ctx.extra.get("authorized_credentials")
        if credentials is None:
            log.error("%s: no authorized credentials found (call www_authorize or "
                      "proxy_authorize first)", fname)
            self._stat("uri:negative_checks")
            return -2
        if not uri_user:
            log.error("%s: username not found in URI", fname)
            return -4
        digest_user, _, digest_domain = credentials.username.partition("@")
        if self.use_uri_table:
            db = self._database(fname)
            if db is None:
                return -8
            where = {
                self.user_column: digest_user,
                self.domain_column: digest_domain or credentials.realm,
                self.uriuser_column: uri_user,
            }
            try:
                rows = store.select(db, self.db_table, [self.user_column], where, limit=1)
            except store.StoreError as exc:
                log.error("%s: %s", fname, exc)
                return -8
            if not rows:
                self._stat("uri:negative_checks")
                return -9
            self._stat("uri:positive checks")
            return 1
        if uri_user.lower() == digest_user.lower():
            self._stat("uri:positive checks")
            return 1
        self._stat("uri:negative_checks")
        return -10

    @function("db_check_to", routes=R)
    def db_check_to(self, ctx: Any) -> int:
        try:
            user = ctx.msg.to.uri.user
        except ParseError:
            log.error("db_check_to: error while parsing the To header")
            return -1
        return self._check_username(ctx, unescape_user(user), "db_check_to")

    @function("db_check_from", routes=R)
    def db_check_from(self, ctx: Any) -> int:
        try:
            user = ctx.msg.from_.uri.user
        except ParseError:
            log.error("db_check_from: error while parsing the From header")
            return -1
        return self._check_username(ctx, unescape_user(user), "db_check_from")

    @function("db_does_uri_exist", routes=R | L)
    def db_does_uri_exist(self, ctx: Any) -> int:
        try:
            uri = ctx.parsed_ruri()
        except ParseError:
            log.error("db_does_uri_exist: error while parsing the R-URI")
            return -1
        db = self._database("db_does_uri_exist")
        if db is None:
            return -4
        key = self.uriuser_column if self.use_uri_table else self.user_column
        where: dict[str, Any] = {key: unescape_user(uri.user) or ""}
        if self.use_domain:
            where[self.domain_column] = uri.host
        try:
            rows = store.select(db, self.db_table, [key], where, limit=1)
        except store.StoreError as exc:
            log.error("db_does_uri_exist: %s", exc)
            return -4
        return 1 if rows else -5

    @function("db_get_auth_id", "fmt", "pv", "pv", routes=R | L)
    def db_get_auth_id(self, ctx: Any, uri_fmt: Any, user_pv: Any, realm_pv: Any) -> int:
        text = uri_fmt.render(ctx)
        try:
            uri = parse_uri(text)
        except ParseError:
            log.error("db_get_auth_id: first parameter must be a URI (value %r)", text)
            return -1
        if not uri.user:
            log.error("db_get_auth_id: no user in %r", text)
            return -1
        db = self._database("db_get_auth_id")
        if db is None:
            return -8
        key = self.uriuser_column if self.use_uri_table else self.user_column
        where: dict[str, Any] = {key: unescape_user(uri.user)}
        if self.use_domain:
            where[self.domain_column] = uri.host
        try:
            rows = store.select(db, self.db_table, [self.user_column, self.domain_column], where, limit=2)
        except store.StoreError as exc:
            log.error("db_get_auth_id: %s", exc)
            return -8
        if not rows:
            return -4
        if len(rows) > 1:
            log.warning("db_get_auth_id: several entries match %r; consider use_domain", text)
        user_pv.set(ctx, store.text(rows[0][self.user_column]))
        realm_pv.set(ctx, store.text(rows[0][self.domain_column]))
        return 1

    # -- RADIUS checks (former uri_radius) --------------------------------------------
    def _aaa_uri(self, ctx: Any, pv: Any, fname: str) -> Any:
        """The R-URI, or the URI held by ``pv``, parsed; None (logged) when there is none."""
        if pv is None:
            try:
                return ctx.parsed_ruri()
            except ParseError:
                log.error("%s: parsing URI failed", fname)
                return None
        value = pv.get(ctx)
        if not isinstance(value, str) or not value:
            log.error("%s: pvar argument is empty or not a string", fname)
            return None
        try:
            return parse_uri(value)
        except ParseError:
            log.error("%s: parsing of URI in pvar failed (%r)", fname, value)
            return None

    def _aaa_check(self, ctx: Any, user_name: str, host: str | None, fname: str) -> int:
        try:
            call_id = ctx.msg.call_id
        except (ParseError, AttributeError):
            call_id = None
        if not call_id:
            log.error("%s: msg parsing failed or callid not present", fname)
            return -1
        if self.aaa is None:
            log.error("%s: the aaa_url parameter is not set", fname)
            return -2
        attributes = call_check_attributes(user_name, host, self.service_type, call_id)
        try:
            reply = self.aaa.get().authenticate(attributes)
        except AAAError as exc:
            log.error("%s: %s (call-id %s)", fname, exc, call_id)
            return -2
        if not reply.accepted:
            log.debug("%s: RADIUS rejected %s (call-id %s)", fname, user_name, call_id)
            return -1
        try:
            avps = parse_sip_avps(reply.values("SIP-AVP"))
        except ValueError as exc:
            log.error("%s: %s (call-id %s)", fname, exc, call_id)
            return -2
        for key, value in avps:
            ctx.avps.add(key, value)
        return 1

    @function("aaa_does_uri_exist", "pv", optional=1, routes=R | L)
    def aaa_does_uri_exist(self, ctx: Any, pv: Any = None) -> int:
        uri = self._aaa_uri(ctx, pv, "aaa_does_uri_exist")
        if uri is None:
            return -1
        user = unescape_user(uri.user)
        if not user:
            log.debug("aaa_does_uri_exist: no user in the URI")
            return -1
        if self.use_sip_uri_host:
            return self._aaa_check(ctx, user, uri.host, "aaa_does_uri_exist")
        return self._aaa_check(ctx, f"{user}@{uri.host}", None, "aaa_does_uri_exist")

    @function("aaa_does_uri_user_exist", "pv", optional=1, routes=R | L)
    def aaa_does_uri_user_exist(self, ctx: Any, pv: Any = None) -> int:
        if pv is None:
            uri = self._aaa_uri(ctx, None, "aaa_does_uri_user_exist")
            if uri is None:
                return -1
            user = unescape_user(uri.user)
        else:
            value = pv.get(ctx)
            if not isinstance(value, str) or not value:
                log.error("aaa_does_uri_user_exist: pvar argument is empty or not a string")
                return -1
            user = value  # 1.6: the PV's value as it is (a user, not a URI)
        if not user:
            log.debug("aaa_does_uri_user_exist: no user in the URI")
            return -1
        return self._aaa_check(ctx, user, None, "aaa_does_uri_user_exist")

    @function("has_totag", routes=R | L)
    def has_totag(self, ctx: Any) -> int:
        value = ctx.msg.get("to")
        if value is None or "tag" not in value.lower():
            return -1  # no need to parse To (most initial requests)
        try:
            tag = ctx.msg.to.tag
        except ParseError:
            return -1
        return 1 if tag else -1

    # the same test written in place of a script call by the compiler (no frame; see
    # _BlockWriter), with the code it gives on ParseError
    has_totag.script_inline = (  # type: ignore[attr-defined]
        '-1 if (value := ctx.msg.get("to")) is None or "tag" not in value.lower() '
        'else 1 if ctx.msg.to.tag else -1', -1)

    @function("is_user", "str", routes=R | L)
    def is_user(self, ctx: Any, name: str) -> int:
        credentials = ctx.extra.get("authorized_credentials")
        if credentials is None:
            log.error("is_user: no authorized credentials found (error in script)")
            return -1
        user = credentials.username.split("@", 1)[0]
        return 1 if user and user == name else -1

    @function("uri_param", "str", "str", optional=1, routes=R | L)
    def uri_param(self, ctx: Any, name: str, value: str | None = None) -> int:
        try:
            uri = ctx.parsed_ruri()
        except ParseError:
            return -1
        for pname, pvalue in uri.params:
            if pname.lower() != name.lower():
                continue
            if value is None:
                return 1
            return 1 if pvalue is not None and pvalue == value else -1
        return -1

    @function("add_uri_param", "str", routes=R)
    def add_uri_param(self, ctx: Any, param: str) -> int:
        ruri = ctx.ruri
        base, qmark, headers = ruri.partition("?")
        new = f"{base};{param}" + (f"?{headers}" if qmark else "")
        try:
            parse_uri(new)
        except ParseError:
            log.error("add_uri_param: %r makes an invalid R-URI", param)
            return -1
        ctx.new_uri = new
        return 1

    @function("tel2sip", routes=R)
    def tel2sip(self, ctx: Any) -> int:
        ruri = ctx.ruri
        if not ruri[:4].lower() == "tel:":
            return 1
        try:
            host = ctx.msg.from_.uri.host
        except ParseError:
            log.error("tel2sip: cannot parse the From URI")
            return -1
        new = f"sip:{ruri[4:]}@{host};user=phone"
        try:
            parse_uri(new)
        except ParseError:
            return -1
        ctx.new_uri = new
        return 1

    @function("is_uri_user_e164", "pv", routes=R | F | L)
    def is_uri_user_e164(self, ctx: Any, pv: Any) -> int:
        value = pv.get(ctx)
        if not isinstance(value, str) or not value:
            return -1
        try:
            uri = parse_uri(value)
        except ParseError:
            return -1
        return 1 if is_e164(uri.user) else -1
