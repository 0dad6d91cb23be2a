import pytest

from opensipsg.modules.rr import RrModule
from opensipsg.modules.textops import compile_posix_ere
from opensipsg.registry import REGISTRY

from .conftest import INVITE, FakeCore, Fmt, make_ctx


@pytest.fixture
def mod(core):
    return RrModule(core)


def in_dialog(routes, ruri="sip:bob@192.0.2.20:5060", to_tag=";tag=314", from_tag="1928301774", method="BYE"):
    route_lines = "".join(f"Route: {r}\n" for r in routes)
    return f"""
{method} {ruri} SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKnashds7
Max-Forwards: 70
{route_lines}To: Bob <sip:bob@example.com>{to_tag}
From: Alice <sip:alice@example.com>;tag={from_tag}
Call-ID: a84b4c76e66710@pc33.example.com
CSeq: 231 {method}
Content-Length: 0

"""


def test_registered():
    assert REGISTRY.modules["rr"] is RrModule
    assert "rr_params" in REGISTRY.pseudo_variables


def test_record_route_default(core, mod):
    ctx = make_ctx(core, INVITE)
    assert mod.record_route(ctx) == 1
    assert ctx.msg.get("record-route") == "<sip:10.0.0.1:5060;lr;ftag=1928301774>"
    assert ctx.msg.headers[0].raw == "Record-Route: <sip:10.0.0.1:5060;lr;ftag=1928301774>"


def test_record_route_stock_params_and_tcp():
    core = FakeCore(local=("proxy.example.com", 5060, "tcp"))
    mod = RrModule(core)
    mod.set_param("enable_full_lr", 1)
    mod.set_param("append_fromtag", 0)
    ctx = make_ctx(core, INVITE.replace("Contact:", "Record-Route: <sip:upstream.example.net;lr>\nContact:"))
    assert mod.record_route(ctx, Fmt(";nat=yes")) == 1
    assert ctx.msg.get_values("record-route") == [
        "<sip:proxy.example.com:5060;transport=tcp;lr=on;nat=yes>",
        "<sip:upstream.example.net;lr>",
    ]


def test_add_rr_param_before_and_after(core, mod):
    ctx = make_ctx(core, INVITE)
    assert mod.add_rr_param(ctx, Fmt(";a=1")) == 1
    assert mod.record_route(ctx) == 1
    assert mod.add_rr_param(ctx, Fmt(";b=2")) == 1
    assert ctx.msg.get("record-route") == "<sip:10.0.0.1:5060;lr;ftag=1928301774;a=1;b=2>"
    assert ctx.msg.to_bytes().count(b"Record-Route:") == 1


def test_record_route_preset_and_username(core, mod):
    mod.set_param("add_username", 1)
    ctx = make_ctx(core, INVITE)
    assert mod.record_route_preset(ctx, Fmt("1.2.3.4:5090;foo=bar")) == 1
    assert ctx.msg.get("record-route") == "<sip:bob@1.2.3.4:5090;foo=bar;ftag=1928301774;lr>"


def test_loose_route_no_route(core, mod):
    ctx = make_ctx(core, INVITE)
    assert mod.loose_route(ctx) == -1


def test_loose_route_in_dialog_removes_own_and_sets_du(core, mod):
    ctx = make_ctx(core, in_dialog(["<sip:10.0.0.1:5060;lr;ftag=1928301774>", "<sip:p2.example.net;lr>"]))
    assert mod.loose_route(ctx) == 1
    assert ctx.dst_uri == "sip:p2.example.net;lr"
    assert ctx.ruri == "sip:bob@192.0.2.20:5060"
    assert ctx.msg.get_values("route") == ["<sip:p2.example.net;lr>"]
    assert mod.check_route_param(ctx, compile_posix_ere("ftag=1928")) == 1
    assert mod.check_route_param(ctx, compile_posix_ere("^;lr")) == 1
    assert mod.check_route_param(ctx, compile_posix_ere("nat=yes")) == -1
    assert mod.is_direction(ctx, "downstream") == 1
    assert mod.is_direction(ctx, "upstream") == -1
    assert RrModule.pseudo_variables[0].getter(ctx, None) == ";lr;ftag=1928301774"


def test_loose_route_only_own_route_in_dialog(core, mod):
    ctx = make_ctx(core, in_dialog(["<sip:10.0.0.1;lr;ftag=other>"]))
    assert mod.loose_route(ctx) == 1
    assert not ctx.msg.has("route")
    assert ctx.dst_uri is None
    assert mod.is_direction(ctx, "upstream") == 1


def test_loose_route_initial_with_only_our_route_is_false(core, mod):
    ctx = make_ctx(core, in_dialog(["<sip:proxy.example.com;lr>"], to_tag="", method="INVITE"))
    assert mod.loose_route(ctx) == -1
    assert not ctx.msg.has("route")
    assert b"Route:" not in ctx.msg.to_bytes()


