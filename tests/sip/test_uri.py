"""opensipsg.sip.uri: parsing, serialization, RFC 3261 19.1.4 comparison."""
from __future__ import annotations

import pytest

from opensipsg.errors import ParseError
from opensipsg.sip.uri import URI, parse_uri, unescape, uri_equal


# -- parsing -------------------------------------------------------------------


def test_basic_sip_uri_fields() -> None:
    u = parse_uri("sip:alice:secret@atlanta.com:5070;transport=TCP;lr?subject=hi&priority=urgent")
    assert u.scheme == "sip"
    assert u.user == "alice"
    assert u.password == "secret"
    assert u.host == "atlanta.com"
    assert u.port == 5070
    assert u.params == (("transport", "TCP"), ("lr", None))
    assert u.headers == (("subject", "hi"), ("priority", "urgent"))
    assert u.transport == "tcp"
    assert u.hostport == "atlanta.com:5070"


def test_no_userinfo_no_port() -> None:
    u = parse_uri("sip:example.com")
    assert (u.user, u.password, u.host, u.port, u.params, u.headers) == (
        None, None, "example.com", None, (), ()
    )
    assert u.hostport == "example.com"
    assert u.transport == ""


def test_scheme_is_lowercased_but_raw_kept() -> None:
    u = parse_uri("SIPS:Bob@BILOXI.example.COM")
    assert u.scheme == "sips"
    assert u.host == "BILOXI.example.COM"
    assert str(u) == "SIPS:Bob@BILOXI.example.COM"
    assert u.is_secure


def test_empty_password_differs_from_none() -> None:
    assert parse_uri("sip:bob:@x.com").password == ""
    assert parse_uri("sip:bob@x.com").password is None


def test_param_lookup() -> None:
    u = parse_uri("sip:x.com;LR;Transport=Udp;maddr=10.0.0.1;empty=")
    assert u.param("lr") == ""
    assert u.param("LR") == ""
    assert u.has_param("lr")
    assert u.param("transport") == "Udp"
    assert u.transport == "udp"
    assert u.param("maddr") == "10.0.0.1"
    assert u.param("empty") == ""
    assert u.param("missing") is None
    assert not u.has_param("missing")


@pytest.mark.parametrize(
    "text, host, port",
    [
        ("sip:[2001:db8::10]", "[2001:db8::10]", None),
        ("sip:[2001:db8::10]:5070", "[2001:db8::10]", 5070),
        # RFC 4475 3.1.1.9 style: the colon-number is part of the address here
        ("sip:user@[2001:db8::10:5070]", "[2001:db8::10:5070]", None),
        ("sip:[::ffff:192.0.2.1];transport=udp", "[::ffff:192.0.2.1]", None),
        ("sip:bob@192.0.2.4:0", "192.0.2.4", 0),
        ("sip:bob@192.0.2.4:65535", "192.0.2.4", 65535),
        ("sip:bob@example.com.", "example.com.", None),
        ("sip:bob@my_host-1.example", "my_host-1.example", None),
    ],
)
def test_hosts_and_ports(text: str, host: str, port: int | None) -> None:
    u = parse_uri(text)
    assert u.host == host
    assert u.port == port
    assert str(u) == text


def test_ipv6_with_params_and_headers() -> None:
    u = parse_uri("sip:[2001:db8::1]:5060;maddr=[2001:db8::2]?x=y")
    assert u.param("maddr") == "[2001:db8::2]"
    assert u.headers == (("x", "y"),)


# RFC 4475-style torture URIs: all valid.
TORTURE = [
    # escaped characters in the user part (4475 3.1.1.1 / esc01)
    "sip:sips%3Auser%40example.com@example.net",
    # user part containing ';' and an escaped '@' (4475 3.1.1.4 esc02-ish)
    "sip:user;par=u%40example.net@example.com",
    # unusual but legal characters everywhere (4475 3.1.1.2 wsinv / intmeth)
    "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,"
    "weird!*pas$wo~d_too.(doesn't-it)@example.com",
    "sip:vivekg@chair-dnrc.example.com;unknownparam",
    "sip:vivekg@chair-dnrc.example.com;unknownparam=value;x=[::1]:5",
    "sip:%61lice@atlanta.com;transport=TCP",
    "sips:+1-212-555-1212:1234@gateway.com;user=phone",
    "sip:*31#@example.com",
    "sip:example.com;lr;transport=udp;maddr=224.2.0.1;ttl=16;method=INVITE",
    "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
    "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
    "tel:+1-201-555-0123",
    "tel:7042;phone-context=example.com",
    "tel:863-1234;phone-context=+1-914-555",
]


