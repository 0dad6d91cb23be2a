"""opensipsg.sip.sdp: line-preserving SDP model and rewrites."""
from __future__ import annotations

import pytest

from opensipsg.errors import ParseError
from opensipsg.sip.sdp import Connection, parse_sdp

OFFER = (
    "v=0\r\n"
    "o=alice 2890844526 2890844526 IN IP4 client.atlanta.example.com\r\n"
    "s=-\r\n"
    "c=IN IP4 192.0.2.101\r\n"
    "t=0 0\r\n"
    "m=audio 49172 RTP/AVP 0 8 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-15\r\n"
    "a=sendrecv\r\n"
    "m=video 51372/2 RTP/AVP 31\r\n"
    "c=IN IP6 2001:db8::5\r\n"
    "a=rtpmap:31 H261/90000\r\n"
    "a=recvonly\r\n"
)


def test_round_trip_is_identical() -> None:
    assert str(parse_sdp(OFFER)) == OFFER
    mixed = "v=0\no=- 1 1 IN IP4 1.2.3.4\r\ns=x\nt=0 0"
    assert str(parse_sdp(mixed)) == mixed
    assert parse_sdp(OFFER).encode() == OFFER.encode()


def test_trailing_blank_lines_are_kept() -> None:
    body = OFFER + "\r\n"
    sdp = parse_sdp(body)
    assert str(sdp) == body
    assert sdp.lines[-1].value == "recvonly"


def test_session_accessors() -> None:
    sdp = parse_sdp(OFFER)
    assert sdp.connection == Connection("IN", "IP4", "192.0.2.101")
    assert sdp.connection_address == "192.0.2.101"
    assert sdp.first("o") == "alice 2890844526 2890844526 IN IP4 client.atlanta.example.com"
    assert sdp.first("z") is None
    assert [line.type for line in sdp.session_lines] == ["v", "o", "s", "c", "t"]


def test_media_accessors() -> None:
    audio, video = parse_sdp(OFFER).media
    assert (audio.index, audio.media_type, audio.port, audio.port_count, audio.proto) == (
        0, "audio", 49172, None, "RTP/AVP"
    )
    assert audio.formats == ("0", "8", "101")
    assert audio.connection is None
    assert audio.rtpmap == {"0": "PCMU/8000", "8": "PCMA/8000", "101": "telephone-event/8000"}
    assert audio.attribute("fmtp") == "101 0-15"
    assert audio.attribute("sendrecv") == ""
    assert audio.attribute("ptime") is None
    assert audio.direction == "sendrecv"
    assert (video.port, video.port_count, video.formats) == (51372, 2, ("31",))
    assert video.connection == Connection("IN", "IP6", "2001:db8::5")
    assert video.direction == "recvonly"
    assert video.lines[0].type == "m"


def test_connection_address_falls_back_to_media_and_strips_ttl() -> None:
    sdp = parse_sdp("v=0\r\ns=-\r\nm=audio 1 RTP/AVP 0\r\nc=IN IP4 224.2.1.1/127\r\n")
    assert sdp.connection is None
    assert sdp.connection_address == "224.2.1.1"
    assert parse_sdp("v=0\r\ns=-\r\n").connection_address is None


def test_with_connection_rewrites_all_c_lines() -> None:
    sdp = parse_sdp(OFFER).with_connection("203.0.113.7")
    text = str(sdp)
    assert text == OFFER.replace("c=IN IP4 192.0.2.101", "c=IN IP4 203.0.113.7").replace(
        "c=IN IP6 2001:db8::5", "c=IN IP4 203.0.113.7"
    )
    v6 = parse_sdp(OFFER).with_connection("2001:db8::99")
    assert v6.connection == Connection("IN", "IP6", "2001:db8::99")


def test_with_connection_one_media() -> None:
    sdp = parse_sdp(OFFER).with_connection("198.51.100.1", media_index=1)
    assert sdp.connection_address == "192.0.2.101"
    assert sdp.media[1].connection == Connection("IN", "IP4", "198.51.100.1")
    with pytest.raises(IndexError):
        parse_sdp(OFFER).with_connection("1.1.1.1", media_index=5)


def test_with_media_port() -> None:
    sdp = parse_sdp(OFFER).with_media_port(0, 30000).with_media_port(1, 30002)
    assert sdp.media[0].port == 30000
    assert sdp.media[1].port == 30002
    assert sdp.media[1].port_count == 2
    assert str(sdp) == OFFER.replace("m=audio 49172 ", "m=audio 30000 ").replace(
        "m=video 51372/2 ", "m=video 30002/2 "
    )
    with pytest.raises(IndexError):
        sdp.with_media_port(2, 1)
    with pytest.raises(ValueError):
        sdp.with_media_port(0, 70000)


def test_untouched_original_after_rewrite() -> None:
    original = parse_sdp(OFFER)
    original.with_media_port(0, 1)
    assert str(original) == OFFER


@pytest.mark.parametrize(
    "body",
    [
        "",
        "\r\n",
        "hello",
        "v=0\r\ngarbage\r\n",
        "v=0\r\n\r\ns=-\r\n",
        "s=-\r\nv=0\r\n",
        "v=0\r\n1=x\r\n",
        "v=0\r\nm=audio\r\n",
        "v=0\r\nm=audio x RTP/AVP 0\r\n",
        "v=0\r\nm=audio 70000 RTP/AVP 0\r\n",
        "v=0\r\nm=audio 5/x RTP/AVP 0\r\n",
        "v=0\r\nc=IN IP4\r\n",
        "v=0\r\ns=a\rb\r\n",
        "v=0\r\n\u0130=x\r\n",
    ],
)
def test_garbage(body: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_sdp(body)
    assert info.value.status == 400
