"""opensipsg.sip.digest: RFC 2617 parsing and computations."""
from __future__ import annotations

import hashlib

import pytest

from opensipsg.errors import ParseError
from opensipsg.sip.digest import (
    build_challenge,
    ha1,
    parse_auth_params,
    parse_challenge,
    parse_credentials,
    response,
)

# RFC 2617 section 3.5 example
RFC2617_AUTHORIZATION = (
    'Digest username="Mufasa",\r\n'
    '     realm="testrealm@host.com",\r\n'
    '     nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",\r\n'
    '     uri="/dir/index.html",\r\n'
    "     qop=auth,\r\n"
    "     nc=00000001,\r\n"
    '     cnonce="0a4f113b",\r\n'
    '     response="6629fae49393a05397450978507c4ef1",\r\n'
    '     opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def test_rfc2617_example_response() -> None:
    creds = parse_credentials(RFC2617_AUTHORIZATION)
    h1 = ha1(creds.username, creds.realm, "Circle Of Life")
    assert h1 == md5("Mufasa:testrealm@host.com:Circle Of Life")
    digest = response(h1, creds.nonce, "GET", creds.uri, creds.qop, creds.nc, creds.cnonce)
    assert digest == "6629fae49393a05397450978507c4ef1"
    assert digest == creds.response


def test_parse_credentials_fields() -> None:
    creds = parse_credentials(RFC2617_AUTHORIZATION)
    assert creds.scheme == "Digest"
    assert creds.username == "Mufasa"
    assert creds.realm == "testrealm@host.com"
    assert creds.nonce == "dcd98b7102dd2f0e8b11d0f600bfb0c093"
    assert creds.uri == "/dir/index.html"
    assert creds.qop == "auth"
    assert creds.nc == "00000001"
    assert creds.cnonce == "0a4f113b"
    assert creds.opaque == "5ccc069c403ebaf9f0171e9517f40e41"
    assert creds.algorithm is None
    assert creds.params["opaque"] == creds.opaque
    hash(creds)  # usable as a key despite the params dict


def test_parse_credentials_sip_style() -> None:
    value = (
        'digest USERNAME="bob", realm="biloxi.com", nonce="dcd98b", '
        'uri="sip:bob@biloxi.com", response="245f23415f11432b3434341c022", '
        'algorithm=MD5, qop="auth", x-unknown=tok'
    )
    creds = parse_credentials(value)
    assert creds.scheme == "digest"
    assert creds.username == "bob"
    assert creds.uri == "sip:bob@biloxi.com"
    assert creds.algorithm == "MD5"
    assert creds.qop == "auth"  # quoted by some phones; accepted
    assert creds.params["x-unknown"] == "tok"


def test_quoted_string_escapes() -> None:
    creds = parse_credentials(
        r'Digest username="a\"b\\c", realm="r", nonce="n", uri="u", response=""'
    )
    assert creds.username == 'a"b\\c'
    assert creds.response == ""


@pytest.mark.parametrize(
    "value",
    [
        "",
        "Digest",
        "Digest ",
        'Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==',
        'Digestusername="a"',
        'Digest username="a", realm="r", nonce="n", uri="u"',  # no response
        'Digest username="a, realm="r", nonce="n", uri="u", response="x"',
        'Digest username="a" realm="r", nonce="n", uri="u", response="x"',
        'Digest username="a", realm="r", nonce="n", uri="u", response="x",',
        'Digest username="a", username="b", realm="r", nonce="n", uri="u", response="x"',
        'Digest username, realm="r"',
        'Digest username=, realm="r"',
        'Digest =x',
        'Digest username="a\\',
    ],
)
def test_bad_credentials(value: str) -> None:
    with pytest.raises(ParseError):
        parse_credentials(value)


def test_md5_sess_and_auth_int() -> None:
    base = md5("u:r:p")
    assert ha1("u", "r", "p", "MD5-sess", "N", "C") == md5(f"{base}:N:C")
    assert ha1("u", "r", "p", "md5") == base
    with pytest.raises(ParseError):
        ha1("u", "r", "p", "SHA-256")
    body = b"v=0\r\n"
    ha2 = md5("INVITE:sip:b@x:" + hashlib.md5(body).hexdigest())
    expected = md5(f"{base}:N:00000001:C:auth-int:{ha2}")
    assert response(base, "N", "INVITE", "sip:b@x", "auth-int", "00000001", "C", body) == expected
    assert response(base, "N", "INVITE", "sip:b@x", "auth-int", "00000001", "C", body.decode()) == expected


def test_response_without_qop_rfc2069_style() -> None:
    base = md5("u:r:p")
    assert response(base, "N", "REGISTER", "sip:r") == md5(f"{base}:N:" + md5("REGISTER:sip:r"))


def test_response_errors() -> None:
    with pytest.raises(ParseError):
        response("h", "n", "GET", "/", "auth")  # nc and cnonce missing
    with pytest.raises(ParseError):
        response("h", "n", "GET", "/", "bogus", "1", "c")


def test_build_challenge() -> None:
    assert build_challenge("biloxi.com", "abc", None, False) == (
        'Digest realm="biloxi.com", nonce="abc", algorithm=MD5'
    )
    assert build_challenge("biloxi.com", "abc", "auth", True, opaque="op") == (
        'Digest realm="biloxi.com", nonce="abc", opaque="op", qop="auth", stale=true, algorithm=MD5'
    )
    assert build_challenge('we"ird', "n", None, False, algorithm=None) == 'Digest realm="we\\"ird", nonce="n"'
    # a nonce (not one of ours) with a quote or a backslash is escaped as the realm is
    assert build_challenge("r", 'a"b\\c', None, False, algorithm=None) == 'Digest realm="r", nonce="a\\"b\\\\c"'


def test_parse_challenge_round_trip() -> None:
    challenge = build_challenge('we"ird', "abc", "auth,auth-int", True, opaque="o")
    params = parse_challenge(challenge)
    assert params == {
        "realm": 'we"ird',
        "nonce": "abc",
        "opaque": "o",
        "qop": "auth,auth-int",
        "stale": "true",
        "algorithm": "MD5",
    }
    with pytest.raises(ParseError):
        parse_challenge('Digest realm="x"')
    with pytest.raises(ParseError):
        parse_challenge('Basic realm="x"')


def test_parse_auth_params_lws() -> None:
    assert parse_auth_params(' a = "x" ,\r\n\tb=y') == {"a": "x", "b": "y"}


@pytest.mark.parametrize(
    "text",
    [
        'a="x", b=y',
        ' a = "x" ,\r\n\tb=y',
        'a="x\\"y", b="\\\\"',
        'a="x,y=z",b=t',
        'a="x", b=y,',
        'a="x", b=y, ',
        'a="x",, b=y',
        'a="x" b=y',
        'a="x", a=y',
        'A="x", a=y',
        'a="unterminated',
        'a=',
        '=b',
        '',
        '  ',
        'a=tok"en',
        'a="x"\t',
    ],
)
def test_parse_auth_params_fast_path_matches_stepwise(text: str) -> None:
    from opensipsg.sip.digest import _parse_auth_params_stepwise

    def outcome(parse):  # type: ignore[no-untyped-def]
        try:
            return parse(text)
        except ParseError as exc:
            return ("error", str(exc))

    assert outcome(parse_auth_params) == outcome(_parse_auth_params_stepwise)


def test_parse_credentials_cached_is_keyed_by_the_value() -> None:
    from opensipsg.sip.digest import parse_credentials_cached

    cache: dict = {}
    first = parse_credentials_cached(cache, RFC2617_AUTHORIZATION)
    assert parse_credentials_cached(cache, RFC2617_AUTHORIZATION) is first
    other = 'Digest username="bob", realm="r", nonce="n", uri="u", response=""'
    assert parse_credentials_cached(cache, other).username == "bob"  # another value: parsed anew
    assert parse_credentials_cached(cache, RFC2617_AUTHORIZATION) == first
    with pytest.raises(ParseError):
        parse_credentials_cached(cache, "Digest username=")
    with pytest.raises(ParseError):  # a failure is not remembered either
        parse_credentials_cached(cache, "Digest username=")
