"""auth -- digest authentication core (OpenSIPS 1.6).

Overview
    Challenges (401 / 407 with a fresh nonce), the shared steps of checking
    credentials that auth_db (and later auth_aaa) build on, removal of the
    checked credentials and Remote-Party-ID helpers.

    Nonces are ours (see opensipsg/auth/nonce.py): HMAC-SHA256 over expiry
    and index with ``secret``, valid ``nonce_expire`` seconds, single use
    without qop, strictly increasing nc with qop. A nonce that is forged,
    expired or replayed makes authorize return -3 (stale) and the next
    challenge of the same request carries ``stale=true``.

    The challenge is exactly 1.6's:
    ``WWW-Authenticate: Digest realm="R", nonce="N"[, qop="auth"][, stale=true]``
    (no algorithm, as 1.6 builds without _PRINT_MD5).

Dependencies
    signaling (replies go out through the core's send_reply).

Parameters
    secret (str, random per start), nonce_expire (int, 30),
    rpid_prefix (str, ""), rpid_suffix (str,
    ";party=calling;id-type=subscriber;screen=yes"), realm_prefix (str, ""),
    rpid_avp (str, "$avp(s:rpid)"), username_spec / password_spec (str,
    accepted; pv_*_authorize not implemented yet), calculate_ha1 (int, 0),
    disable_nonce_check (int, 0: 1 turns off the replay check, as 1.6's
    index check), nonce_table_size (int, 100000; ours: how many live
    nonces are remembered).

Functions
    www_challenge(realm, qop)  [request] -- sends 401 with WWW-Authenticate;
        0 after sending (the script stops), -1 if it could not send.
        Empty realm: To host for REGISTER, From host otherwise (minus
        realm_prefix). qop "1" adds qop="auth".
    proxy_challenge(realm, qop)  [request] -- the same with 407 and
        Proxy-Authenticate; the empty realm is always the From host.
    consume_credentials()  [request] -- removes the header holding the
        authorized credentials; 1, or -1 when nothing was authorized.
    is_rpid_user_e164()  [request, branch, failure] -- 1 if the user of the
        URI in rpid_avp is E.164.
    append_rpid_hf([prefix, suffix])  [request, branch, failure] -- adds
        ``Remote-Party-ID: <prefix><rpid><suffix>``; -1 without rpid_avp.

Return codes of the authorize functions (auth_db, auth_aaa)
    1 authorized, -1 user unknown, -2 invalid password, -3 stale nonce,
    -4 no credentials for the realm, -5 error (no reply sent),
    0 error after a reply was sent (400 for malformed credentials, 500 on
    a database failure) -- the script stops, as 1.6.
"""
from __future__ import annotations

import logging
import secrets
import time
from typing import Any

from ..auth.digest import check_response, credentials_problem, split_username
from ..auth.nonce import NonceManager, NonceStatus
from ..errors import ParseError
from ..registry import B, F, Module, Param, R, function, register_module
from ..sip import digest
from ..sip.uri import parse_uri
from .registrar import parse_avp_spec
from .uri import is_e164

log = logging.getLogger(__name__)

# auth_result_t of 1.6 (modules/auth/api.h)
AUTH_ERROR = -5
NO_CREDENTIALS = -4
STALE_NONCE = -3
INVALID_PASSWORD = -2
USER_UNKNOWN = -1
ERROR = 0  # a reply has been sent: stop the script
AUTHORIZED = 1
DO_AUTHORIZATION = 2

WWW = "authorization"
PROXY = "proxy-authorization"

STALE_KEY = "auth_stale"  # ctx.extra: set of header names whose credentials were stale
CRED_KEY = "authorized_credentials"  # ctx.extra: the checked digest.Credentials
HEADER_KEY = "authorized_header"  # ctx.extra: (header name, Header object) of those credentials
USED_KEY = "auth_used_nonces"  # ctx.extra: nonces this message already spent


