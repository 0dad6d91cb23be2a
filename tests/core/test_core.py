"""The Core without sockets: messages in through receive(), datagrams out through a
recording transport."""
from __future__ import annotations

from opensipsg.core import Core
from opensipsg.script.parser import parse_config
from opensipsg.sip.builder import build_ack
from opensipsg.sip.message import parse
from tests.recording import Recorder

CFG = """
listen=udp:127.0.0.1:5999
loadmodule "sl.so"
route {
    xlog("L_INFO", "script saw $rm\\n");
    sl_send_reply("486", "Busy Here");
}
"""

INVITE = (b"INVITE sip:bob@127.0.0.1:5999 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\n"
          b"Max-Forwards: 70\r\nFrom: \"A\" <sip:a@127.0.0.1>;tag=f1\r\nTo: <sip:bob@127.0.0.1>\r\n"
          b"Call-ID: c1@127.0.0.1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")


def make_core():
    core = Core(parse_config(CFG, "t.cfg"))
    recorder = Recorder()
    for listener in core.listeners:
        core.transports[listener.name] = recorder
    return core, recorder


def test_ack_to_a_stateless_negative_reply_is_absorbed():
    core, recorder = make_core()
    listener = core.listeners[0]
    core.receive(INVITE, "127.0.0.1", 5070, listener, None)
    reply = parse(recorder.sent[-1][0])
    assert reply.status == 486 and reply.to_tag
    ack = build_ack(parse(INVITE), reply)
    core.receive(ack.to_bytes(), "127.0.0.1", 5070, listener, None)
    assert len(recorder.sent) == 1  # nothing answered the ACK
    assert core.stats.get("sl:received_ACKs") == 1
    # the same INVITE retransmitted gets the very same To-tag (a stateless proxy has no memory)
    core.receive(INVITE, "127.0.0.1", 5070, listener, None)
    assert parse(recorder.sent[-1][0]).to_tag == reply.to_tag


def test_ack_with_another_tag_goes_through_the_script():
    core, recorder = make_core()
    listener = core.listeners[0]
    core.receive(INVITE, "127.0.0.1", 5070, listener, None)
    reply = parse(recorder.sent[-1][0])
    foreign = build_ack(parse(INVITE), reply).to_bytes().replace(reply.to_tag.encode(), b"someoneelse")
    core.receive(foreign, "127.0.0.1", 5070, listener, None)
    assert core.stats.get("sl:received_ACKs") in (None, 0)


def test_resolve_keeps_ip_literal_next_hops_and_looks_names_up_each_time(monkeypatch):
    import socket

    import pytest

    from opensipsg.core import Destination
    from opensipsg.errors import ParseError

    core, _ = make_core()
    first = core.resolve("sip:bob@127.0.0.2:5070;transport=tcp")
    assert first == Destination("tcp", "127.0.0.2", 5070)
    assert core.resolve("sip:bob@127.0.0.2:5070;transport=tcp") is first
    assert core.resolve("sips:[::1]") == Destination("udp", "::1", 5061)
    looked_up = []
    monkeypatch.setattr(socket, "gethostbyname", lambda name: looked_up.append(name) or "127.0.0.3")
    assert core.resolve("sip:proxy.example.com") == Destination("udp", "127.0.0.3", 5060)
    core.resolve("sip:proxy.example.com")
    assert looked_up == ["proxy.example.com", "proxy.example.com"]
    for bad in ("tel:+4412345", "sip:bob@127.0.0.2;transport=sctp"):
        with pytest.raises(ParseError):
            core.resolve(bad)
        with pytest.raises(ParseError):  # still refused the second time
            core.resolve(bad)
