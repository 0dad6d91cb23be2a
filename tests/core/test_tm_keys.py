"""Transaction keys (RFC 3261 17.2.3): branch, sent-by (case-insensitive host) and
method, an ACK matching its INVITE."""
from __future__ import annotations

from opensipsg.sip.message import parse
from opensipsg.tm import TransactionLayer

INVITE = (b"INVITE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP Host.Example:5070;branch=z9hG4bK-1\r\n"
          b"From: <sip:a@127.0.0.1>;tag=f1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n"
          b"Content-Length: 0\r\n\r\n")


def key(data: bytes, method: str | None = None) -> tuple:
    return TransactionLayer.key_for(parse(data), method)


def test_rfc3261_key_matches_ack_and_ignores_host_case() -> None:
    ack = INVITE.replace(b"INVITE sip", b"ACK sip").replace(b"1 INVITE", b"1 ACK")
    assert key(ack) == key(INVITE) == key(INVITE.replace(b"Host.Example", b"host.example"))
    assert key(INVITE, "CANCEL") != key(INVITE)


def test_sent_by_port_is_part_of_the_key() -> None:
    assert key(INVITE.replace(b":5070;", b";")) != key(INVITE)
    assert key(INVITE.replace(b":5070;", b":5071;")) != key(INVITE)
    assert key(INVITE.replace(b"branch=z9hG4bK-1", b"BRANCH=z9hG4bK-1")) == key(INVITE)


def test_rfc2543_key_without_the_magic_cookie() -> None:
    assert key(INVITE.replace(b"branch=z9hG4bK-1", b"branch=old"))[0] == "2543"
