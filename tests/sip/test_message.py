"""SIP message parsing and serialization on bytes."""
from __future__ import annotations

import dataclasses
import inspect
import random
from pathlib import Path

import pytest

from opensipsg.errors import ParseError
from opensipsg.sip.builder import build_ack, build_cancel, build_reply
from opensipsg.sip.message import CSeq, Header, Request, Response, parse
from opensipsg.sip.nameaddr import NameAddr
from opensipsg.sip.uri import URI

DATA = Path(__file__).resolve().parent.parent / "data" / "msgs"


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def test_request_round_trips_byte_for_byte():
    raw = load("invite.sip")
    msg = parse(raw)
    assert isinstance(msg, Request)
    assert msg.method == "INVITE" and msg.ruri == "sip:bob@biloxi.example.com"
    assert msg.to_bytes() == raw


def test_lazy_views():
    msg = parse(load("invite.sip"))
    assert msg.via1.branch == "z9hG4bK776asdhds"
    assert msg.via1.rport == ""
    assert msg.cseq.number == 314159 and msg.cseq.method == "INVITE"
    assert msg.from_.display == "Alice, A" and msg.from_tag == "1928301774"
    assert msg.to_tag is None
    assert msg.get("x-custom") == "odd   spacing kept"
    assert msg.body == b"v=0\n"


def test_compact_forms_and_multiple_vias():
    msg = parse(load("ringing_compact.sip"))
    assert isinstance(msg, Response) and msg.status == 180 and msg.reason == "Ringing"
    assert [v.host for v in msg.vias] == ["127.0.0.1", "pc33.atlanta.example.com"]
    assert msg.call_id == "a84b4c76e66710@pc33.atlanta.example.com"
    assert msg.method == "INVITE"
    removed = msg.remove_first_value("via")
    assert "127.0.0.1" in removed
    out = msg.to_bytes()
    assert b"127.0.0.1" not in out and out.count(b"v: SIP/2.0/UDP") == 1


def test_comma_separated_via_removal_keeps_the_rest():
    raw = load("invite.sip").replace(
        b"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport",
        b"Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKp1, SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKx",
    )
    msg = parse(raw)
    assert len(msg.vias) == 2
    msg.remove_first_value("via")
    assert msg.get("via") == "SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKx"


def test_folded_header_is_unfolded_for_reading_but_kept_for_writing():
    raw = load("invite.sip").replace(b"Max-Forwards: 70\r\n", b"Subject: I know\r\n  you're there\r\nMax-Forwards: 70\r\n")
    msg = parse(raw)
    assert msg.get("subject") == "I know you're there"
    assert msg.to_bytes() == raw


def test_content_length_follows_the_body():
    msg = parse(load("invite.sip"))
    msg.body = b"v=0\r\no=x\r\n"
    assert b"Content-Length: 10\r\n" in msg.to_bytes()


