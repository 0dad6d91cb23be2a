"""MI end to end: opensipsg with mi_fifo and mi_json, driven over the FIFO
(our client, no opensipsctl) and over JSON-RPC with urllib."""
from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest

from opensipsg.ctl.mi_client import FifoClient
from opensipsg.mi.fifo_format import format_reply
from tests.e2e import harness
from tests.e2e.harness import LOCALHOST, sip_request

pytestmark = pytest.mark.integration

CFG = (Path(__file__).resolve().parent.parent / "data" / "cfg" / "mi_test.cfg").read_text()


@pytest.fixture
def mi_server(server_factory, tmp_workdir):
    port = harness.free_port("both")
    json_port = harness.free_port("tcp", exclude=[port])
    mi_dir = tmp_workdir / "mi"
    mi_dir.mkdir()
    server = server_factory(harness.fill(CFG, port=port, fifo=mi_dir / "fifo", reply_dir=f"{mi_dir}/",
                                         json_port=json_port, extra_modules="", extra_params=""))
    server.fifo = FifoClient(str(mi_dir / "fifo"), f"{mi_dir}/", timeout=10)
    server.fifo_path = mi_dir / "fifo"
    server.json_url = f"http://{LOCALHOST}:{json_port}/json"
    return server


def rpc(server, method, params=None, request_id=1):
    body = {"jsonrpc": "2.0", "method": method, "id": request_id}
    if params is not None:
        body["params"] = params
    request = urllib.request.Request(server.json_url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_fifo_core_commands(mi_server):
    which = mi_server.fifo.call_text("which", [])
    assert which.startswith("200 OK\nuptime\nversion\n") and "\nul_show_contact\n" in which
    ps = mi_server.fifo.call_text("ps", [])
    assert f"Process::  ID=0 PID={mi_server.pid} Type=attendant" in ps and "Type=MI FIFO" in ps
    assert "Up time:: " in mi_server.fifo.call_text("uptime", [])
    assert mi_server.fifo.call_text("nope", []) == "500 command 'nope' not available\n"


def test_statistics_grow_with_requests(mi_server):
    def received():
        reply = mi_server.fifo.call("get_statistics", ["rcv_requests"])
        return int(reply.children[0].value.rsplit("=", 1)[1])

    before = received()
    for _ in range(3):
        code, _ = sip_request(LOCALHOST, mi_server.udp_port, harness.options_request(LOCALHOST, mi_server.udp_port))
        assert code == 200
    assert received() >= before + 3
    assert "core:rcv_requests = " in mi_server.fifo.call_text("get_statistics", ["all"])


def test_fifo_is_recreated_when_it_disappears(mi_server):
    os.unlink(mi_server.fifo_path)
    deadline = __import__("time").monotonic() + 15
    while not mi_server.fifo_path.exists():
        assert __import__("time").monotonic() < deadline, "mi_fifo did not re-create its FIFO"
        __import__("time").sleep(0.1)
    assert mi_server.fifo.call_text("pwd", []).startswith("200 OK\nWD:: ")


def test_client_gone_does_not_hang_the_server(mi_server):
    reply_dir = mi_server.fifo_path.parent
    os.mkfifo(reply_dir / "gone_client")  # nobody will read it
    fd = os.open(mi_server.fifo_path, os.O_WRONLY | os.O_NONBLOCK)
    os.write(fd, b":which:gone_client\n\n:which:bad.name\n\n")
    os.close(fd)
    assert mi_server.fifo.call_text("version", []).startswith("200 OK\nServer:: ")


def test_json_rpc(mi_server):
    answer = rpc(mi_server, "get_statistics", ["all"])
    assert answer["jsonrpc"] == "2.0" and answer["id"] == 1
    values = [n["value"] for n in answer["result"]["nodes"]]
    assert any(v.startswith("core:rcv_requests = ") for v in values)
    assert rpc(mi_server, "nope")["error"]["code"] == -32601
    assert rpc(mi_server, "ul_show_contact", ["location", "nobody"])["error"] == {"code": 404, "message": "AOR not found"}
    with urllib.request.urlopen(f"{mi_server.json_url}/uptime", timeout=10) as response:
        got = json.loads(response.read())
    assert [n["name"] for n in got["result"]["nodes"]] == ["Now", "Up since", "Up time"]
    with urllib.request.urlopen(f"{mi_server.json_url}/get_statistics?params=rcv_requests,rcv_replies", timeout=10) as r:
        assert len(json.loads(r.read())["result"]["nodes"]) == 2


def test_t_uac_dlg_sends_a_request_of_our_own(mi_server):
    port = mi_server.udp_port
    headers = f"From: <sip:mi@127.0.0.1>\r\nTo: <sip:127.0.0.1:{port}>\r\n"
    answer = rpc(mi_server, "t_uac_dlg", ["OPTIONS", f"sip:127.0.0.1:{port}", ".", ".", headers])
    nodes = answer["result"]["nodes"]
    assert nodes[0]["value"] == "200 OK"
    assert "CSeq: 1 OPTIONS" in nodes[1]["value"] and "Call-ID: " in nodes[1]["value"]
    # an INVITE the script refuses: the final 404 comes back (and is ACKed by our transaction)
    invite = rpc(mi_server, "t_uac_dlg", ["INVITE", f"sip:nobody@127.0.0.1:{port}", ".", ".",
                                          f"From: <sip:mi@127.0.0.1>\r\nTo: <sip:nobody@127.0.0.1>\r\n"])
    assert invite["result"]["nodes"][0]["value"] == "404 Not here"
    bad = rpc(mi_server, "t_uac_dlg", ["OPTIONS", f"sip:127.0.0.1:{port}", ".", ".", "Subject: no From"])
    assert bad["error"]["code"] == 400
