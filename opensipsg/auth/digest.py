"""Checks on received Digest credentials (pure; RFC 2617, OpenSIPS 1.6 auth)."""
from __future__ import annotations

import hashlib
import hmac

from ..errors import ParseError
from ..sip import digest

__all__ = ["credentials_problem", "split_username", "check_response", "session_ha1"]


def split_username(username: str) -> tuple[str, str]:
    """'alice@example.com' -> ('alice', 'example.com'); 'alice' -> ('alice', '')."""
    user, _, domain = username.partition("@")
    return user, domain


def credentials_problem(creds: digest.Credentials) -> str | None:
    """Why the credentials are malformed (1.6 check_dig_cred), or None when fine."""
    if not creds.username:
        return "empty username"
    if not creds.nonce:
        return "empty nonce"
    if not creds.response:
        return "empty response"
    if not creds.uri:
        return "empty uri"
    algorithm = (creds.algorithm or "MD5").lower()
    if algorithm not in ("md5", "md5-sess"):
        return f"unsupported algorithm {creds.algorithm!r}"
    if creds.qop:
        if creds.qop.lower() not in ("auth", "auth-int"):
            return f"unsupported qop {creds.qop!r}"
        if not creds.nc or not creds.cnonce:
            return "qop without nc or cnonce"
        if len(creds.nc) != 8 or any(c not in "0123456789abcdefABCDEF" for c in creds.nc):
            return "bad nc"
    return None


def session_ha1(creds: digest.Credentials, ha1: str) -> str:
    """HA1 as the response uses it: for MD5-sess, MD5(HA1:nonce:cnonce)."""
    if (creds.algorithm or "").lower() == "md5-sess":
        return hashlib.md5(f"{ha1}:{creds.nonce}:{creds.cnonce or ''}".encode("utf-8", "surrogateescape")).hexdigest()
    return ha1


def check_response(creds: digest.Credentials, method: str, ha1: str, body: bytes = b"") -> bool:
    """True when the response in ``creds`` is the one ``ha1`` gives (constant-time compare)."""
    if len(creds.response) != 32:
        return False
    ha1 = ha1.strip().lower()
    if creds.algorithm:  # (plain MD5 needs no session_ha1() call)
        ha1 = session_ha1(creds, ha1)
    try:
        expected = digest.response(
            ha1, creds.nonce, method, creds.uri,
            qop=creds.qop, nc=creds.nc, cnonce=creds.cnonce, body=body,
        )
    except ParseError:
        return False
    return hmac.compare_digest(expected, creds.response.lower())
