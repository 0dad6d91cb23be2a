import re

import pytest

from opensipsg.modules.textops import (
    TextopsModule,
    compile_posix_ere,
    parse_subst,
    posix_ere_to_python,
)
from opensipsg.registry import REGISTRY

from .conftest import INVITE, Fmt, make_ctx


def rx(pattern):
    return compile_posix_ere(pattern)


@pytest.fixture
def mod(core):
    return TextopsModule(core)


def text_of(ctx):
    return ctx.msg.to_bytes().decode()


def test_registered():
    assert REGISTRY.modules["textops"] is TextopsModule
    assert TextopsModule.functions["append_hf"].max_args == 2
    assert TextopsModule.functions["append_hf"].min_args == 1


@pytest.mark.parametrize(
    "posix, subject, matches",
    [
        ("^[[:digit:]]+$", "12345", True),
        ("^[[:digit:]]+$", "12a45", False),
        ("[[:alpha:]][[:alnum:]_]*", "_x1", True),
        ("^[^[:space:]]+$", "abc def", False),
        ("[]a]", "]", True),
        ("[a\\]", "\\", True),
        ("\\d", "d", True),  # glibc: no \d, a literal d
        ("\\d", "5", False),
        ("\\<bob\\>", "sip:bob@x", True),
        ("\\<bob\\>", "bobby", False),
        ("*abc", "*abc", True),
        ("a|+b", "+b", True),
        ("[[:xdigit:]]{4}", "00fF", True),
        ("[[:punct:]]", "-", True),
    ],
)
def test_posix_ere_translation(posix, subject, matches):
    assert bool(re.search(posix_ere_to_python(posix), subject)) is matches


def test_posix_newline_bracket():
    pattern = compile_posix_ere("a[^x]b")
    assert not pattern.search("a\nb")
    assert pattern.search("A-B")  # case-insensitive


def test_posix_bad_class():
    with pytest.raises(re.error):
        posix_ere_to_python("[[:nope:]]")


def test_search(core, mod):
    ctx = make_ctx(core, INVITE)
    assert mod.search(ctx, rx("^call-id: a84b")) == 1
    assert mod.search(ctx, rx("^X-Foo:")) == -1
    assert mod.search_body(ctx, rx("^v=0")) == 1
    assert mod.search_body(ctx, rx("m=audio")) == -1


def test_search_append(core, mod):
    ctx = make_ctx(core, INVITE)
    assert mod.search_append(ctx, rx("Alice"), Fmt(" Smith")) == 1
    assert ctx.msg.get("from") == "Alice Smith <sip:alice@example.com>;tag=1928301774"
    assert mod.search_append_body(ctx, rx("v=0"), Fmt("\r\no=x")) == 1
    assert ctx.msg.body == b"v=0\r\no=x\n"
    assert "Content-Length: 9\r\n" in text_of(ctx)


def test_replace_and_replace_all(core, mod):
    ctx = make_ctx(core, INVITE)
    assert mod.replace(ctx, rx("example\\.com"), Fmt("example.net")) == 1
    text = text_of(ctx)
    assert text.startswith("INVITE sip:bob@example.net SIP/2.0\r\n")
    assert ctx.msg.ruri == "sip:bob@example.net"
    assert text.count("example.com") == 3
    assert mod.replace_all(ctx, rx("example\\.com"), Fmt("x.org")) == 1
    assert "example.com" not in text_of(ctx)
    assert ctx.msg.to.uri.host == "x.org"
    assert mod.replace(ctx, rx("nothing-here"), Fmt("y")) == -1


def test_replace_body_variants(core, mod):
    raw = INVITE.replace("Content-Length: 4\n\nv=0\n", "Content-Length: 0\n\na=1\r\na=2\r\nb=3\r\n")
    ctx = make_ctx(core, raw)
    assert mod.replace_body(ctx, rx("a=[0-9]"), Fmt("c=0")) == 1
    assert ctx.msg.body == b"c=0\r\na=2\r\nb=3\r\n"
    assert mod.replace_body_all(ctx, rx("^[ab]=.*$"), Fmt("z")) == 1
    assert ctx.msg.body == b"c=0\r\nz\r\nz\r\n"
    assert mod.replace_body_atonce(ctx, rx("0..z"), Fmt("-")) == 1
    assert ctx.msg.body == b"c=-\r\nz\r\n"
    assert mod.replace_body(ctx, rx("q"), Fmt("x")) == -1


