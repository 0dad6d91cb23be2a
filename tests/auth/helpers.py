"""Shared by the auth-family module tests: a SQLite database with 1.6 tables,
digest credentials as a UA builds them, and a FakeCore hooked to both."""
from __future__ import annotations

import hashlib
from typing import Any

from opensipsg.db import connect
from opensipsg.db.schema import create_database
from opensipsg.sip import digest
from opensipsg.sip.digest import parse_challenge


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def make_db(path: Any, tables: list[str]) -> Any:
    db = connect(f"sqlite:///{path}")
    create_database(db, tables)
    return db


def add_subscriber(db: Any, user: str, domain: str, password: str, **extra: Any) -> None:
    row = {
        "username": user, "domain": domain, "password": password,
        "ha1": md5(f"{user}:{domain}:{password}"),
        "ha1b": md5(f"{user}@{domain}:{domain}:{password}"),
    }
    row.update(extra)
    db.insert("subscriber", row)


def authorization(challenge_value: str, username: str, password: str, method: str, uri: str,
                  realm: str | None = None, qop: bool | None = None, nc: str = "00000001",
                  cnonce: str = "0a4f113b", body: bytes = b"", header: str = "Authorization",
                  nonce: str | None = None) -> str:
    """The Authorization header line answering a WWW/Proxy-Authenticate value."""
    params = parse_challenge(challenge_value)
    realm = realm if realm is not None else params["realm"]
    nonce = nonce if nonce is not None else params["nonce"]
    use_qop = ("qop" in params) if qop is None else qop
    ha1 = digest.ha1(username, realm, password)
    if use_qop:
        resp = digest.response(ha1, nonce, method, uri, "auth", nc, cnonce, body)
        extra = f', qop=auth, nc={nc}, cnonce="{cnonce}"'
    else:
        resp = digest.response(ha1, nonce, method, uri)
        extra = ""
    return (f'{header}: Digest username="{username}", realm="{realm}", nonce="{nonce}", '
            f'uri="{uri}", response="{resp}"{extra}')