@register_module
class AuthModule(Module):
    name = "auth"
    params = {
        "secret": Param(str, ""),
        "nonce_expire": Param(int, 30),
        "rpid_prefix": Param(str, ""),
        "rpid_suffix": Param(str, ";party=calling;id-type=subscriber;screen=yes"),
        "realm_prefix": Param(str, ""),
        "rpid_avp": Param(str, "$avp(s:rpid)"),
        "username_spec": Param(str, ""),
        "password_spec": Param(str, ""),
        "calculate_ha1": Param(int, 0),
        "disable_nonce_check": Param(int, 0),
        "nonce_table_size": Param(int, 100_000),
    }

    def __init__(self, core: Any) -> None:
        super().__init__(core)
        self.nonces: NonceManager | None = None
        self._rpid_key: tuple[str, Any] | None = None
        self.clock = time.time

    def init(self) -> None:
        if self.nonce_expire <= 0:
            raise ValueError("auth: nonce_expire must be positive")
        secret = self.secret or secrets.token_hex(32)
        self.nonces = NonceManager(secret, self.nonce_expire, max(1, self.nonce_table_size))
        try:
            self._rpid_key = parse_avp_spec(self.rpid_avp)
        except ValueError:
            raise ValueError(f"auth: bad rpid_avp {self.rpid_avp!r}") from None

    def _nonces(self) -> NonceManager:
        """The nonce manager (made on first use when init() has not run). Hot paths
        test ``self.nonces`` for None first: a method call per use costs more (and
        NonceManager has __len__, so ``self.nonces or ...`` would call that)."""
        if self.nonces is None:
            self.init()
        assert self.nonces is not None
        return self.nonces

    # -- realm --------------------------------------------------------------------
    def strip_realm(self, realm: str) -> str:
        prefix = self.realm_prefix
        if prefix and len(prefix) <= len(realm) and realm.startswith(prefix):
            return realm[len(prefix):]
        return realm

    def default_realm(self, ctx: Any, header: str) -> str | None:
        """1.6 get_realm(): To host for REGISTER with Authorization, else From host."""
        msg = ctx.request if ctx.request is not None else ctx.msg
        try:
            # parse_uri(...) rather than the .uri property: one frame less (~3 times per 401/200 pair)
            if msg.method == "REGISTER" and header == WWW:
                host = parse_uri(msg.to.uri_text).host
            else:
                host = parse_uri(msg.from_.uri_text).host
        except (ParseError, AttributeError):
            return None
        return self.strip_realm(host) if self.realm_prefix else host

    # -- challenges -----------------------------------------------------------------
    def challenge(self, ctx: Any, realm_fmt: Any, qop: int, status: int) -> int:
        if status == 401:
            header, reason, hf_name = WWW, "Unauthorized", "WWW-Authenticate"
        else:
            header, reason, hf_name = PROXY, "Proxy Authentication Required", "Proxy-Authenticate"
        realm = realm_fmt.render(ctx) if realm_fmt is not None else ""
        if not realm:
            found = self.default_realm(ctx, header)
            if found is None:
                log.error("%s: cannot take the realm from To/From", hf_name)
                return 0 if self.core.send_reply(ctx, 400, "Bad Request") > 0 else -1
            realm = found
        stale = header in ctx.extra.get(STALE_KEY, ())
        nonces = self.nonces if self.nonces is not None else self._nonces()
        nonce = nonces.issue(self.clock())
        value = digest.build_challenge(realm, nonce, "auth" if qop else None, stale, algorithm=None)
        # (own_lines: a line we wrote, not checked again)
        if self.core.send_reply(ctx, status, reason, [f"{hf_name}: {value}"], own_lines=True) <= 0:
            log.error("%s: failed to send the %d reply", hf_name, status)
            return -1
        return 0

    @function("www_challenge", "fmt", "int", routes=R)
    def www_challenge(self, ctx: Any, realm: Any, qop: int) -> int:
        return self.challenge(ctx, realm, qop, 401)

    @function("proxy_challenge", "fmt", "int", routes=R)
    def proxy_challenge(self, ctx: Any, realm: Any, qop: int) -> int:
        return self.challenge(ctx, realm, qop, 407)

    @function("consume_credentials", routes=R)
    def consume_credentials(self, ctx: Any) -> int:
        found = ctx.extra.get(HEADER_KEY)
        msg = ctx.msg
        if found is None:
            if msg.method not in ("ACK", "CANCEL"):
                log.error("consume_credentials: no authorized credentials found (error in script)")
            return -1
        _, header_obj = found
        # only that header's parsed views go (save() and the reply need not parse To, Via... again)
        if msg.remove_header(header_obj):
            ctx.extra.pop(HEADER_KEY, None)
            return 1
        log.error("consume_credentials: the credentials header is gone")
        return -1

    # -- the authorize steps (used by auth_db) --------------------------------------
    def pre_auth(self, ctx: Any, realm: str, header: str) -> tuple[int, digest.Credentials | None, str]:
        """Find and sanity-check credentials for ``realm`` (1.6 pre_auth).

        Returns (code, credentials, realm): DO_AUTHORIZATION when the caller
        must check the response, AUTHORIZED for ACK/CANCEL, NO_CREDENTIALS,
        STALE_NONCE (not our nonce) or ERROR (a 400/500 reply was sent).
        """
        msg = ctx.msg
        if msg.method in ("ACK", "CANCEL"):
            return AUTHORIZED, None, realm
        if not realm:
            found = self.default_realm(ctx, header)
            if found is None:
                log.error("authorize: failed to extract the realm")
                self.core.send_reply(ctx, 400, "Bad Request")
                return ERROR, None, realm
            realm = found
        wanted = realm.lower()
        for _, header_obj in msg.find(header):
            value = header_obj.value
            if value.lstrip()[:6].lower() != "digest":
                continue  # another scheme: not ours
            try:
                creds = digest.parse_credentials_cached(ctx.extra, value)  # shared with $au, $ar...
            except ParseError as exc:
                log.error("authorize: failed to parse credentials: %s", exc.reason)
                self.core.send_reply(ctx, 400, "Bad Request")
                return ERROR, None, realm
            if creds.realm.lower() == wanted:
                break
        else:
            return NO_CREDENTIALS, None, realm
        problem = credentials_problem(creds)
        if problem is not None:
            log.error("authorize: received credentials are not filled properly: %s", problem)
            self.core.send_reply(ctx, 400, "Bad Request")
            return ERROR, None, realm
        nonces = self.nonces if self.nonces is not None else self._nonces()
        if not nonces.verify(creds.nonce):
            self._mark_stale(ctx, header)
            return STALE_NONCE, creds, realm
        # only credentials whose nonce passed verify(): post_auth relies on it
        ctx.extra["auth_checked"] = (header, header_obj, creds)
        return DO_AUTHORIZATION, creds, realm

    def _mark_stale(self, ctx: Any, header: str) -> None:
        stale = ctx.extra.setdefault(STALE_KEY, set())
        stale.add(header)

    def check_response(self, ctx: Any, creds: digest.Credentials, ha1: str) -> bool:
        msg = ctx.msg
        return check_response(creds, msg.method, ha1, msg.body or b"")

    def post_auth(self, ctx: Any, creds: digest.Credentials, header: str) -> int:
        """After a right response: nonce age and replay (1.6 post_auth), then mark authorized."""
        msg = ctx.msg
        if msg.method in ("ACK", "CANCEL"):
            return AUTHORIZED
        extra = ctx.extra
        used = extra.setdefault(USED_KEY, set())
        nonces = self.nonces if self.nonces is not None else self._nonces()
        checked = extra.get("auth_checked")
        verified = checked is not None and checked[2] is creds
        if (creds.nonce, creds.nc) in used:
            status = NonceStatus.VALID  # the same message checked twice by the script
        elif self.disable_nonce_check:
            status = NonceStatus.EXPIRED if nonces.is_expired(creds.nonce, self.clock()) else NonceStatus.VALID
        else:
            qop_nc = creds.nc if creds.qop else None
            status = nonces.consume(creds.nonce, self.clock(), qop_nc, verified=verified)
        if status is not NonceStatus.VALID:
            log.debug("authorize: response is right but the nonce is %s", status.value)
            self._mark_stale(ctx, header)
            return STALE_NONCE
        used.add((creds.nonce, creds.nc))
        if verified:
            extra[HEADER_KEY] = (checked[0], checked[1])
        extra[CRED_KEY] = creds
        return AUTHORIZED

    @staticmethod
    def split_username(creds: digest.Credentials) -> tuple[str, str]:
        return split_username(creds.username)

    @staticmethod
    def calc_ha1(username: str, realm: str, password: str) -> str:
        return digest.ha1(username, realm, password)

    # -- Remote-Party-ID ---------------------------------------------------------------
    def _rpid(self, ctx: Any) -> str | None:
        if self._rpid_key is None:
            return None
        value = ctx.avps.get(self._rpid_key)
        return value if isinstance(value, str) and value else None

    @function("is_rpid_user_e164", routes=R | B | F)
    def is_rpid_user_e164(self, ctx: Any) -> int:
        rpid = self._rpid(ctx)
        if rpid is None:
            return -1
        text = rpid
        if "<" in text and ">" in text:
            text = text[text.index("<") + 1 : text.index(">")]
        try:
            uri = parse_uri(text.strip())
        except ParseError:
            return -1
        return 1 if is_e164(uri.user) else -1

    @function("append_rpid_hf", "str", "str", optional=2, routes=R | B | F)
    def append_rpid_hf(self, ctx: Any, prefix: str | None = None, suffix: str | None = None) -> int:
        rpid = self._rpid(ctx)
        if rpid is None:
            log.debug("append_rpid_hf: no rpid AVP")
            return -1
        if prefix is None:
            prefix, suffix = self.rpid_prefix, self.rpid_suffix
        try:
            ctx.msg.add_raw_header(f"Remote-Party-ID: {prefix}{rpid}{suffix or ''}")
        except ParseError:
            log.error("append_rpid_hf: bad header text")
            return -1
        return 1
