"""opensipsg.sip.nameaddr: name-addr / addr-spec, parameter lists, list splitting."""
from __future__ import annotations

import pytest

from opensipsg.errors import ParseError
from opensipsg.sip.nameaddr import (
    NameAddr,
    parse_name_addr,
    parse_params,
    quote_string,
    split_header_values,
    unquote_string,
)


# -- parse_name_addr -------------------------------------------------------------


def test_quoted_display_name() -> None:
    na = parse_name_addr('"Bob" <sip:bob@biloxi.com>;tag=a6c85cf')
    assert na.display == "Bob"
    assert na.uri_text == "sip:bob@biloxi.com"
    assert na.params == (("tag", "a6c85cf"),)
    assert na.tag == "a6c85cf"
    assert na.angle
    assert na.uri.user == "bob"
    assert str(na) == '"Bob" <sip:bob@biloxi.com>;tag=a6c85cf'


def test_token_display_name() -> None:
    na = parse_name_addr("Bob Smith <sip:bob@biloxi.com>")
    assert na.display == "Bob Smith"
    assert na.tag is None


def test_angle_only() -> None:
    na = parse_name_addr("<sip:bob@biloxi.com;lr>")
    assert na.display is None
    assert na.uri_text == "sip:bob@biloxi.com;lr"
    assert na.uri.param("lr") == ""
    assert na.params == ()


def test_uri_params_stay_inside_angle_brackets() -> None:
    na = parse_name_addr("<sip:bob@x;transport=tcp>;expires=60;q=0.7")
    assert na.uri.transport == "tcp"
    assert na.param("expires") == "60"
    assert na.param("Q") == "0.7"
    assert na.param("transport") is None


def test_addr_spec_params_belong_to_header() -> None:
    # RFC 3261 20.10: without <>, ;params are header parameters
    na = parse_name_addr("sip:bob@biloxi.com;tag=1928301774;lr")
    assert na.uri_text == "sip:bob@biloxi.com"
    assert na.params == (("tag", "1928301774"), ("lr", None))
    assert not na.angle
    assert na.tag == "1928301774"


def test_addr_spec_with_semicolon_in_user_part() -> None:
    na = parse_name_addr("sip:user;par=x@example.com;tag=5")
    assert na.uri_text == "sip:user;par=x@example.com"
    assert na.tag == "5"


def test_addr_spec_with_question_mark_is_rejected() -> None:
    with pytest.raises(ParseError):
        parse_name_addr("sip:bob@x?subject=hi")


def test_escaped_quotes_in_display() -> None:
    na = parse_name_addr(r'"Bob \"the\" B \\ <x>" <sip:bob@x>')
    assert na.display == r"Bob \"the\" B \\ <x>"
    assert na.display_unescaped == 'Bob "the" B \\ <x>'


def test_empty_display_and_no_space() -> None:
    na = parse_name_addr('""<sip:a@b>')
    assert na.display == ""
    assert na.uri_text == "sip:a@b"


def test_whitespace_is_tolerated() -> None:
    na = parse_name_addr('  "A"   < sip:a@b >  ; tag = x ; lr  ')
    assert na.uri_text == "sip:a@b"
    assert na.params == (("tag", "x"), ("lr", None))


def test_star_contact() -> None:
    na = parse_name_addr(" * ")
    assert na.uri_text == "*"
    assert na.is_star
    assert na.display is None
    assert str(na) == "*"


def test_non_sip_uri_is_kept_and_fails_only_when_parsed() -> None:
    na = parse_name_addr("<urn:service:sos>")
    assert na.uri_text == "urn:service:sos"
    with pytest.raises(ParseError) as info:
        _ = na.uri
    assert info.value.status == 416


def test_quoted_param_value() -> None:
    na = parse_name_addr('<sip:a@b>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1')
    assert na.param("+sip.instance") == '"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"'
    assert na.param("reg-id") == "1"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "bob",
        '"Bob <sip:bob@x>',
        '"Bob" sip:bob@x',
        "Bob <sip:bob@x",
        "<sip:bob@x> junk",
        "<sip:bob@x>;",
        "<sip:bob@x>;;tag=1",
        "<sip:bob@x>;tag=a b",
        "<bob@x>",
        "<sip:bo b@x>",
        "<>",
        'Bo"b <sip:bob@x>',
        "*;q=1",
        "sip:bob@x;=1",
    ],
)
def test_garbage(text: str) -> None:
    with pytest.raises(ParseError):
        parse_name_addr(text)


def test_rebuild_after_change() -> None:
    na = parse_name_addr("sip:bob@x;tag=1")
    assert str(na.with_param("tag", "2")) == "sip:bob@x;tag=2"
    assert str(na.with_param("expires", "0")) == "sip:bob@x;tag=1;expires=0"
    assert str(na.without_param("tag")) == "sip:bob@x"
    assert na.without_param("nothing") is na
    assert str(na.with_display('Bob "B"')) == r'"Bob \"B\"" <sip:bob@x>;tag=1'
    assert str(na.replace(angle=True)) == "<sip:bob@x>;tag=1"
    built = NameAddr("Alice", "sip:alice@a", (("tag", "9"),))
    assert str(built) == '"Alice" <sip:alice@a>;tag=9'
    assert parse_name_addr(str(built)) == built