@pytest.mark.parametrize("text", TORTURE)
def test_torture_uris_parse_and_round_trip(text: str) -> None:
    u = parse_uri(text)
    assert str(u) == text
    # the canonical rebuild parses to the same value
    assert parse_uri(u.build()) == u


def test_torture_field_values() -> None:
    u = parse_uri("sip:sips%3Auser%40example.com@example.net")
    assert u.user == "sips%3Auser%40example.com"
    assert u.user_unescaped == "sips:user@example.com"
    assert u.host == "example.net"
    u = parse_uri(TORTURE[2])
    assert u.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert u.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert u.host == "example.com"


def test_tel_uri() -> None:
    u = parse_uri("tel:+1-201-555-0123;phone-context=example.com;isub=1")
    assert u.scheme == "tel"
    assert u.user == "+1-201-555-0123"
    assert u.host == ""
    assert u.port is None
    assert u.param("phone-context") == "example.com"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sip",
        "sip:",
        ":alice@x",
        "sip:@example.com",
        "sip::pw@example.com",
        "sip:alice@",
        "sip:alice@example.com:",
        "sip:alice@example.com:5060:5060",
        "sip:alice@example.com:65536",
        "sip:alice@example.com:99999999999999999999",
        "sip:alice@example.com:-1",
        "sip:alice@exa mple.com",
        "sip:alice@example.com ",
        "sip:alice@<example.com>",
        'sip:"alice"@example.com',
        "sip:alice@256.1.1.1",
        "sip:alice@1.2.3",
        "sip:alice@1.2.3.4.5",
        "sip:alice@example..com",
        "sip:alice@[2001:db8::1",
        "sip:alice@[2001:db8::1]x",
        "sip:alice@[not:v6]",
        "sip:alice@[]",
        "sip:alice%4@example.com",
        "sip:alice%zz@example.com",
        "sip:alice@example.com;",
        "sip:alice@example.com;;lr",
        "sip:alice@example.com;=x",
        "sip:alice@example.com?",
        "sip:alice@example.com?=v",
        "sip:al:ice:x@example.com",
        "sip:alice@exam\u00e9ple.com",
        "sip:alice@example.com\udcff",
        "tel:",
        "tel:abc-xyz",
        "tel:+123?x=y",
        "tel:+123@host",
        "1sip:alice@example.com",
    ],
)
def test_malformed_uris(text: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_uri(text)
    assert info.value.status == 400


@pytest.mark.parametrize("text", ["http://example.com/", "mailto:bob@example.com", "urn:service:sos"])
def test_unsupported_scheme_is_416(text: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_uri(text)
    assert info.value.status == 416


def test_parse_uri_rejects_non_str() -> None:
    with pytest.raises(ParseError):
        parse_uri(b"sip:x")  # type: ignore[arg-type]


# -- serialization and copies --------------------------------------------------


def test_constructed_uri_serializes_canonically() -> None:
    u = URI("sip", "bob", None, "example.com", 5062, (("lr", None), ("transport", "tcp")))
    assert str(u) == "sip:bob@example.com:5062;lr;transport=tcp"
    assert str(URI("sips", None, None, "[::1]", None)) == "sips:[::1]"
    assert str(URI("tel", "+123", params=(("phone-context", "x"),))) == "tel:+123;phone-context=x"
    assert str(URI("sip", "a", "pw", "h", headers=(("a", "b"), ("c", "")))) == "sip:a:pw@h?a=b&c="


def test_replace_clears_raw() -> None:
    u = parse_uri("SIP:Bob@Example.com")
    v = u.replace(host="other.net", port=5080)
    assert v.raw == ""
    assert str(v) == "sip:Bob@other.net:5080"
    assert u.host == "Example.com"  # immutable


def test_with_and_without_param() -> None:
    u = parse_uri("sip:a@b;transport=udp;lr;Lr")
    v = u.with_param("transport", "tcp")
    assert str(v) == "sip:a@b;transport=tcp;lr;Lr"  # replaced in place
    # duplicates of the replaced name are folded into the first one
    assert str(u.with_param("LR", "1")) == "sip:a@b;transport=udp;LR=1"
    assert str(u.with_param("maddr", "1.2.3.4")) == "sip:a@b;transport=udp;lr;Lr;maddr=1.2.3.4"
    assert str(u.without_param("LR")) == "sip:a@b;transport=udp"
    assert u.without_param("nothere") is u
    assert str(parse_uri("sip:a@b").with_param("lr")) == "sip:a@b;lr"


def test_raw_is_not_compared() -> None:
    assert parse_uri("sip:a@b;lr") == URI("sip", "a", None, "b", None, (("lr", None),))
    assert hash(parse_uri("sip:a@b")) == hash(URI("sip", "a", None, "b"))


def test_parse_is_cached_and_immutable() -> None:
    assert parse_uri("sip:cache@example.com") is parse_uri("sip:cache@example.com")
    with pytest.raises(AttributeError):
        parse_uri("sip:cache@example.com").host = "x"  # type: ignore[misc]


def test_unescape() -> None:
    assert unescape("%61lice") == "alice"
    assert unescape("a%20b%2F") == "a b/"
    assert unescape("plain") == "plain"
    assert unescape("%E2%82%AC") == "\u20ac"
    # invalid UTF-8 survives as a surrogate instead of raising
    assert unescape("%FF").encode("utf-8", "surrogateescape") == b"\xff"


# -- RFC 3261 19.1.4 comparison --------------------------------------------------

EQUIVALENT = [
    ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
    ("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"),
    (
        "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
        "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
    ),
    (
        "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
        "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
    ),
    ("sip:bob:pw@biloxi.com", "sip:bob:%70w@BILOXI.com"),
    ("sip:[2001:DB8::1]:5060", "sip:[2001:db8::1]:5060"),
    ("tel:+1-201-555-0123", "tel:+12015550123"),
]

NOT_EQUIVALENT = [
    # different usernames (case-sensitive user part)
    ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
    # can resolve to different ports
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
    # can resolve to different transports
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
    # different port and transport
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
    # different header component
    ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
    # even though that's what phone21.boxesbybob.com resolves to
    ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
    # equality is not transitive: security=on vs security=off
    ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"),
    # SIP and SIPS are never equivalent
    ("sip:bob@biloxi.com", "sips:bob@biloxi.com"),
    # user / ttl / method / maddr in only one URI
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;user=phone"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;maddr=1.2.3.4"),
    ("sip:bob@biloxi.com;ttl=1", "sip:bob@biloxi.com"),
    ("sip:bob@biloxi.com;method=INVITE", "sip:bob@biloxi.com"),
    # password present in one only
    ("sip:bob:pw@biloxi.com", "sip:bob@biloxi.com"),
    ("sip:biloxi.com", "sip:bob@biloxi.com"),
    ("sip:bob@biloxi.com?a=1", "sip:bob@biloxi.com?a=2"),
]


@pytest.mark.parametrize("a, b", EQUIVALENT)
def test_rfc3261_equivalent(a: str, b: str) -> None:
    assert uri_equal(parse_uri(a), parse_uri(b))
    assert uri_equal(parse_uri(b), parse_uri(a))


@pytest.mark.parametrize("a, b", NOT_EQUIVALENT)
def test_rfc3261_not_equivalent(a: str, b: str) -> None:
    assert not uri_equal(parse_uri(a), parse_uri(b))
    assert not uri_equal(parse_uri(b), parse_uri(a))


def test_equal_is_reflexive_on_torture_set() -> None:
    for text in TORTURE:
        assert uri_equal(parse_uri(text), parse_uri(text))


# -- the one-match fast path for the common shape agrees with the full parser ----


def test_common_shape_fast_path_agrees_with_the_full_parser():
    from opensipsg.sip.uri import _parse_uri_full

    from tests.sip.differential import outcome, text_mutations

    alphabet = "sipSIP:@;=.?%[]#-_0123456789abcxyz!~*'()&+$,/ \t\"<>\u00e9"
    seeds = [
        "sip:alice@atlanta.com", "sips:bob@192.0.2.4:5061;transport=tcp", "sip:192.0.2.4",
        "sip:u000200@127.0.0.1:5091;transport=udp", "sip:host.example.com.;lr", "sip:a@1.2.3.4.",
        "sip:a@256.1.1.1", "sip:a@1.2.3", "sip:a@001.002.003.004:65535", "sip:a@h:65536",
        "sip:a;b@c;d", "sip:*31#@example.com;user=phone", "sip:a@b;;c", "sip:a@b;", "sip:a@.b",
        "sip:a@b..c", "sip:a@b.9", "sip:a@-b_c", "sip:a:pw@b", "sip:a@b?h=1", "SIP:a@b",
    ]
    texts = text_mutations(seeds, alphabet, 20000, seed=1234)
    for text in texts:
        parse_uri.cache_clear()
        fast, full = outcome(parse_uri, text), outcome(_parse_uri_full, text)
        assert fast == full, text