@pytest.mark.parametrize(
    "mutate, status",
    [
        (lambda r: r.replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1), 505),
        (lambda r: r.replace(b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n", b""), 400),
        (lambda r: r.replace(b"CSeq: 314159 INVITE", b"CSeq: 314159 BYE"), 400),
        (lambda r: r.replace(b"CSeq: 314159 INVITE", b"CSeq: abc INVITE"), 400),
        (lambda r: r.replace(b"Content-Length: 4", b"Content-Length: 400"), 400),
        (lambda r: r.replace(b"Max-Forwards: 70", b"Max-Forwards: seventy"), 400),
        (lambda r: r.replace(b"Via: SIP/2.0/UDP pc33", b"Via: SIP/2.0/UDP pc33:99999"), 400),
        (lambda r: r + b"x" * 70000, 513),
        (lambda r: r.replace(b"To: Bob", b"To Bob"), 400),
    ],
)
def test_malformed_requests_raise_parse_error_with_status(mutate, status):
    with pytest.raises(ParseError) as info:
        parse(mutate(load("invite.sip")))
    assert info.value.status == status


def test_reply_copies_headers_and_adds_to_tag():
    msg = parse(load("invite.sip"))
    reply = build_reply(msg, 486, "Busy Here", to_tag="xyz", headers=["Retry-After: 5"])
    data = reply.to_bytes()
    assert data.startswith(b"SIP/2.0 486 Busy Here\r\n")
    assert b"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport\r\n" in data
    assert b"To: Bob <sip:bob@biloxi.example.com>;tag=xyz\r\n" in data
    assert b"Retry-After: 5\r\n" in data and data.endswith(b"Content-Length: 0\r\n\r\n")
    assert parse(data).to_tag == "xyz"
    trying = build_reply(msg, 100, "Trying", to_tag="xyz")
    assert trying.to_tag is None


def test_ack_and_cancel_for_a_branch():
    sent = parse(load("invite.sip"))
    reply = parse(build_reply(sent, 486, "Busy", to_tag="t1").to_bytes())
    ack = build_ack(sent, reply)
    assert ack.method == "ACK" and ack.ruri == sent.ruri
    assert ack.cseq.number == 314159 and ack.cseq.method == "ACK"
    assert ack.to_tag == "t1" and len(ack.vias) == 1
    cancel = build_cancel(sent)
    assert cancel.method == "CANCEL" and cancel.via1.branch == sent.via1.branch
    assert parse(cancel.to_bytes()).cseq.method == "CANCEL"


def _mutations(seed: int, samples: list[bytes], count: int):
    rng = random.Random(seed)
    specials = [b"\r\n", b":", b";", b",", b"<", b">", b"\"", b"\x00", b"\xff", b" ", b"%", b"=", b"\t", b"\n"]
    for _ in range(count):
        data = bytearray(rng.choice(samples))
        for _ in range(rng.randint(1, 6)):
            op = rng.randint(0, 3)
            pos = rng.randrange(len(data) + 1)
            if op == 0 and data:
                data[min(pos, len(data) - 1)] = rng.randrange(256)
            elif op == 1:
                data[pos:pos] = rng.choice(specials)
            elif op == 2:
                del data[pos : pos + rng.randint(1, 20)]
            else:
                data = data[:pos]
        yield bytes(data)


def test_fuzz_parse_either_parses_or_raises_parse_error():
    samples = [load("invite.sip"), load("ringing_compact.sip")]
    parsed = 0
    for data in _mutations(1234, samples, 5000):
        try:
            msg = parse(data)
        except ParseError as exc:
            assert 400 <= exc.status <= 599
            continue
        parsed += 1
        # whatever parses also serializes, and the views either work or raise ParseError
        msg.to_bytes()
        for view in ("vias", "cseq", "from_", "to", "contacts", "routes", "record_routes"):
            try:
                getattr(msg, view)
            except ParseError:
                pass
    assert parsed > 100  # the mutations leave plenty of valid messages


# -- the header index (name -> first position) never goes stale -----------------


def _scan(msg, name):
    """What a lookup must answer, from a plain scan of the header list."""
    from opensipsg.sip.message import normalize_name

    key = normalize_name(name)
    return [h.value for h in msg.headers if h.name == key]


def _assert_index_right(msg):
    from opensipsg.sip.message import normalize_name

    names = {h.name for h in msg.headers} | {"route", "x-absent", "v", "Via", "CONTACT"}
    for name in names:
        values = _scan(msg, name)
        assert msg.get(name) == (values[0] if values else None), name
        assert msg.get_all(name) == values, name
        assert msg.has(name) == bool(values), name
        assert [h.value for _, h in msg.find(name)] == values, name
        assert [msg.headers[i].value for i, _ in msg.find(name)] == values, name
        split = [part for h in msg.headers if h.name == normalize_name(name) for part in h.values()]
        assert msg.get_values(name) == split, name


def test_header_index_follows_every_change():
    msg = parse(load("invite.sip"))
    _assert_index_right(msg)
    msg.add_header("X-Tail", "1")
    _assert_index_right(msg)
    msg.add_header("X-Head", "2", first=True)
    _assert_index_right(msg)
    msg.insert_header(3, "Route", "<sip:p1;lr>")
    _assert_index_right(msg)
    msg.add_raw_header("Route: <sip:p2;lr>, <sip:p3;lr>")
    _assert_index_right(msg)
    msg.add_raw_header("v: SIP/2.0/UDP first.example.com;branch=z9hG4bKf", first=True)
    _assert_index_right(msg)
    assert msg.via1.host == "first.example.com"
    msg.set_header("X-Tail", "changed")
    msg.set_header("X-New", "appended")
    _assert_index_right(msg)
    assert msg.remove_first_value("route") == "<sip:p1;lr>"
    _assert_index_right(msg)
    assert msg.remove_first_value("route") == "<sip:p2;lr>"
    _assert_index_right(msg)
    assert msg.get_values("route") == ["<sip:p3;lr>"]
    assert msg.remove_first_value("via").startswith("SIP/2.0/UDP first")
    _assert_index_right(msg)
    msg.update_via1({"received": "192.0.2.1"})
    _assert_index_right(msg)
    assert msg.via1.received == "192.0.2.1"
    assert msg.remove_headers("x-head") == 1
    assert msg.remove_headers("x-absent") == 0
    _assert_index_right(msg)
    msg.replace_header_at(0, "SIP/2.0/UDP z.example.com;branch=z9hG4bKz")
    _assert_index_right(msg)
    via = msg.vias[0]
    tail = next(h for h in msg.headers if h.name == "x-tail")
    assert msg.remove_header(tail) and not msg.remove_header(tail)  # by identity, once
    _assert_index_right(msg)
    assert msg.vias[0] is via  # other headers' parsed views are kept


def test_header_index_after_direct_list_edits_and_changed():
    # modules (rr, textops, auth) edit msg.headers directly, then call _changed()
    from opensipsg.sip.message import Header

    msg = parse(load("invite.sip"))
    assert msg.get("x-custom") is not None
    msg.headers.insert(0, Header("x-custom", "first", "X-Custom: first"))
    msg._changed()
    _assert_index_right(msg)
    assert msg.get("x-custom") == "first"
    del msg.headers[0]
    msg._changed()
    _assert_index_right(msg)
    msg.headers = [h for h in msg.headers if h.name != "x-custom"]
    msg._changed()
    _assert_index_right(msg)
    assert msg.get("x-custom") is None
    # rr's way: insert/delete directly, then forget only that header's views
    msg.headers.insert(0, Header("record-route", "<sip:p;lr>", "Record-Route: <sip:p;lr>"))
    msg._changed("record-route")
    _assert_index_right(msg)
    assert msg.via1.branch == "z9hG4bK776asdhds"
    del msg.headers[0]
    msg._changed("record-route")
    _assert_index_right(msg)


def test_header_index_on_messages_built_in_code():
    msg = parse(load("invite.sip"))
    reply = build_reply(msg, 180, to_tag="t1", headers=["Contact: <sip:a@b>", "X-A: 1"])
    _assert_index_right(reply)
    assert reply.get("contact") == "<sip:a@b>" and reply.get("to").endswith(";tag=t1")
    copy = msg.copy()
    copy.add_header("X-Copy", "1", first=True)
    _assert_index_right(copy)
    _assert_index_right(msg)
    assert not msg.has("x-copy")


def test_via_fast_path_agrees_with_the_full_parser():
    from opensipsg.sip.message import _parse_via_full, parse_via

    from tests.sip.differential import outcome, text_mutations

    seeds = ["SIP/2.0/UDP 127.0.0.1:5091;branch=z9hG4bK-r1;rport", "SIP/2.0/TCP host.example.com",
             "SIP/2.0/UDP h:65535;received=1.2.3.4", "SIP/2.0/UDP h:65536", "sip/2.0/udp h;x",
             "SIP/2.0/UDP h;", "SIP/2.0/UDP h;;a", 'SIP/2.0/UDP h;a="b;c"', "SIP/2.0/UDP [::1]:5060;x=y"]
    for text in text_mutations(seeds, "SIP/2.0UDP :;=.-_0123456789hx\t\"[]@,", 20000):
        assert outcome(parse_via, text) == outcome(lambda t: _parse_via_full(t.strip()), text), text


def test_header_lines_split_as_at_the_first_colon():
    """The header loop splits at ': ' first: name and value must be those of the first ':'."""
    from opensipsg.sip.message import _is_token, _parse_headers, normalize_name

    from tests.sip.differential import text_mutations

    seeds = ["Via: SIP/2.0/UDP h", "Subject:re: hi", "To : <sip:a@b>", "Max-Forwards:  70 ", "X-A:b: c",
             "l:0", "Call-ID:\tx@y", "CSeq: 1 INVITE", "Foo: ", "Foo:", "Via:: x"]
    for line in text_mutations(seeds, ": \tabVia-", 5000):
        written, sep, value = line.partition(":")
        if not line:
            expected: object = [], {}
        elif line[0] in " \t" or not sep or not written or not _is_token(written.rstrip()):
            expected = "error"  # (a continuation without a header, or a bad line)
        else:
            expected = [(normalize_name(written), value.strip(), line)], {normalize_name(written): 0}
        try:
            headers, index = _parse_headers(["", line], 1)
            got: object = [(h.name, h.value, h.raw) for h in headers], index
        except ParseError:
            got = "error"
        assert got == expected, line


def test_via_params_are_case_insensitive():
    from opensipsg.sip.message import parse_via

    via = parse_via("SIP/2.0/UDP h;BRANCH=z9hG4bKx;RPort;Received=1.2.3.4")
    assert via.branch == "z9hG4bKx" and via.rport == "" and via.received == "1.2.3.4"
    assert via.param("bRaNcH") == "z9hG4bKx" and via.has_param("RPORT") and not via.has_param("maddr")


def test_content_length_is_fixed_and_duplicates_dropped():
    raw = load("invite.sip")
    msg = parse(raw)
    msg.body = b"v=0\r\no=x\r\n"
    msg.add_header("Content-Length", "999")
    out = msg.to_bytes()
    assert out.count(b"Content-Length") == 1 and b"Content-Length: 10\r\n" in out
    assert out.endswith(b"\r\n\r\n" + msg.body)
    msg.remove_headers("content-length")
    assert b"\r\nContent-Length: 10\r\n\r\n" in msg.to_bytes()


def test_top_via_parsed_alone_until_the_others_are_asked_for():
    data = (b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP proxy:5060;branch=z9hG4bKp\r\n"
            b"Via: SIP/2.0/UDP a:5070;branch=z9hG4bKa, SIP/2.0 broken\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n"
            b"From: <sip:a@a>;tag=1\r\nTo: <sip:b@b>\r\nContent-Length: 0\r\n\r\n")
    reply = parse(data)
    assert reply.via1.branch == "z9hG4bKp"  # a broken lower Via does not fail the message
    with pytest.raises(ParseError):
        reply.vias
    assert reply.via1.host == "proxy"
    reply.remove_first_value("via")
    assert reply.via1.branch == "z9hG4bKa"  # the cached top Via follows the change
    with pytest.raises(ParseError):
        parse(data.replace(b"SIP/2.0/UDP proxy", b"SIP/2.0/UDP bad host"))


def test_bytes_without_the_top_via_leave_the_message_alone():
    data = (b"SIP/2.0 200 OK\r\nv: SIP/2.0/UDP proxy;branch=z9hG4bKp , SIP/2.0/UDP a;branch=z9hG4bKa\r\n"
            b"Via: SIP/2.0/UDP b;branch=z9hG4bKb\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n"
            b"From: <sip:a@a>;tag=1\r\nTo: <sip:b@b>;tag=2\r\nContent-Length: 0\r\n\r\n")
    reply = parse(data)
    copy = reply.copy()
    copy.remove_first_value("via")
    assert reply.to_bytes_without_first_value("via") == copy.to_bytes()
    assert reply.to_bytes() == data
    single = parse(data.replace(b" , SIP/2.0/UDP a;branch=z9hG4bKa", b""))
    copy = single.copy()
    copy.remove_first_value("via")
    assert single.to_bytes_without_first_value("via") == copy.to_bytes()
    assert b"proxy" not in copy.to_bytes()


@pytest.mark.parametrize("text", [
    "SIP/2.0/UDP a.example.com:5060;branch=z9hG4bK1;rport;received=1.2.3.4",
    "SIP/2.0/tcp 10.0.0.1;branch=z9hG4bK-x;x=",
    "SIP/2.0/UDP h:5060",
    "SIP/2.0/UDP h;Branch=A;maddr=1.2.3.4;ttl=16",
])
def test_common_via_fast_path_matches_the_full_parser(text):
    from opensipsg.sip.message import _parse_via_full, parse_via
    assert parse_via(text) == _parse_via_full(text)


# -- the hand-written constructors --------------------------------------------------


@pytest.mark.parametrize(
    "cls, values",
    [
        (NameAddr, ["Bob", "sip:b@x", (("tag", "1"),), False, "r"]),
        (URI, ["sips", "u", "pw", "h", 5061, (("lr", None),), (("a", "b"),), "x"]),
        (CSeq, [7, "INVITE"]),
    ],
)
def test_init_matches_the_dataclass_fields(cls: type, values: list) -> None:
    """NameAddr, URI and CSeq have a hand-written __init__ (fast frozen init):
    the same names, order and defaults as the fields, and still frozen."""
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    fields = dataclasses.fields(cls)
    assert [p.name for p in parameters] == [f.name for f in fields]
    no_default = inspect.Parameter.empty
    assert [p.default for p in parameters] == [
        no_default if f.default is dataclasses.MISSING else f.default for f in fields
    ]
    made = cls(*values)
    assert [getattr(made, f.name) for f in fields] == values
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(made, fields[0].name, "other")


def _slot_values(obj: object) -> dict[str, object]:
    names = [name for klass in type(obj).__mro__ for name in getattr(klass, "__slots__", ())]
    return {name: getattr(obj, name) for name in names}


def test_parser_builds_messages_and_headers_as_their_constructors_do() -> None:
    """The parser sets Request/Response/Header slots itself (no __init__ frame):
    every slot is set, to what the constructor would give."""
    from opensipsg.sip.message import Header
    request = parse(b"INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
                    b"From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n"
                    b"Content-Length: 0\r\n\r\n")
    made = Request("INVITE", "sip:b@x", request.headers, request.body)
    made._index, made._cache, made._via1, made._cseq = request._index, request._cache, request._via1, request._cseq  # (the views parsed)
    assert _slot_values(request) == _slot_values(made)
    header = request.headers[0]
    assert _slot_values(header) == _slot_values(Header(header.name, header.value, header.raw))
    response = parse(b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
                     b"From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n")
    made = Response(180, "Ringing", response.headers, response.body)
    made._index, made._cache, made._via1, made._cseq = response._index, response._cache, response._via1, response._cseq
    assert _slot_values(response) == _slot_values(made)


def _reference_head_text(msg) -> str:
    """head_text as a plain loop over the headers (the specification of the fast one)."""
    lines, length, seen = [msg.first_line()], len(msg.body), False
    for header in msg.headers:
        if header.name == "content-length":
            if seen:
                continue
            seen = True
            if header.value != str(length):
                lines.append(f"{header.raw.partition(':')[0].strip()}: {length}")
                continue
        lines.append(header.raw)
    if not seen:
        lines.append(f"Content-Length: {length}")
    return "\r\n".join(lines + ["", ""])


@pytest.mark.parametrize("places", [(), (0,), (2,), (-1,), (0, -1), (1, 3), (0, 2, -1)])
@pytest.mark.parametrize("body", [b"", b"v=0\r\n"])
def test_head_text_matches_a_plain_loop(places, body):
    msg = parse(load("invite.sip"))
    msg.remove_headers("content-length")
    for n, place in enumerate(places):
        msg.insert_header(len(msg.headers) if place == -1 else place, "l" if n == 1 else "Content-Length", str(5 + n))
    msg.body = body
    assert msg.head_text() == _reference_head_text(msg)
    assert msg.to_bytes() == _reference_head_text(msg).encode() + body


@pytest.mark.parametrize("name", ["Via", "From", "To", "Call-ID", "CSeq"])
@pytest.mark.parametrize("start", [b"INVITE sip:b@b SIP/2.0", b"SIP/2.0 200 OK"])
def test_a_missing_required_header_is_named(name, start):
    lines = [b"Via: SIP/2.0/UDP h;branch=z9hG4bKx", b"From: <sip:a@a>;tag=1", b"To: <sip:b@b>",
             b"Call-ID: x", b"CSeq: 1 INVITE", b"Content-Length: 0"]
    kept = [line for line in lines if not line.startswith(name.encode() + b":")]
    with pytest.raises(ParseError, match=f"Missing {name}"):
        parse(b"\r\n".join([start, *kept, b"", b""]))
    assert parse(b"\r\n".join([start, *lines, b"", b""])).via1.branch == "z9hG4bKx"


@pytest.mark.parametrize("name, value", [("Route", " <sip:a;lr> "), ("Route", "<sip:a;lr>, <sip:b;lr>"), ("Route", " "),
                                         ("Subject", " hi "), ("Subject", "a, b"), ("Contact", "")])
def test_remove_first_value_and_get_values_as_values_split_them(name, value):
    msg = parse(load("invite.sip"))
    msg.add_header(name, value)
    expected = [v for h in msg.headers if h.name == name.lower() for v in h.values()]
    assert msg.get_values(name) == expected
    values = msg.headers[msg._first(name.lower())[1]].values()
    assert msg.remove_first_value(name) == (values[0] if values else None)


_TWO_VIAS = (b"INVITE sip:b@b SIP/2.0\r\nVia: SIP/2.0/UDP top;branch=z9hG4bKtop\r\n"
             b"Via: SIP/2.0/UDP low;branch=z9hG4bKlow\r\nFrom: <sip:a@a>;tag=1\r\nTo: <sip:b@b>\r\n"
             b"Call-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")


@pytest.mark.parametrize("change, top", [
    (lambda m: m.remove_first_value("via"), "low"),
    (lambda m: m.add_header("Via", "SIP/2.0/UDP new;branch=z9hG4bKn", first=True), "new"),
    (lambda m: m.add_raw_header("v: SIP/2.0/UDP new;branch=z9hG4bKn", first=True), "new"),
    (lambda m: m.insert_header(0, "Via", "SIP/2.0/UDP new;branch=z9hG4bKn"), "new"),
    (lambda m: m.set_header("via", "SIP/2.0/UDP new;branch=z9hG4bKn"), "new"),
    (lambda m: m.replace_header_at(m._first("via")[1], "SIP/2.0/UDP new;branch=z9hG4bKn"), "new"),
    (lambda m: m.update_via1({"received": "1.2.3.4"}), "top"),
    (lambda m: (m.headers.pop(m._first("via")[1]), m._changed("via")), "low"),
    (lambda m: (m.headers.pop(m._first("via")[1]), m._changed()), "low"),
    (lambda m: m.remove_header(m.headers[m._first("via")[1]]), "low"),
    (lambda m: (m.remove_headers("via"), m.add_header("Via", "SIP/2.0/UDP new;branch=z9hG4bKn")), "new"),
])
def test_the_top_via_read_follows_every_change_of_the_via_headers(change, top):
    msg = parse(_TWO_VIAS)
    assert msg.via1.host == "top"  # cached at parse time
    change(msg)
    assert msg.via1.host == top and msg.via1 == msg.vias[0]
    assert msg.copy().via1 == msg.via1
    if top == "top":
        assert msg.via1.received == "1.2.3.4"


_CSEQ_TO = (b"INVITE sip:b@b SIP/2.0\r\nVia: SIP/2.0/UDP top;branch=z9hG4bKtop\r\nFrom: <sip:a@a>;tag=1\r\n"
            b"To: <sip:b@b>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")


@pytest.mark.parametrize("name, value, check", [
    ("CSeq", "2 INVITE", lambda m: m.cseq.number == 2),
    ("To", "<sip:c@c>;tag=9", lambda m: m.to.tag == "9" and m.to_tag == "9"),
])
@pytest.mark.parametrize("change", [
    lambda m, n, v: m.set_header(n, v),
    lambda m, n, v: m.replace_header_at(m._first(n.lower())[1], v),
    lambda m, n, v: (m.remove_headers(n), m.add_header(n, v)),
    lambda m, n, v: m.add_header(n, v, first=True),
    lambda m, n, v: m.add_raw_header(f"{n}: {v}", first=True),
    lambda m, n, v: m.insert_header(0, n, v),
    lambda m, n, v: (m.remove_first_value(n), m.add_header(n, v)),
    lambda m, n, v: (m.headers.pop(m._first(n.lower())[1]), m._changed(n.lower()), m.add_header(n, v)),
    lambda m, n, v: (m.headers.pop(m._first(n.lower())[1]), m._changed(), m.add_header(n, v)),
    lambda m, n, v: (m.remove_header(m.headers[m._first(n.lower())[1]]), m.add_header(n, v)),
])
def test_the_cseq_and_to_read_follow_every_change_of_their_headers(name, value, check, change):
    msg = parse(_CSEQ_TO)
    assert msg.cseq.number == 1 and msg.to.tag is None  # kept in their slots from here on
    change(msg, name, value)
    assert check(msg)
    assert check(msg.copy())


@pytest.mark.parametrize("body", [b"", b"v=0\r\n"])
def test_to_bytes_with_a_top_line_is_the_copy_with_that_header_first(body):
    msg = parse(load("invite.sip"))
    msg.body = body
    copy = msg.copy()
    copy.ruri = "sip:next@example.net"
    copy.add_header("Via", "SIP/2.0/UDP us;branch=z9hG4bKus", first=True)
    assert msg.to_bytes_with("sip:next@example.net", "Via: SIP/2.0/UDP us;branch=z9hG4bKus") == copy.to_bytes()


def test_to_bytes_with_headers_is_the_copy_with_those_headers_and_uri():
    msg = parse(load("invite.sip"))
    copy = msg.copy()
    copy.ruri = "sip:next@example.net"
    copy.add_header("Route", "<sip:edge.example.net;lr>", first=True)
    headers = [Header.make("route", "<sip:edge.example.net;lr>"), *msg.headers]
    assert msg.to_bytes_with_headers(headers, "sip:next@example.net") == copy.to_bytes()