def test_subst_parse():
    s = parse_subst("/^(sip:)([0-9]+)@(.*)$/\\1+49\\2@\\3/")
    assert s.apply("sip:123@host") == ("sip:+49123@host", 1)
    assert not s.global_
    g = parse_subst("|a|b|gi")
    assert g.apply("AaA") == ("bbb", 3)
    assert parse_subst("/a\\/b/x/").apply("a/b") == ("x", 1)
    with pytest.raises(ValueError):
        parse_subst("/abc/")
    with pytest.raises(ValueError):
        parse_subst("/a/b/q")


def test_subst_on_message(core, mod):
    ctx = make_ctx(core, INVITE)
    assert mod.subst(ctx, "/^(From: )Alice/\\1Carol/s") == 1
    assert ctx.msg.get("from").startswith("Carol <sip:alice")
    assert mod.subst(ctx, "/nomatch/x/") == -1
    assert mod.subst(ctx, "bad") == -1
    assert mod.subst_body(ctx, "/v=0/v=1/") == 1
    assert ctx.msg.body == b"v=1\n"


def test_subst_uri_and_user(core, mod):
    ctx = make_ctx(core, INVITE)
    assert mod.subst_uri(ctx, "/^sip:([a-z]+)@example.com$/sip:\\1@other.net;x=1/i") == 1
    assert ctx.ruri == "sip:bob@other.net;x=1"
    assert ctx.msg.ruri == "sip:bob@example.com"  # the request line is not touched
    assert mod.subst_user(ctx, "/bob/+4912345/") == 1
    assert ctx.ruri == "sip:+4912345@other.net;x=1"
    assert mod.subst_user(ctx, "/.*//") == 1
    assert ctx.ruri == "sip:other.net;x=1"
    assert mod.subst_user(ctx, "/^$/carol/") == 1
    assert ctx.ruri == "sip:carol@other.net;x=1"
    assert mod.subst_uri(ctx, "/^sip:/bad uri /") == -1


def test_append_insert_remove_hf(core, mod):
    ctx = make_ctx(core, INVITE)
    assert mod.append_hf(ctx, Fmt("P-hint: outbound\r\n")) == 1
    assert ctx.msg.headers[-1].raw == "P-hint: outbound"
    assert mod.append_hf(ctx, Fmt("X-A: 1\r\n"), "Call-ID") == 1
    names = [h.name for h in ctx.msg.headers]
    assert names[names.index("call-id") + 1] == "x-a"
    assert mod.append_hf(ctx, Fmt("X-B: 1\r\n"), "X-Missing") == -1
    assert mod.insert_hf(ctx, Fmt("X-First: 1\r\n")) == 1
    assert ctx.msg.headers[0].name == "x-first"
    assert mod.insert_hf(ctx, Fmt("X-Before-To: 1\r\n"), "to") == 1
    names = [h.name for h in ctx.msg.headers]
    assert names.index("x-before-to") + 1 == names.index("to")
    assert mod.is_present_hf(ctx, "P-Hint") == 1
    assert mod.is_present_hf(ctx, "m") == 1  # compact form of Contact
    assert mod.remove_hf(ctx, "p-hint") == 1
    assert mod.remove_hf(ctx, "p-hint") == -1
    assert mod.is_present_hf(ctx, "P-hint") == -1
    out = text_of(ctx)
    assert out.startswith("INVITE sip:bob@example.com SIP/2.0\r\nX-First: 1\r\nVia:")


def test_append_urihf(core, mod):
    ctx = make_ctx(core, INVITE)
    ctx.new_uri = "sip:carol@example.org"
    assert mod.append_urihf(ctx, Fmt("CC-Diversion: "), Fmt("\r\n")) == 1
    assert ctx.msg.get("cc-diversion") == "sip:carol@example.org"