def test_loose_route_preloaded_foreign_route(core, mod):
    ctx = make_ctx(core, in_dialog(["<sip:other.example.net;lr>"], to_tag="", method="INVITE"))
    assert mod.loose_route(ctx) == 1
    assert ctx.dst_uri == "sip:other.example.net;lr"
    assert ctx.msg.get_values("route") == ["<sip:other.example.net;lr>"]


def test_loose_route_removes_all_top_own_entries_in_one_header(core, mod):
    ctx = make_ctx(
        core,
        in_dialog(["<sip:10.0.0.1;r2=on;lr>, <sip:203.0.113.1;r2=on;lr>, <sip:p2.example.net;lr>"]),
    )
    assert mod.loose_route(ctx) == 1
    assert ctx.msg.get_values("route") == ["<sip:p2.example.net;lr>"]
    assert ctx.dst_uri == "sip:p2.example.net;lr"


def test_loose_route_next_hop_strict(core, mod):
    ctx = make_ctx(core, in_dialog(["<sip:10.0.0.1;lr>", "<sip:strict.example.net>", "<sip:p3.example.net;lr>"]))
    assert mod.loose_route(ctx) == 1
    assert ctx.ruri == "sip:strict.example.net"
    assert ctx.dst_uri is None
    assert ctx.msg.get_values("route") == ["<sip:p3.example.net;lr>", "<sip:bob@192.0.2.20:5060>"]


def test_loose_route_maddr(core, mod):
    ctx = make_ctx(core, in_dialog(["<sip:p2.example.net:5070;maddr=192.0.2.99;lr>"]))
    assert mod.loose_route(ctx) == 1
    assert ctx.dst_uri == "sip:192.0.2.99:5070"


def test_loose_route_after_strict_router(core, mod):
    # a strict router put our RR URI into the R-URI; the remote target is the last Route
    ctx = make_ctx(
        core,
        in_dialog(
            ["<sip:p2.example.net;lr>", "<sip:bob@192.0.2.20:5060>"],
            ruri="sip:10.0.0.1:5060;lr;ftag=1928301774",
        ),
    )
    assert mod.loose_route(ctx) == 1
    assert ctx.ruri == "sip:bob@192.0.2.20:5060"
    assert ctx.dst_uri == "sip:p2.example.net;lr"
    assert ctx.msg.get_values("route") == ["<sip:p2.example.net;lr>"]
    assert mod.check_route_param(ctx, compile_posix_ere("ftag=1928301774")) == 1


def test_loose_route_after_strict_router_next_strict(core, mod):
    ctx = make_ctx(
        core,
        in_dialog(["<sip:strict2.example.net>", "<sip:bob@192.0.2.20>"], ruri="sip:10.0.0.1;lr"),
    )
    assert mod.loose_route(ctx) == 1
    assert ctx.ruri == "sip:strict2.example.net"
    assert ctx.msg.get_values("route") == ["<sip:bob@192.0.2.20>"]


def test_loose_route_bad_route(core, mod):
    ctx = make_ctx(core, in_dialog(["<http://x>"]))
    assert mod.loose_route(ctx) == -1


def test_check_route_param_without_loose_route(core, mod):
    ctx = make_ctx(core, INVITE)
    assert mod.check_route_param(ctx, compile_posix_ere("x")) == -1
    assert mod.is_direction(ctx, "downstream") == 1


def test_record_route_address_kept_per_listener():
    # the listener's address is kept between requests; an advertised address set by the
    # script for one request, or another listener, is not served from it
    from opensipsg.core import Listener

    class Core(FakeCore):
        def local_address(self, ctx):
            listener = ctx.listener
            return (ctx.extra.get("advertised_address") or listener.advertised_host,
                    ctx.extra.get("advertised_port") or listener.advertised_port, listener.proto)

    core = Core()
    mod = RrModule(core)
    mod.set_param("append_fromtag", 0)
    one = Listener("udp", "10.0.0.1", 5060, "10.0.0.1", 5060)
    two = Listener("tcp", "10.0.0.2", 5070, "pub.example.com", 5080)

    def rr(listener, **extra):
        ctx = make_ctx(core, INVITE, listener=listener)
        ctx.extra.update(extra)
        assert mod.record_route(ctx) == 1
        return ctx.msg.get("record-route")

    assert rr(one) == "<sip:10.0.0.1:5060;lr>"
    assert rr(one, advertised_address="198.51.100.7") == "<sip:198.51.100.7:5060;lr>"
    assert rr(one, advertised_port=5999) == "<sip:10.0.0.1:5999;lr>"
    assert rr(one) == "<sip:10.0.0.1:5060;lr>"
    assert rr(two) == "<sip:pub.example.com:5080;transport=tcp;lr>"
    assert rr(one) == "<sip:10.0.0.1:5060;lr>"
