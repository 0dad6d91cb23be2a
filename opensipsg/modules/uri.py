"""uri -- checks on URIs and the digest user (OpenSIPS 1.6, former uri_db merged in).

Overview
    Tests on the Request-URI and To tag, a URI user in E.164 form and the
    authenticated digest user; adds R-URI parameters and turns tel: URIs into
    sip: URIs. The database and AAA checks of 1.6 (db_check_to,
    db_check_from, db_does_uri_exist, db_get_auth_id, aaa_does_uri_exist,
    aaa_does_uri_user_exist) come later; their parameters are accepted now.
    The 1.5 names check_to, check_from, does_uri_exist, does_uri_user_exist
    and get_auth_id stop the start-up with an "obsolete" error, as in 1.6.

Dependencies
    None for these functions (is_user needs credentials checked by
    auth: ``ctx.extra['authorized_credentials']``, a digest Credentials).

Parameters
    db_url (str, NULL), db_table "subscriber", user_column "username",
    domain_column "domain", uriuser_column "uri_user", use_uri_table 0,
    use_domain 0, aaa_url (str, NULL), service_type 10, use_sip_uri_host 0.

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
"""
from __future__ import annotations

import logging
from typing import Any

from ..errors import ParseError
from ..registry import F, L, Module, Param, R, function, register_module
from ..sip.uri import parse_uri

log = logging.getLogger(__name__)


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

    @function("has_totag", routes=R | L)
    def has_totag(self, ctx: Any) -> int:
        try:
            tag = ctx.msg.to.tag
        except ParseError:
            return -1
        return 1 if tag else -1

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
