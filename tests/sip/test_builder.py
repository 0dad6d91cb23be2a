"""build_reply_bytes() writes exactly what build_reply(...).to_bytes() writes."""
from __future__ import annotations

from pathlib import Path

import pytest

from opensipsg.errors import ParseError
from opensipsg.sip.builder import build_reply, build_reply_bytes
from opensipsg.sip.message import parse

DATA = Path(__file__).resolve().parent.parent / "data" / "msgs"

REQUESTS = [
    # compact headers, two Via lines, a Via with two values
    b"REGISTER sip:example.com SIP/2.0\r\n"
    b"v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1, SIP/2.0/TCP 10.0.0.2;branch=z9hG4bK0\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.3;branch=z9hG4bKx;rport=5070;received=1.2.3.4\r\n"
    b"f: <sip:a@example.com>;tag=1\r\nt: <sip:a@example.com>\r\ni: abc\r\nCSeq: 1 REGISTER\r\n"
    b"m: <sip:a@10.0.0.1>\r\nl: 0\r\n\r\n",
    # folded To and From lines, odd spacing
    b"OPTIONS sip:b@example.com SIP/2.0\r\n"
    b"Via:SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK2\r\n"
    b"From: \"A\"\r\n <sip:a@example.com>;tag=9\r\nTO :  <sip:b@example.com>\r\n\t;x=y\r\n"
    b"Call-ID: f@h\r\ncseq: 7 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    # an existing To tag
    b"BYE sip:b@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK3\r\n"
    b"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>;tag=theirs\r\n"
    b"Call-ID: g@h\r\nCSeq: 2 BYE\r\nRoute: <sip:p;lr>\r\nContent-Length: 0\r\n\r\n",
    # 'tag' in the To text but no tag parameter
    b"MESSAGE sip:b@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK4\r\n"
    b"From: <sip:a@example.com>;tag=1\r\nTo: <sip:tagger@example.com>\r\n"
    b"Call-ID: h@h\r\nCSeq: 3 MESSAGE\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi",
]

EXTRAS = [
    (),
    ("Server: opensipsg",),
    ("Contact: <sip:a@b>;expires=60", "X-A: 1", "Server: x"),
    ("Content-Length: 0", "Server: x"),
    ("l: 99", "Content-Length: 5", "X-B: 2"),
    ("Content-Length:   0  ",),
]


def _requests():
    requests = [parse(raw) for raw in REQUESTS]
    requests += [parse(path.read_bytes()) for path in sorted(DATA.glob("*.sip"))]
    requests = [r for r in requests if r.is_request]
    # the top Via as the core changes it on receipt
    received = parse(REQUESTS[0])
    received.update_via1({"received": "192.0.2.1", "rport": "5099"})
    return requests + [received]


@pytest.mark.parametrize("status", [100, 180, 200, 401, 486])
@pytest.mark.parametrize("to_tag", [None, "", "abc-123"])
@pytest.mark.parametrize("body", [b"", b"hello"])
def test_build_reply_bytes_matches_build_reply(status, to_tag, body):
    for request in _requests():
        for extra in EXTRAS:
            for reason in (None, "Custom Reason"):
                expected = build_reply(request, status, reason, to_tag, extra, body).to_bytes()
                assert build_reply_bytes(request, status, reason, to_tag, extra, body) == expected


def test_build_reply_bytes_refuses_a_bad_extra_line():
    request = parse(REQUESTS[0])
    for bad in ("no colon here", "NoColon", "Bad Name: x", ": empty"):
        with pytest.raises(ParseError):
            build_reply(request, 200, "OK", "t", [bad])
        with pytest.raises(ParseError):
            build_reply_bytes(request, 200, "OK", "t", ["Server: x", bad])


@pytest.mark.parametrize("last", ["Server: opensipsg", "l: 7", "Content-Length: 0", "Server: x\r\n",
                                  "X-A: 1\r\nX-B: 2", "Server: a"])
def test_build_reply_bytes_last_line_as_one_more_extra_line(last):
    # last_line's check is remembered (lru_cache): the same text twice gives the same bytes
    for request in _requests():
        for extra in EXTRAS:
            for body in (b"", b"hello"):
                expected = build_reply(request, 200, "OK", "t", [*extra, last], body).to_bytes()
                for _ in range(2):
                    assert build_reply_bytes(request, 200, "OK", "t", extra, body, last) == expected


def test_build_reply_bytes_refuses_a_bad_last_line():
    request = parse(REQUESTS[0])
    for bad in ("", "no colon here", "Bad Name: x", ": empty"):
        for _ in range(2):
            with pytest.raises(ParseError):
                build_reply_bytes(request, 200, "OK", "t", ["Server: x"], b"", bad)


@pytest.mark.parametrize("last", [None, "Server: opensipsg", "l: 7", "X-A: 1\r\nX-B: 2"])
def test_build_reply_bytes_own_lines_after_the_extra_lines(last):
    # own_lines (written by the caller, not checked) go after headers, before last_line
    own = ("Contact: <sip:a@10.0.0.1>;expires=60, <sip:b@10.0.0.2>;q=0.5;expires=5", "Path: <sip:p;lr>")
    for request in _requests():
        for extra in EXTRAS:
            for body in (b"", b"hello"):
                lines = [*extra, *own] if last is None else [*extra, *own, last]
                expected = build_reply(request, 200, "OK", "t", lines, body).to_bytes()
                assert build_reply_bytes(request, 200, "OK", "t", extra, body, last, own) == expected
