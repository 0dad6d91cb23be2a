"""Mutation fuzzing of the pure SIP parsers.

Every parser must either return a value or raise ParseError, for any input:
nothing else may escape, and no input may take long (checked only loosely,
by a generous total time budget per parser).
"""
from __future__ import annotations

import random
import time
from typing import Callable

import pytest

from opensipsg.errors import ParseError
from opensipsg.sip.digest import parse_challenge, parse_credentials
from opensipsg.sip.nameaddr import parse_name_addr, parse_params, split_header_values
from opensipsg.sip.sdp import parse_sdp
from opensipsg.sip.uri import parse_uri, uri_equal

URI_SAMPLES = [
    "sip:alice:secret@atlanta.com:5070;transport=TCP;lr?subject=hi&priority=urgent",
    "sips:[2001:db8::10]:5070;maddr=[2001:db8::2]",
    "sip:user;par=u%40example.net@example.com",
    "sip:sips%3Auser%40example.com@example.net",
    "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
    "sip:192.0.2.4:5060;lr;ttl=16;method=INVITE",
    "tel:+1-201-555-0123;phone-context=example.com",
    "sip:*31#@example.com;user=phone",
]

NAME_ADDR_SAMPLES = [
    '"Bob \\"B\\"" <sip:bob@biloxi.com;lr>;tag=a6c85cf;q=0.5',
    "Bob Smith <sips:bob@[::1]:5061>;expires=60",
    "sip:bob@biloxi.com;tag=1928301774",
    '<sip:a@b>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"',
    "*",
]

LIST_SAMPLES = [
    '"Doe, John" <sip:john@x>;q=0.5, <sip:a@b;x=1,2>, "esc \\" , still" <sip:c@d>,sip:e@f',
    "INVITE, ACK, BYE",
]

PARAM_SAMPLES = [';a=b;c;d="x;y"', "branch=z9hG4bK776asdhds;received=[2001:db8::1];rport"]

CREDENTIAL_SAMPLES = [
    'Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
    'uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", '
    'response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
    'Digest username="a\\"b", realm="r", nonce="n", uri="sip:x", response="", algorithm=MD5-sess',
]

SDP_SAMPLES = [
    "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n"
    "m=audio 49172 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    "m=video 5000/2 RTP/AVP 31\r\nc=IN IP6 ::1\r\n",
]

SPECIAL = list('<>"\\;:,@?&=%[]/ \t\r\n\x00*#+-.') + ["%4", "%zz", "\udcff", "\u00e9", "\u0130", "::", "]["]


def mutate(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        pos = rng.randint(0, len(chars))
        if op == 0 and chars:  # flip a character's low bits
            i = rng.randrange(len(chars))
            chars[i] = chr((ord(chars[i]) ^ (1 << rng.randrange(7))) % 0x110000 or 1)
        elif op == 1:  # truncate
            chars = chars[:pos]
        elif op == 2:  # insert a special character/string
            chars[pos:pos] = list(rng.choice(SPECIAL))
        elif op == 3 and chars:  # delete a character
            del chars[rng.randrange(len(chars))]
        elif op == 4 and chars:  # duplicate a slice
            j = rng.randint(pos, len(chars))
            chars[pos:pos] = chars[pos:j]
        else:  # random printable/any byte-ish character
            chars.insert(pos, chr(rng.randrange(0, 256)))
    return "".join(chars)


def inputs(samples: list[str], seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    out = list(samples) + ["", " ", ";", ",", '"', "<", ">", "sip:", "tel:", "Digest "]
    while len(out) < count:
        out.append(mutate(rng, rng.choice(samples)))
    return out


def check(parser: Callable[[str], object], samples: list[str], seed: int, count: int = 3000) -> int:
    """Run the parser over mutated inputs; return how many parsed successfully."""
    ok = 0
    start = time.monotonic()
    for text in inputs(samples, seed, count):
        try:
            parser(text)
        except ParseError:
            continue
        except Exception as exc:  # pragma: no cover - the failure report
            pytest.fail(f"{parser.__name__}({text!r}) raised {type(exc).__name__}: {exc}")
        ok += 1
    # generous: thousands of inputs should take well under a second
    assert time.monotonic() - start < 20.0
    return ok


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fuzz_parse_uri(seed: int) -> None:
    parse_uri.cache_clear()
    assert check(parse_uri, URI_SAMPLES, seed) > 0


@pytest.mark.parametrize("seed", [4, 5])
def test_fuzz_parse_uri_round_trip(seed: int) -> None:
    """Whatever parses keeps its text and rebuilds to an equal value."""
    for text in inputs(URI_SAMPLES, seed, 3000):
        try:
            uri = parse_uri(text)
        except ParseError:
            continue
        assert str(uri) == text
        assert parse_uri(uri.build()) == uri
        assert uri_equal(uri, uri)


@pytest.mark.parametrize("seed", [6, 7])
def test_fuzz_parse_name_addr(seed: int) -> None:
    def name_addr_and_uri(text: str) -> object:
        na = parse_name_addr(text)
        str(na)
        str(na.replace())
        return na.uri

    name_addr_and_uri.__name__ = "parse_name_addr"
    check(parse_name_addr, NAME_ADDR_SAMPLES, seed)
    check(name_addr_and_uri, NAME_ADDR_SAMPLES, seed)


@pytest.mark.parametrize("seed", [8, 9])
def test_fuzz_split_header_values(seed: int) -> None:
    assert check(split_header_values, LIST_SAMPLES + NAME_ADDR_SAMPLES, seed) > 0
    check(parse_params, PARAM_SAMPLES, seed)


@pytest.mark.parametrize("seed", [10, 11])
def test_fuzz_parse_credentials(seed: int) -> None:
    check(parse_credentials, CREDENTIAL_SAMPLES, seed)
    check(parse_challenge, CREDENTIAL_SAMPLES, seed)


@pytest.mark.parametrize("seed", [12, 13])
def test_fuzz_parse_sdp(seed: int) -> None:
    def sdp_and_accessors(text: str) -> object:
        sdp = parse_sdp(text)
        assert str(sdp) == text
        for media in sdp.media:
            media.rtpmap, media.connection, media.direction
        sdp.connection_address
        if sdp.media:
            str(sdp.with_connection("192.0.2.1").with_media_port(0, 1234))
        return sdp

    sdp_and_accessors.__name__ = "parse_sdp"
    check(sdp_and_accessors, SDP_SAMPLES, seed)


def test_long_inputs_are_fast() -> None:
    """Pathological lengths must stay linear-ish (no regex backtracking)."""
    big = "a" * 50000
    cases = [
        (parse_uri, "sip:" + big + "@" + big),
        (parse_uri, "sip:x" + ";p" * 20000),
        (parse_uri, "sip:[" + ":" * 50000),
        (parse_name_addr, '"' + "\\a" * 20000),
        (parse_name_addr, "<sip:x>" + ";p=1" * 20000),
        (split_header_values, '"a,' * 20000 + "<" * 20000),
        (parse_credentials, "Digest " + 'a="x",' * 10000),
        (parse_sdp, "v=0\r\n" + "a=x\r\n" * 20000),
    ]
    start = time.monotonic()
    for parser, text in cases:
        try:
            parser(text)  # type: ignore[operator]
        except ParseError:
            pass
    assert time.monotonic() - start < 20.0
