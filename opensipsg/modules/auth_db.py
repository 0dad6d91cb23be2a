"""auth_db -- digest authentication against a database table (OpenSIPS 1.6).

Overview
    www_authorize() / proxy_authorize() find the credentials for the realm
    (Authorization / Proxy-Authorization), read the user's HA1 from the
    table (usually ``subscriber``) and check the response; the nonce rules
    are the auth module's.

    Which column (1.6 authorize.c get_ha1):
      * calculate_ha1=0: ``password_column`` ("ha1"), or
        ``password_column_2`` ("ha1b") when the digest username carries
        ``@domain``;
      * calculate_ha1=1: ``password_column`` holds the plain password (set it
        to "password") and HA1 = MD5(<digest username as sent>:<realm>:<pw>).
    Rows are keyed by the user part of the digest username and, with
    use_domain=1, by its domain part (or the realm when it has none).
    Usernames go to the database as bound parameters, compared verbatim.

    The order of checks is 1.6's: malformed credentials (400 reply, 0),
    nonce not ours (-3), unknown user (-1), wrong response (-2), then an
    expired or already used nonce (-3). A database failure is logged at
    ERR and answered with ``500 Server Internal Error`` by the function
    itself, which returns 0 so the script stops (1.6 does exactly this; a
    script cannot tell it from a challenge otherwise).

Dependencies
    auth; a database (db_url).

Parameters
    db_url (str), user_column "username", domain_column "domain",
    password_column "ha1", password_column_2 "ha1b", calculate_ha1 (int, 0),
    use_domain (int, 0), load_credentials (str, "rpid": a ';' list of
    ``[$avp(name)=]column``; a bare column loads into $avp(s:column)),
    skip_version_check (int, 0; accepted).

Functions
    www_authorize(realm, table), proxy_authorize(realm, table)  [request]
        1 authorized (columns of load_credentials become AVPs; the
        credentials are kept for consume_credentials, is_user, db_check_*,
        group "Credentials"), -1 user unknown, -2 invalid password, -3 stale
        nonce (the next challenge says stale=true), -4 no credentials for
        the realm, -5 error, 0 after a 400/500 reply. ACK and CANCEL are
        always authorized. Empty realm: see auth.
"""
from __future__ import annotations

import logging
import re
from typing import Any

from ..auth import store
from ..auth.digest import check_response
from ..registry import Module, Param, R, find_module, function, register_module
from .auth import (
    AUTH_ERROR,
    DO_AUTHORIZATION,
    ERROR,
    INVALID_PASSWORD,
    PROXY,
    USER_UNKNOWN,
    WWW,
    AuthModule,
)
from .registrar import parse_avp_spec

log = logging.getLogger(__name__)


def parse_load_credentials(text: str) -> list[tuple[tuple[str, Any], str]]:
    """'$avp(i:1)=rpid;email_address' -> [(('i', 1), 'rpid'), (('s', 'email_address'), 'email_address')]."""
    out: list[tuple[tuple[str, Any], str]] = []
    for item in text.split(";"):
        item = item.strip()
        if not item:
            continue
        avp_text, sep, column = item.partition("=")
        if not sep:
            column, avp_text = avp_text.strip(), ""
        column = column.strip()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", column):
            raise ValueError(f"bad column name {column!r} in load_credentials")
        if avp_text.strip():
            text_spec = avp_text.strip()
            if not text_spec.startswith("$avp(") and not re.fullmatch(r"[is]:.+", text_spec):
                raise ValueError(f"bad AVP {text_spec!r} in load_credentials")
            key = parse_avp_spec(text_spec)
            assert key is not None
        else:
            key = ("s", column)
        out.append((key, column))
    return out


