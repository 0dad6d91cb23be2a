"""The shipped etc/opensipsg.cfg itself (the stock 1.6 registrar + record-routing
proxy) driven by SIPp over UDP and TCP. Only what a test must change is changed:
listen on a free port of 127.0.0.1, the MI FIFO in the test's folder, and a guard
that keeps route[1] from relaying anywhere but this machine."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e import harness
from tests.e2e.harness import LOCALHOST, run_sipp, scenario, write_users_csv

pytestmark = pytest.mark.integration

SHIPPED = (Path(__file__).resolve().parents[2] / "etc" / "opensipsg.cfg").read_text()
GUARD = ('route[1] {\n\tif ($rd != "127.0.0.1" || ($du != NULL && $dd != "127.0.0.1")) {\n'
         '\t\tsl_send_reply("403", "Not a test host");\n\t\texit;\n\t}\n')


@pytest.fixture
def proxy(server_factory, sipp, tmp_workdir):
    assert SHIPPED.count("\nroute[1] {\n") == 1 and SHIPPED.count("/tmp/opensips_fifo") == 1
    port = harness.free_port("both")
    text = SHIPPED.replace("\nroute[1] {\n", "\n" + GUARD).replace("/tmp/opensips_fifo", str(tmp_workdir / "fifo"))
    return server_factory(f"listen=udp:127.0.0.1:{port}\nlisten=tcp:127.0.0.1:{port}\n" + text)


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_register_and_call_with_the_shipped_config(proxy, tmp_workdir, sipp_factory, proto):
    transport = ["-t", "t1"] if proto == "tcp" else []
    users = write_users_csv(tmp_workdir / "users.csv", [f"user{i}" for i in range(20)])
    regs = run_sipp([f"{LOCALHOST}:{proxy.udp_port}", "-sf", scenario("register_refresh.xml"), "-inf", str(users),
                     "-key", "expires", "60", "-m", "20", "-r", "20", *transport], tmp_workdir, timeout=30)
    assert regs.ok and regs.successful == 20, regs.describe() + proxy.log_tail()

    uas_port = harness.free_port("both", exclude=[proxy.udp_port])
    callee = write_users_csv(tmp_workdir / "callee.csv", ["carol"])
    reg = run_sipp([f"{LOCALHOST}:{proxy.udp_port}", "-sf", scenario("register.xml"), "-inf", str(callee),
                    "-key", "expires", "300", "-p", str(uas_port), "-m", "1", *transport], tmp_workdir, timeout=15)
    assert reg.ok, reg.describe()
    uas = sipp_factory(["-sf", scenario("uas_rr.xml"), "-p", str(uas_port), "-m", "2", *transport], timeout=30)
    calls = run_sipp([f"{LOCALHOST}:{proxy.udp_port}", "-sf", scenario("uac_rr.xml"), "-s", "carol",
                      "-d", "200", "-m", "2", "-r", "5", *transport], tmp_workdir, timeout=30)
    assert calls.ok and calls.successful == 2, calls.describe() + proxy.log_tail()
    assert uas.wait().ok
    # the stock script accounts calls with acc's log_flag: INVITE and BYE records in the log
    answered = [line for line in proxy.log_text().splitlines() if "ACC: transaction answered:" in line]
    assert sum("method=INVITE" in line for line in answered) == 2, proxy.log_tail(60)
    assert sum("method=BYE" in line for line in answered) == 2, proxy.log_tail(60)

    unknown = run_sipp([f"{LOCALHOST}:{proxy.udp_port}", "-sf", scenario("uac_404.xml"), "-s", "nobody",
                        "-m", "1", *transport], tmp_workdir, timeout=15)
    assert unknown.ok, unknown.describe()
