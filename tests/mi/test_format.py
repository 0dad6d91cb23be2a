"""The 1.6 FIFO text format, both ways, and the JSON shape."""
from __future__ import annotations

import pytest

from opensipsg.mi.fifo_format import (
    RequestError, format_reply, format_request, parse_args, parse_reply, parse_request,
)
from opensipsg.mi.tree import MINode, MIReply, as_reply, not_available


def test_reply_lines_as_mi_writer_writes_them():
    reply = MIReply()
    domain = reply.add("Domain", "location")
    domain.attr("table", 512).attr("records", 1)
    aor = domain.add("AOR", "bob")
    contact = aor.add("Contact", "<sip:bob@127.0.0.1>", Q="1")
    contact.add("Expires", 3600)
    reply.add(None, "core:rcv_requests = 3")
    reply.add("Process", "").attr("ID", 0)
    assert format_reply(reply) == (
        "200 OK\n"
        "Domain:: location table=512 records=1\n"
        "\tAOR:: bob\n"
        "\t\tContact:: <sip:bob@127.0.0.1> Q=1\n"
        "\t\t\tExpires:: 3600\n"
        "core:rcv_requests = 3\n"
        "Process::  ID=0\n"
        "\n"
    )


def test_custom_and_empty_indent():
    reply = MIReply()
    reply.add("A", "1").add("B", "2")
    assert format_reply(reply, "  ") == "200 OK\nA:: 1\n  B:: 2\n\n"
    assert format_reply(reply, "") == "200 OK\nA:: 1\nB:: 2\n\n"


def test_error_replies():
    assert format_reply(MIReply(code=404, reason="AOR not found")) == "404 AOR not found\n\n"
    # written by fifo_fnc.c itself: one line, no empty line after it
    assert format_reply(not_available("foo")) == "500 command 'foo' not available\n"


def test_parse_reply_round_trip():
    reply = MIReply()
    reply.add("Domain", "location").add("AOR", "bob").add("Contact", "<sip:x> Q=1")
    reply.add(None, "core:x = 1")
    back = parse_reply(format_reply(reply))
    assert back.code == 200 and back.reason == "OK"
    assert back.children[0].name == "Domain"
    assert back.children[0].children[0].children[0].value == "<sip:x> Q=1"
    assert back.children[1].name is None and back.children[1].value == "core:x = 1"
    assert parse_reply("404 AOR not found\n\n").code == 404


def test_request_parsing():
    request = parse_request(":ul_show_contact:reply_1\nlocation\nbob@example.com\n\n")
    assert request.command == "ul_show_contact"
    assert request.reply_fifo == "reply_1"
    assert request.args == ("location", "bob@example.com")
    assert parse_request(":which:\n\n").reply_fifo is None


def test_named_and_quoted_arguments():
    assert parse_args(["name::value", '"a \\"quoted\\" value"', "  spaced  "]) == [
        "value", 'a "quoted" value', "spaced"]
    assert parse_args(['"From: a', 'To: b"']) == ["From: a\nTo: b"]
    with pytest.raises(RequestError):
        parse_args(['bad"value'])


@pytest.mark.parametrize("line", ["which", ":x", "::reply", ":cmd:../etc/passwd", ":cmd:a.b", ":cmd:a/b"])
def test_bad_command_lines(line):
    with pytest.raises(RequestError):
        parse_request(line + "\n\n")


def test_format_request_quotes_what_needs_it():
    assert format_request("debug", ["3"], "r") == ":debug:r\n3\n\n"
    text = format_request("t_uac_dlg", ["OPTIONS", "From: a\r\nTo: b\r\n"], "r")
    assert parse_request(text).args == ("OPTIONS", "From: a\r\nTo: b\r")[:1] + (parse_request(text).args[1],)
    assert parse_request(format_request("x", ["", '"q"'], "r")).args == ("", '"q"')


def test_json_shape_round_trip():
    reply = MIReply()
    node = reply.add("Contact", "sip:x")
    node.attr("Q", "1")
    node.add("Expires", 10)
    data = reply.to_dict()
    assert data == {"code": 200, "reason": "OK", "nodes": [
        {"name": "Contact", "value": "sip:x", "attributes": {"Q": "1"},
         "children": [{"name": "Expires", "value": "10"}]}]}
    assert MIReply.from_dict(data).to_dict() == data


def test_handler_results_become_replies():
    assert as_reply("x", None).code == 200
    assert as_reply("x", (404, "nope")).reason == "nope"
    assert as_reply("x", False).reason == "command 'x' failed"
    lines = as_reply("domain_dump", ["Domain:: a.example", "plain"])
    assert [(n.name, n.value) for n in lines.children] == [("Domain", "a.example"), (None, "plain")]
    node = MINode("A", "1")
    assert as_reply("x", [node]).children == [node]