@register_module
class AuthDbModule(Module):
    name = "auth_db"
    depends = ("auth",)
    params = {
        "db_url": Param(str, "mysql://opensipsro:opensipsro@localhost/opensips"),
        "user_column": Param(str, "username"),
        "domain_column": Param(str, "domain"),
        "password_column": Param(str, "ha1"),
        "password_column_2": Param(str, "ha1b"),
        "calculate_ha1": Param(int, 0),
        "use_domain": Param(int, 0),
        "load_credentials": Param(str, "rpid"),
        "skip_version_check": Param(int, 0),
    }

    def __init__(self, core: Any) -> None:
        super().__init__(core)
        self.auth: AuthModule | None = None
        self.db: Any = None
        self.credentials: list[tuple[tuple[str, Any], str]] = []
        self._columns: list[str] = []
        self._columns_2: list[str] = []

    def init(self) -> None:
        self.credentials = parse_load_credentials(self.load_credentials)
        # the selected columns (password column first), built once rather than per request
        loaded = [column for _, column in self.credentials]
        self._columns = [self.password_column, *loaded]
        self._columns_2 = [self.password_column_2, *loaded]
        self.auth = find_module(self.core, "auth")
        if self.auth is None:
            raise ValueError("auth_db: module auth is not loaded")
        self.db = store.open_database(self.core, self.db_url, "auth_db")

    # -- the database ----------------------------------------------------------------
    def get_ha1(self, creds: Any, realm: str, table: str) -> tuple[str, tuple[Any, ...]] | None:
        """(HA1, row) for the digest user, None if unknown; StoreError on failure.

        The row holds the password column, then the load_credentials columns.
        """
        user, _, domain = creds.username.partition("@")  # auth.split_username, inlined
        columns = self._columns_2 if domain and not self.calculate_ha1 else self._columns
        where: dict[str, Any] = {self.user_column: user}
        if self.use_domain:
            where[self.domain_column] = domain or realm
        rows = store.select_rows(self.db, table, columns, where, limit=1)
        if not rows:
            return None
        row = rows[0]
        secret = row[0]
        if secret.__class__ is not str:  # (the usual text column needs no store.text() call)
            secret = store.text(secret)
        if self.calculate_ha1:
            # 1.6 hashes the whole digest username with the realm it works with
            return AuthModule.calc_ha1(creds.username, domain or realm, secret), row
        return secret, row

    def _load_avps(self, ctx: Any, row: tuple[Any, ...]) -> None:
        for (key, _), value in zip(self.credentials, row[1:]):
            if value is None or value == "":
                continue
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            if not isinstance(value, (int, str)):
                value = str(value)
            ctx.avps.add(key, value)

    # -- script functions -----------------------------------------------------------------
    def authorize(self, ctx: Any, realm_fmt: Any, table: str, header: str) -> int:
        auth = self.auth
        if auth is None:
            return AUTH_ERROR
        try:
            realm = realm_fmt.render(ctx) if realm_fmt is not None else ""
        except Exception:  # noqa: BLE001 - a PV that cannot be printed
            log.error("authorize: invalid realm parameter")
            return AUTH_ERROR
        code, creds, realm = auth.pre_auth(ctx, realm, header)
        if code != DO_AUTHORIZATION:
            return code
        assert creds is not None
        try:
            found = self.get_ha1(creds, realm, table)
        except store.StoreError as exc:
            log.error("authorize: database error: %s (call-id %s)", exc, _call_id(ctx))
            self.core.send_reply(ctx, 500, "Server Internal Error")
            return ERROR
        if found is None:
            log.debug("authorize: no user %r in table %s", creds.username, table)
            return USER_UNKNOWN
        ha1, row = found
        msg = ctx.msg
        # auth.check_response(ctx, creds, ha1) without the module method's extra call
        if not ha1 or not check_response(creds, msg.method, ha1, msg.body or b""):
            return INVALID_PASSWORD
        code = auth.post_auth(ctx, creds, header)
        if code == 1:
            self._load_avps(ctx, row)
        return code

    @function("www_authorize", "fmt", "str", routes=R)
    def www_authorize(self, ctx: Any, realm: Any, table: str) -> int:
        return self.authorize(ctx, realm, table, WWW)

    @function("proxy_authorize", "fmt", "str", routes=R)
    def proxy_authorize(self, ctx: Any, realm: Any, table: str) -> int:
        return self.authorize(ctx, realm, table, PROXY)


def _call_id(ctx: Any) -> str:
    try:
        return ctx.msg.call_id
    except Exception:  # noqa: BLE001
        return "?"
