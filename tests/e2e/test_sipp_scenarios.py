"""The SIPp scenarios in tests/data/sipp/, checked sipp-to-sipp without a proxy.

These make the scenarios known-good on their own, so that a failure of the same
scenario through opensipsg points at the server. A few seconds in all.
"""
from __future__ import annotations

import os
import socket

import pytest

from tests.e2e import harness
from tests.e2e.harness import LOCALHOST, run_sipp, scenario, scenario_copy, sip_request, write_users_csv

pytestmark = pytest.mark.integration

CALLS = 3


def _pair(sipp_factory, workdir, uas_args, uac_args, calls=CALLS, transport=()):
    """Run a UAS in the background and a UAC against it; both must end with rc 0."""
    uas = sipp_factory([*uas_args, *transport, "-m", str(calls)], cwd=workdir, timeout=20)
    uac = run_sipp([f"{LOCALHOST}:{uas.port}", *uac_args, *transport, "-m", str(calls), "-r", "10"],
                   workdir, timeout=20)
    uas_result = uas.wait()
    assert uac.ok and uac.successful == calls and uac.failed == 0, uac.describe()
    assert uas_result.ok and uas_result.successful == calls and uas_result.failed == 0, uas_result.describe()
    return uac, uas_result


@pytest.fixture
def users_csv(tmp_workdir):
    return str(write_users_csv(tmp_workdir / "users.csv", ["alice", "bob", "carol"]))


def test_register(sipp, sipp_factory, tmp_workdir, users_csv):
    _pair(sipp_factory, tmp_workdir, ["-sf", scenario("uas_registrar.xml"), "-key", "expires", "300"],
          ["-sf", scenario("register.xml"), "-inf", users_csv, "-key", "expires", "300"])


def test_register_refresh_unregister(sipp, sipp_factory, tmp_workdir, users_csv):
    _pair(sipp_factory, tmp_workdir, ["-sf", scenario("uas_registrar3.xml"), "-key", "expires", "300"],
          ["-sf", scenario("register_refresh.xml"), "-inf", users_csv, "-key", "expires", "300"])


def test_unregister_all(sipp, sipp_factory, tmp_workdir, users_csv):
    _pair(sipp_factory, tmp_workdir, ["-sf", scenario("uas_registrar.xml"), "-key", "expires", "300"],
          ["-sf", scenario("unregister_all.xml"), "-inf", users_csv])


@pytest.mark.parametrize("transport", [(), ("-t", "t1")], ids=["udp", "tcp"])
def test_call_uac_rr_uas_rr(sipp, sipp_factory, tmp_workdir, transport):
    _pair(sipp_factory, tmp_workdir, ["-sf", scenario("uas_rr.xml")],
          ["-sf", scenario("uac_rr.xml"), "-s", "bob", "-d", "100"], transport=transport)


def test_cancel_while_ringing(sipp, sipp_factory, tmp_workdir):
    _pair(sipp_factory, tmp_workdir, ["-sf", scenario("uas_ring_only.xml")],
          ["-sf", scenario("uac_cancel.xml"), "-s", "bob"])


def test_busy(sipp, sipp_factory, tmp_workdir):
    _pair(sipp_factory, tmp_workdir, ["-sf", scenario("uas_busy.xml")],
          ["-sf", scenario("uac_486.xml"), "-s", "bob"])


@pytest.mark.parametrize("status", ["404 Not Found", "483 Too Many Hops"])
def test_rejected_invite(sipp, sipp_factory, tmp_workdir, status):
    uas_file = scenario_copy("uas_reject.xml", tmp_workdir, {"404 Not Found": status})
    code = status.split()[0]
    _pair(sipp_factory, tmp_workdir, ["-sf", uas_file], ["-sf", scenario(f"uac_{code}.xml"), "-s", "bob"])


def test_ring_only_487_keeps_every_via(sipp, sipp_factory, tmp_workdir):
    """Behind a proxy the INVITE has several Vias but the CANCEL only the proxy's:
    the 487 must carry the INVITE's whole Via set (what a proxy would send)."""
    uas = sipp_factory(["-sf", scenario("uas_ring_only.xml"), "-m", "1"], cwd=tmp_workdir, timeout=20)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOCALHOST, 0))
        sock.settimeout(5)
        port = sock.getsockname()[1]
        top = f"Via: SIP/2.0/UDP {LOCALHOST}:{port};branch=z9hG4bKproxy{os.getpid()}"
        lower = "Via: SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bKuac1;received=192.0.2.7"

        def request(method, vias, to="To: <sip:bob@example.com>"):
            lines = [f"{method} sip:bob@{LOCALHOST}:{uas.port} SIP/2.0", *vias, "Max-Forwards: 69",
                     "From: <sip:alice@example.com>;tag=a1", to, "Call-ID: ring-only-vias",
                     f"CSeq: 7 {method}", "Content-Length: 0"]
            return ("\r\n".join(lines) + "\r\n\r\n").encode()

        def reply():
            return sock.recv(65535).decode()

        dest = (LOCALHOST, uas.port)
        sock.sendto(request("INVITE", [top, lower]), dest)
        assert reply().startswith("SIP/2.0 180")
        sock.sendto(request("CANCEL", [top]), dest)
        replies = {}
        for _ in range(2):
            text = reply()
            replies[text.split()[1]] = text
        assert "CSeq: 7 CANCEL" in replies["200"]
        final = replies["487"]
        assert final.count("\r\nVia: ") == 2 and top in final and lower in final, final
        assert "CSeq: 7 INVITE" in final
        to = next(line for line in final.split("\r\n") if line.startswith("To:"))
        sock.sendto(request("ACK", [top], to=to), dest)
    result = uas.wait()
    assert result.ok and result.successful == 1, result.describe()


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_sip_request_gets_final_reply_and_acks_it(sipp, sipp_factory, tmp_workdir, proto):
    """harness.sip_request against a real UA: skips nothing but 1xx, ACKs the 486."""
    transport = ["-t", "t1"] if proto == "tcp" else []
    uas = sipp_factory(["-sf", scenario("uas_busy.xml"), *transport, "-m", "1"], cwd=tmp_workdir, timeout=20)
    code, text = sip_request(LOCALHOST, uas.port, (
        f"INVITE sip:bob@{LOCALHOST}:{uas.port} SIP/2.0\n"
        "Max-Forwards: 70\n"
        "From: <sip:alice@example.com>;tag=x1\n"
        "To: <sip:bob@example.com>\n"
        "Call-ID: [call_id]\n"
        "CSeq: 1 INVITE\n"
        "Contact: <sip:alice@[local_ip]:[local_port]>\n"
        "Content-Type: application/sdp\n\n"
        "v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 9 RTP/AVP 0\n"), proto=proto, timeout=5)
    assert code == 486, text
    assert f"SIP/2.0/{proto.upper()} {LOCALHOST}:" in text
    result = uas.wait()  # the UAS scenario ends only when our ACK arrived
    assert result.ok and result.successful == 1, result.describe()


def test_sip_request_times_out_on_silence(tmp_workdir):
    port = harness.free_port("udp")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind((LOCALHOST, port))
        code, text = sip_request(LOCALHOST, port, harness.options_request(LOCALHOST, port), timeout=0.3)
        data = silent.recv(65535).decode()
    assert (code, text) == (None, "")
    assert data.startswith("OPTIONS ") and f"Via: SIP/2.0/UDP {LOCALHOST}:" in data
    assert data.endswith("Content-Length: 0\r\n\r\n")
