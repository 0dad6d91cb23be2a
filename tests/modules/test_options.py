import pytest

from opensipsg.modules.options import OptionsModule
from opensipsg.registry import REGISTRY

from .conftest import INVITE, make_ctx

OPTIONS = """
OPTIONS sip:proxy.example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKopt
Max-Forwards: 70
To: <sip:proxy.example.com>
From: <sip:alice@example.com>;tag=7
Call-ID: opt-1
CSeq: 1 OPTIONS
Content-Length: 0

"""


@pytest.fixture
def mod(core):
    return OptionsModule(core)


def test_registered():
    assert REGISTRY.modules["options"] is OptionsModule


def test_options_reply(core, mod):
    ctx = make_ctx(core, OPTIONS)
    assert mod.options_reply(ctx) == 0
    reply = core.last_reply
    assert (reply.status, reply.reason) == (200, "OK")
    assert reply.headers == ["Accept: */*", "Accept-Encoding: ", "Accept-Language: en", "Supported: "]


def test_options_reply_params(core, mod):
    mod.set_param("support", "path, timer")
    mod.set_param("accept", "application/sdp")
    assert mod.options_reply(make_ctx(core, OPTIONS)) == 0
    assert core.last_reply.header("Supported") == "path, timer"
    assert core.last_reply.header("Accept") == "application/sdp"


def test_options_reply_refuses(core, mod):
    assert mod.options_reply(make_ctx(core, INVITE)) == -1
    assert mod.options_reply(make_ctx(core, OPTIONS.replace("OPTIONS sip:proxy", "OPTIONS sip:bob@proxy"))) == -1
    assert core.replies == []
    core.reply_result = -1
    assert mod.options_reply(make_ctx(core, OPTIONS)) == -1