def test_raw_not_compared() -> None:
    assert parse_name_addr("<sip:a@b>;tag=1") == parse_name_addr("<sip:a@b> ; tag=1")


# -- parse_params ------------------------------------------------------------------


def test_parse_params_basic() -> None:
    assert parse_params(';a=b;c;d="x;y"') == (("a", "b"), ("c", None), ("d", '"x;y"'))
    assert parse_params('a=b;c;d="x;y"') == (("a", "b"), ("c", None), ("d", '"x;y"'))
    assert parse_params("") == ()
    assert parse_params("   ") == ()


def test_parse_params_values() -> None:
    assert parse_params("received=[2001:db8::1];rport") == (("received", "[2001:db8::1]"), ("rport", None))
    assert parse_params("branch=z9hG4bK776asdhds ; ttl = 1") == (("branch", "z9hG4bK776asdhds"), ("ttl", "1"))
    assert parse_params("tag=") == (("tag", ""),)
    assert parse_params(r'x="a\"b;c";y=1') == (("x", r'"a\"b;c"'), ("y", "1"))


@pytest.mark.parametrize(
    "text",
    [";", ";;", "a=b;", ";=b", "a b=c", 'a="unterminated', 'a="x"junk', "a=b c", "a=<x>", "a=b,c"],
)
def test_parse_params_garbage(text: str) -> None:
    with pytest.raises(ParseError):
        parse_params(text)


# -- split_header_values -----------------------------------------------------------


def test_split_simple() -> None:
    assert split_header_values("a, b,c") == ["a", "b", "c"]
    assert split_header_values("single") == ["single"]
    assert split_header_values("") == []
    assert split_header_values(" , ,") == []


def test_split_respects_quotes_and_angles() -> None:
    text = '"Doe, John" <sip:john@x>;q=0.5, <sip:a@b;x=1,2>, "esc \\" , still" <sip:c@d>,sip:e@f'
    assert split_header_values(text) == [
        '"Doe, John" <sip:john@x>;q=0.5',
        "<sip:a@b;x=1,2>",
        '"esc \\" , still" <sip:c@d>',
        "sip:e@f",
    ]


def test_split_quoted_param_value_with_comma() -> None:
    assert split_header_values('<sip:a@b>;p="1,2", <sip:c@d>') == ['<sip:a@b>;p="1,2"', "<sip:c@d>"]


def test_split_quote_inside_angle_is_literal() -> None:
    assert split_header_values('<sip:a"@b>, <sip:c@d>') == ['<sip:a"@b>', "<sip:c@d>"]


def test_split_unterminated_runs_to_end() -> None:
    assert split_header_values('"a, b') == ['"a, b']
    assert split_header_values("<sip:a, b") == ["<sip:a, b"]


def test_quote_helpers() -> None:
    assert quote_string('a"b\\c') == '"a\\"b\\\\c"'
    assert unquote_string(quote_string('a"b\\c')) == 'a"b\\c'
    assert unquote_string("plain") == "plain"


# -- fast paths for the common shapes agree with the full parsers ----------------


def test_params_fast_path_agrees_with_the_full_parser():
    from opensipsg.sip.nameaddr import _parse_params_full, parse_params

    from tests.sip.differential import outcome, text_mutations

    seeds = [";tag=r1", "branch=z9hG4bK-1;rport", ";a;b=;c==d", "a=1.2.3.4:5;lr", ';q="x;y"',
             "expires=3600", ";+sip.instance=<urn:x>", " ;a=b ", ";", ""]
    alphabet = ";=,\"<>\\ \t\r\nab19.-_!%*+`'~:[]\u00a0\u00e9"
    for text in text_mutations(seeds, alphabet, 20000, seed=7):
        assert outcome(parse_params, text) == outcome(_parse_params_full, text), repr(text)


def test_name_addr_fast_path_agrees_with_the_full_parser():
    from opensipsg.sip.nameaddr import _parse_name_addr_full, parse_name_addr

    from tests.sip.differential import outcome, text_mutations

    seeds = ["<sip:u000200@127.0.0.1:5091;transport=udp>;expires=3600", "<sip:a@b>;tag=1", "<sip:a@b>",
             "<sip:a@b> ;tag=1", "<tel:+1-2>", "<sip:a@b>x", "< sip:a@b >", '"A" <sip:a@b>', "sip:a@b;tag=2",
             "<sip:a@b?h=1&x=2>;lr", "<1sip:a>", "<sip:a@b>>;x"]
    alphabet = "<>;=\"' \t\u00a0sip:@ab1.,?&"

    def full(text):
        s = text.strip()
        return parse_name_addr(text) if not s or s == "*" else _parse_name_addr_full(s)

    for text in text_mutations(seeds, alphabet, 20000, seed=8):
        assert outcome(parse_name_addr, text) == outcome(full, text), repr(text)


