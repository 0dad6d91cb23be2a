"""auth_aaa -- digest authentication against a RADIUS server (OpenSIPS 1.6; 1.5 auth_radius).

Overview
    aaa_www_authorize() / aaa_proxy_authorize() hand the credentials of a
    request to RADIUS as draft-sterman-aaa-sip-00 does; the server knows
    the password and checks the response. The proxy makes and checks the
    nonces (auth module: www_challenge / proxy_challenge, stale, replay).

    Steps (1.6): ACK/CANCEL are authorized at once. The credentials whose
    realm matches are picked (auth's pre_auth: none -> -4; malformed -> 400
    reply and 0; a nonce we did not make -> -3, no RADIUS request). Then
    one Access-Request, attributes in 1.6's order:

      User-Name            digest username, plus "@realm" when it has no '@'
      Digest-Attributes    (207) one TLV each: User-Name, Realm, Nonce, URI
                           (the R-URI instead when use_ruri_flag is set),
                           Method, and with qop: QOP, Nonce-Count, CNonce
                           (auth-int: Body-Digest = MD5(body); 1.6 put the
                           opaque there, a bug that made auth-int fail)
      Digest-Response      (206) the 32 hex digits
      Service-Type         service_type (15, Sip-Session)
      Sip-Uri-User         (208) To user (REGISTER) / From user, %-unescaped,
                           or the uri_user PV of aaa_proxy_authorize
      Acct-Session-Id      Call-ID
      Cisco-AVPair         "call-id=<Call-ID>" (the dictionary defines Cisco)
      NAS-Port, NAS-IP-Address, Message-Authenticator (added by the client;
                           1.6 never sent a Message-Authenticator)

    Access-Accept: every SIP-AVP item becomes an AVP (``name:str``,
    ``name#int``, ``#id:str``, ``#id#int``; one malformed item fails the
    whole call, -5, as 1.6), then the nonce is checked for age and replay
    (auth's post_auth: -3 stale). Access-Reject, no answer from any
    server, or any client error -> -5 with a log line (as 1.6: the script
    cannot tell a wrong password from a dead server). With a dead server
    the call returns after timeout * (retries + 1) per server of aaa_url.

Dependencies
    auth (nonces, challenges); aaa_radius when loaded (shares its clients).

Parameters
    aaa_url (str, "radius:/etc/radiusclient-ng/radiusclient.conf"; see
    aaa_radius), service_type (int, 15), use_ruri_flag (int, -1),
    radius_config (str; 1.5 auth_radius: the radiusclient.conf path, means
    aaa_url "radius:<path>").

Functions
    aaa_www_authorize(realm)  [request]          (1.5: radius_www_authorize)
    aaa_proxy_authorize(realm[, uri_user_pv])  [request]
                                                 (1.5: radius_proxy_authorize)
        1 authorized, -3 stale nonce, -4 no credentials, -5 error/rejected,
        0 after a 400 reply (malformed credentials). Empty realm: To host
        (REGISTER) or From host. The realm may hold pseudo-variables.

Example
    loadmodule "auth.so"
    loadmodule "aaa_radius.so"
    loadmodule "auth_aaa.so"
    modparam("auth_aaa", "aaa_url", "radius:/etc/radiusclient-ng/radiusclient.conf")
    if (!aaa_www_authorize("")) { www_challenge("", "0"); exit; }
"""
from __future__ import annotations

import hashlib
import logging
from typing import Any

from ..aaa.avps import parse_sip_avp  # noqa: F401 - shared with group/uri; importable from here too
from ..aaa.dictionary import digest_attribute
from ..aaa.radius import AAAError, RadiusClient
from ..errors import ConfigError, ParseError
from ..registry import Module, Param, R, find_module, function, register_module
from ..sip.uri import unescape
from .aaa_radius import close_private_client, shared_client
from .auth import AUTH_ERROR, AUTHORIZED, DO_AUTHORIZATION, PROXY, WWW

log = logging.getLogger(__name__)

DEFAULT_AAA_URL = "radius:/etc/radiusclient-ng/radiusclient.conf"
REQUIRED_ATTRIBUTES = ("User-Name", "Digest-Response", "Digest-Attributes", "Service-Type",
                       "Sip-Uri-User", "SIP-AVP", "Acct-Session-Id")


def _call_id(ctx: Any) -> str:
    try:
        return ctx.msg.call_id
    except (ParseError, AttributeError):
        return "-"


