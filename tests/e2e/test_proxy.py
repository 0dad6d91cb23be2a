"""opensipsg as a registrar and record-routing proxy, driven by SIPp over UDP and TCP.

Every test starts its own opensipsg (tests/data/cfg/proxy_test.cfg) and SIPp
peers on free ports of 127.0.0.1, and stops all of them by PID.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e import harness
from tests.e2e.harness import LOCALHOST, run_sipp, scenario, sip_request, write_users_csv

pytestmark = pytest.mark.integration

CFG = (Path(__file__).resolve().parent.parent / "data" / "cfg" / "proxy_test.cfg").read_text()


@pytest.fixture
def proxy(server_factory, sipp):
    port = harness.free_port("both")
    vm_port = harness.free_port("both", exclude=[port])
    server = server_factory(harness.fill(CFG, port=port, vm_port=vm_port))
    server.vm_port = vm_port
    return server


def register(workdir: Path, proxy_port: int, user: str, port: int, proto: str = "udp", expires: int = 300):
    """Register ``user`` with the contact 127.0.0.1:port (SIPp binds that port, then exits)."""
    users = write_users_csv(workdir / f"reg_{user}_{port}.csv", [user])
    args = [f"{LOCALHOST}:{proxy_port}", "-sf", scenario("register.xml"), "-inf", str(users),
            "-key", "expires", str(expires), "-p", str(port), "-m", "1"]
    if proto == "tcp":
        args += ["-t", "t1"]
    result = run_sipp(args, workdir, timeout=15)
    assert result.ok, result.describe()


def test_many_users_register_refresh_and_unregister(proxy, tmp_workdir):
    users = write_users_csv(tmp_workdir / "users.csv", [f"user{i}" for i in range(60)])
    result = run_sipp([f"{LOCALHOST}:{proxy.udp_port}", "-sf", scenario("register_refresh.xml"),
                       "-inf", str(users), "-key", "expires", "120", "-m", "60", "-r", "30"],
                      tmp_workdir, timeout=30)
    assert result.ok and result.successful == 60, result.describe()


def test_unregister_all_contacts(proxy, tmp_workdir):
    register(tmp_workdir, proxy.udp_port, "dave", harness.free_port("both"))
    users = write_users_csv(tmp_workdir / "dave.csv", ["dave"])
    result = run_sipp([f"{LOCALHOST}:{proxy.udp_port}", "-sf", scenario("unregister_all.xml"),
                       "-inf", str(users), "-m", "1"], tmp_workdir, timeout=15)
    assert result.ok, result.describe()
    # nobody is registered any more: a call gets 404
    calls = run_sipp([f"{LOCALHOST}:{proxy.udp_port}", "-sf", scenario("uac_404.xml"), "-s", "dave", "-m", "1"],
                     tmp_workdir, timeout=15)
    assert calls.ok, calls.describe()


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_call_through_the_record_routing_proxy(proxy, tmp_workdir, sipp_factory, proto):
    transport = ["-t", "t1"] if proto == "tcp" else []
    uas_port = harness.free_port("both", exclude=[proxy.udp_port])
    register(tmp_workdir, proxy.udp_port, "bob", uas_port, proto)
    uas = sipp_factory(["-sf", scenario("uas_rr.xml"), "-p", str(uas_port), "-m", "3", *transport],
                       timeout=30)
    uac = run_sipp([f"{LOCALHOST}:{proxy.udp_port}", "-sf", scenario("uac_rr.xml"), "-s", "bob",
                    "-d", "200", "-m", "3", "-r", "5", *transport], tmp_workdir, timeout=30)
    assert uac.ok and uac.successful == 3, uac.describe() + proxy.log_tail()
    uas_result = uas.wait()
    assert uas_result.ok and uas_result.successful == 3, uas_result.describe()


def test_cancel_before_answer(proxy, tmp_workdir, sipp_factory):
    uas_port = harness.free_port("both", exclude=[proxy.udp_port])
    register(tmp_workdir, proxy.udp_port, "erin", uas_port)
    uas = sipp_factory(["-sf", scenario("uas_ring_only.xml"), "-p", str(uas_port), "-m", "1"], timeout=30)
    uac = run_sipp([f"{LOCALHOST}:{proxy.udp_port}", "-sf", scenario("uac_cancel.xml"), "-s", "erin", "-m", "1"],
                   tmp_workdir, timeout=30)
    assert uac.ok, uac.describe() + proxy.log_tail()
    uas_result = uas.wait()
    assert uas_result.ok, uas_result.describe()


def test_busy_callee_goes_to_another_contact_from_failure_route(proxy, tmp_workdir, sipp_factory):
    busy_port = harness.free_port("both", exclude=[proxy.udp_port, proxy.vm_port])
    register(tmp_workdir, proxy.udp_port, "frank", busy_port)
    busy = sipp_factory(["-sf", scenario("uas_busy.xml"), "-p", str(busy_port), "-m", "1"], timeout=30)
    voicemail = sipp_factory(["-sf", scenario("uas_rr.xml"), "-p", str(proxy.vm_port), "-m", "1"], timeout=30)
    uac = run_sipp([f"{LOCALHOST}:{proxy.udp_port}", "-sf", scenario("uac_rr.xml"), "-s", "frank",
                    "-d", "200", "-m", "1"], tmp_workdir, timeout=30)
    assert uac.ok, uac.describe() + proxy.log_tail()
    assert busy.wait().ok
    assert voicemail.wait().ok
    assert "callee busy: trying the voicemail contact" in proxy.log_text()


def test_forking_to_two_registered_contacts(proxy, tmp_workdir, sipp_factory):
    answering = harness.free_port("both", exclude=[proxy.udp_port])
    ringing = harness.free_port("both", exclude=[proxy.udp_port, answering])
    register(tmp_workdir, proxy.udp_port, "gina", answering)
    register(tmp_workdir, proxy.udp_port, "gina", ringing)
    ring = sipp_factory(["-sf", scenario("uas_ring_only.xml"), "-p", str(ringing), "-m", "1"], timeout=30)
    answer = sipp_factory(["-sf", scenario("uas_rr.xml"), "-p", str(answering), "-m", "1"], timeout=30)
    uac = run_sipp([f"{LOCALHOST}:{proxy.udp_port}", "-sf", scenario("uac_rr.xml"), "-s", "gina",
                    "-d", "200", "-m", "1"], tmp_workdir, timeout=30)
    assert uac.ok, uac.describe() + proxy.log_tail()
    assert answer.wait().ok
    ring_result = ring.wait()  # got the CANCEL once the other branch answered
    assert ring_result.ok, ring_result.describe()


def test_unknown_user_gets_404(proxy, tmp_workdir):
    uac = run_sipp([f"{LOCALHOST}:{proxy.udp_port}", "-sf", scenario("uac_404.xml"), "-s", "nobody", "-m", "1"],
                   tmp_workdir, timeout=15)
    assert uac.ok, uac.describe()


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_exhausted_max_forwards_gets_483(proxy, tmp_workdir, proto):
    args = [f"{LOCALHOST}:{proxy.udp_port}", "-sf", scenario("uac_483.xml"), "-s", "bob", "-m", "1"]
    if proto == "tcp":
        args += ["-t", "t1"]
    uac = run_sipp(args, tmp_workdir, timeout=15)
    assert uac.ok, uac.describe()


def test_malformed_requests_get_their_error_and_the_server_lives_on(proxy):
    port = proxy.udp_port
    bad_version = (
        "OPTIONS sip:127.0.0.1 SIP/7.0\r\nVia: SIP/2.0/UDP 127.0.0.1:[local_port];branch=[branch]\r\n"
        "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>\r\nCall-ID: [call_id]\r\n"
        "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    code, _ = sip_request(LOCALHOST, port, bad_version)
    assert code == 505
    no_callid = (
        "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:[local_port];branch=[branch]\r\n"
        "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    code, _ = sip_request(LOCALHOST, port, no_callid)
    assert code == 400
    sip_request(LOCALHOST, port, b"\x00\xff garbage \r\n\r\n", raw=True, timeout=0.5)
    code, _ = sip_request(LOCALHOST, port, harness.options_request(LOCALHOST, port))
    assert code == 484  # a request for the domain itself: the server still routes normally


def test_server_survives_a_flood_of_mutated_messages(proxy):
    """Thousands of mutated requests and replies (UDP and TCP): every one gets its error
    reply, is routed, or is dropped; the server never logs an internal error and still
    answers afterwards."""
    import random
    import socket

    rng = random.Random(20261127)
    port = proxy.udp_port
    base = [
        (f"INVITE sip:bob@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx{{n}}\r\n"
         "Max-Forwards: 5\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: c{n}\r\n"
         "CSeq: 1 INVITE\r\nContact: <sip:a@127.0.0.1:9>\r\nContent-Type: application/sdp\r\n"
         "Content-Length: 4\r\n\r\nv=0\n").encode(),
        (f"REGISTER sip:127.0.0.1:{port} SIP/2.0\r\nv: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKr{{n}};rport\r\n"
         "f: <sip:a@127.0.0.1>;tag=2\r\nt: <sip:a@127.0.0.1>\r\ni: r{n}\r\nCSeq: 2 REGISTER\r\n"
         "m: <sip:a@127.0.0.1:9>;expires=0\r\nl: 0\r\n\r\n").encode(),
        ("SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKnone\r\n"
         "From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n"
         "Content-Length: 0\r\n\r\n").replace("{port}", str(port)).encode(),
    ]
    specials = [b"\r\n", b":", b";", b",", b"<", b">", b'"', b"\x00", b"\xff", b" ", b"%", b"=", b"\t"]
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    try:
        for n in range(3000):
            data = bytearray(rng.choice(base).replace(b"{n}", str(n).encode()))
            for _ in range(rng.randint(1, 5)):
                pos = rng.randrange(len(data))
                op = rng.randint(0, 2)
                if op == 0:
                    data[pos] = rng.randrange(256)
                elif op == 1:
                    data[pos:pos] = rng.choice(specials)
                else:
                    del data[pos:pos + rng.randint(1, 30)]
            udp.sendto(bytes(data), ("127.0.0.1", port))
        with socket.create_connection(("127.0.0.1", port), timeout=5) as tcp:
            tcp.sendall(b"GARBAGE\r\n\r\n" + base[0].replace(b"{n}", b"t") + b"\x00" * 100)
    finally:
        udp.close()
    code, _ = sip_request(LOCALHOST, port, harness.options_request(LOCALHOST, port))
    assert code == 484
    assert "internal error" not in proxy.log_text().lower(), proxy.log_tail(40)
    assert "Traceback" not in proxy.log_text(), proxy.log_tail(40)