def test_append_to_reply_and_time(core, mod):
    ctx = make_ctx(core, INVITE)
    assert mod.append_to_reply(ctx, Fmt("X-Reason: busy\r\nX-Other: 2\r\n")) == 1
    assert mod.append_time(ctx) == 1
    lines = ctx.extra["reply_headers"]
    assert lines[:2] == ["X-Reason: busy", "X-Other: 2"]
    assert re.match(r"Date: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$", lines[2])


def test_is_method(core, mod):
    ctx = make_ctx(core, INVITE)
    assert mod.is_method(ctx, "INVITE") == 1
    assert mod.is_method(ctx, "register|invite") == 1
    assert mod.is_method(ctx, "BYE|CANCEL") == -1


def test_body_functions(core, mod):
    ctx = make_ctx(core, INVITE)
    assert mod.has_body(ctx) == 1
    assert mod.has_body(ctx, "application/sdp") == 1
    assert mod.has_body(ctx, "text/plain") == -1
    assert mod.strip_body(ctx, "text/plain") == -1
    assert mod.strip_body(ctx) == 1
    assert mod.has_body(ctx) == -1
    assert "Content-Length: 0" in text_of(ctx)
    assert not ctx.msg.has("content-type")
    assert mod.add_body(ctx, Fmt("hello"), Fmt("text/plain")) == 1
    assert ctx.msg.get("content-type") == "text/plain"
    assert "Content-Length: 5\r\n" in text_of(ctx)
    assert text_of(ctx).endswith("\r\n\r\nhello")


MULTIPART = """
MESSAGE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK1
To: <sip:bob@example.com>
From: <sip:alice@example.com>;tag=1
Call-ID: mp1
CSeq: 1 MESSAGE
Content-Type: multipart/mixed;boundary=XyZ

--XyZ\r
Content-Type: text/plain\r
\r
hi\r
--XyZ\r
Content-Type: application/sdp\r
\r
v=0\r
--XyZ--\r
"""


def test_multipart(core, mod):
    ctx = make_ctx(core, MULTIPART)
    assert mod.has_body(ctx, "application/sdp") == 1
    assert mod.has_body(ctx, "image/png") == -1
    assert mod.filter_body(ctx, "application/sdp") == 1
    assert ctx.msg.body == b"v=0"
    assert ctx.msg.get("content-type") == "application/sdp"


def test_is_privacy(core, mod):
    ctx = make_ctx(core, INVITE.replace("Max-Forwards: 70", "Privacy: id; header"))
    assert mod.is_privacy(ctx, "id") == 1
    assert mod.is_privacy(ctx, "header") == 1
    assert mod.is_privacy(ctx, "user") == -1
    assert mod.is_privacy(ctx, "bogus") == -1


def test_script_regexes_of_textops_are_line_sensitive():
    """A regex written in the script for textops is compiled as 1.6's textops fixup does
    (REG_NEWLINE): '^' anchors at every header line, '[^x]' never crosses a line end."""
    from opensipsg.script.compiler import compile_script
    from opensipsg.script.context import RouteContext
    from opensipsg.script.loader import load_modules
    from opensipsg.script.parser import parse_config
    from opensipsg.sip.message import parse
    from tests.modules.conftest import FakeCore

    text = (
        'loadmodule "textops.so"\n'
        "route {\n"
        '    if (search("^Call-ID: ")) $var(a) = 1;\n'
        '    if (search("^Call-ID: [^;]*Max-Forwards")) $var(b) = 1;\n'
        "}\n"
    )
    config = parse_config(text, "t.cfg")
    core = FakeCore()
    core.script_vars = {}
    script = compile_script(config, core, load_modules(config, core))
    raw = (b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK1\r\n"
           b"From: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n"
           b"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
    ctx = RouteContext(core, parse(raw), src_ip="1.2.3.4", src_port=5060)
    script.run("request", "0", ctx)
    assert core.script_vars.get("a") == 1
    assert not core.script_vars.get("b")