@register_module
class AuthAaaModule(Module):
    name = "auth_aaa"
    depends = ("auth",)
    params = {
        "aaa_url": Param(str, DEFAULT_AAA_URL),
        "service_type": Param(int, 15),
        "use_ruri_flag": Param(int, -1),
        "radius_config": Param(str, ""),
    }

    def __init__(self, core: Any) -> None:
        super().__init__(core)
        self.auth: Any = None
        self.client: RadiusClient | None = None

    def init(self) -> None:
        self.auth = find_module(self.core, "auth")
        if self.auth is None:
            raise ConfigError("auth_aaa: module auth is not loaded")
        url = self.aaa_url
        if self.radius_config and url == DEFAULT_AAA_URL:
            url = f"radius:{self.radius_config}"
        self.client = shared_client(self.core, url, "auth_aaa")
        try:
            self.client.check_attributes(REQUIRED_ATTRIBUTES, "auth_aaa")
        except AAAError as exc:
            raise ConfigError(str(exc)) from None

    def stop(self) -> None:
        close_private_client(self.core, self.client)

    # -- the request -----------------------------------------------------------------
    def _uri_user(self, ctx: Any, uri_user_pv: Any) -> str:
        if uri_user_pv is not None:
            value = uri_user_pv.get(ctx)
            return "" if value is None else str(value)
        msg = ctx.msg
        name_addr = msg.to if msg.method == "REGISTER" else msg.from_
        return unescape(name_addr.uri.user or "")

    def request_attributes(self, ctx: Any, creds: Any, uri_user_pv: Any = None) -> list[tuple[str, Any]]:
        """The Access-Request attributes for ``creds`` (1.6 sterman.c order)."""
        msg = ctx.msg
        call_id = msg.call_id
        username = creds.username
        user_name = username if "@" in username else f"{username}@{creds.realm}"
        uri = creds.uri
        if self.use_ruri_flag >= 0 and ctx.flags & (1 << self.use_ruri_flag):
            uri = ctx.ruri
        digest = [("Digest-User-Name", username), ("Digest-Realm", creds.realm),
                  ("Digest-Nonce", creds.nonce), ("Digest-URI", uri), ("Digest-Method", msg.method)]
        if creds.qop:
            digest += [("Digest-QOP", creds.qop), ("Digest-Nonce-Count", creds.nc or ""),
                       ("Digest-CNonce", creds.cnonce or "")]
            if creds.qop.lower() == "auth-int":
                digest.append(("Digest-Body-Digest", hashlib.md5(msg.body or b"").hexdigest()))
        attributes: list[tuple[str, Any]] = [("User-Name", user_name)]
        attributes += [("Digest-Attributes", digest_attribute(name, value)) for name, value in digest]
        attributes += [
            ("Digest-Response", creds.response),
            ("Service-Type", self.service_type),
            ("Sip-Uri-User", self._uri_user(ctx, uri_user_pv)),
            ("Acct-Session-Id", call_id),
        ]
        assert self.client is not None
        if self.client.has_attribute("Cisco-AVPair"):
            attributes.append(("Cisco-AVPair", f"call-id={call_id}"))
        return attributes

    def authorize(self, ctx: Any, realm_fmt: Any, header: str, uri_user_pv: Any = None) -> int:
        auth, client = self.auth, self.client
        if auth is None or client is None:
            return AUTH_ERROR
        try:
            realm = realm_fmt.render(ctx) if realm_fmt is not None else ""
        except Exception:  # noqa: BLE001 - a PV that cannot be printed
            log.error("aaa authorize: invalid realm parameter")
            return AUTH_ERROR
        code, creds, realm = auth.pre_auth(ctx, realm, header)
        if code == AUTHORIZED or code != DO_AUTHORIZATION:
            return code
        try:
            attributes = self.request_attributes(ctx, creds, uri_user_pv)
        except (ValueError, ParseError, AttributeError) as exc:
            log.error("aaa authorize: cannot build the RADIUS request: %s (call-id %s)", exc, _call_id(ctx))
            return AUTH_ERROR
        try:
            reply = client.authenticate(attributes)
        except AAAError as exc:
            log.error("aaa authorize: %s (call-id %s)", exc, _call_id(ctx))
            return AUTH_ERROR
        if not reply.accepted:
            log.info("aaa authorize: RADIUS rejected %s (call-id %s)", creds.username, _call_id(ctx))
            return AUTH_ERROR
        avps = []
        for item in reply.values("SIP-AVP"):
            try:
                avps.append(parse_sip_avp(item if isinstance(item, str) else str(item)))
            except ValueError as exc:
                log.error("aaa authorize: %s (call-id %s)", exc, _call_id(ctx))
                return AUTH_ERROR
        for key, value in avps:
            ctx.avps.add(key, value)
        return auth.post_auth(ctx, creds, header)

    @function("aaa_www_authorize", "fmt", routes=R, aliases=("radius_www_authorize",))
    def aaa_www_authorize(self, ctx: Any, realm: Any) -> int:
        return self.authorize(ctx, realm, WWW)

    @function("aaa_proxy_authorize", "fmt", "pv", optional=1, routes=R, aliases=("radius_proxy_authorize",))
    def aaa_proxy_authorize(self, ctx: Any, realm: Any, uri_user: Any = None) -> int:
        return self.authorize(ctx, realm, PROXY, uri_user)


