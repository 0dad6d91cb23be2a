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
    log = proxy.log_text()
    assert "accounting is not configured" not in log  # db_flag without db_url stays quiet, as in 1.6
    answered = [line for line in log.splitlines() if "ACC: transaction answered:" in line]
    assert sum("method=INVITE" in line for line in answered) == 2, proxy.log_tail(60)
    assert sum("method=BYE" in line for line in answered) == 2, proxy.log_tail(60)

    unknown = run_sipp([f"{LOCALHOST}:{proxy.udp_port}", "-sf", scenario("uac_404.xml"), "-s", "nobody",
                        "-m", "1", *transport], tmp_workdir, timeout=15)
    assert unknown.ok, unknown.describe()


def test_transactions_are_deleted_after_the_calls(proxy, tmp_workdir, sipp_factory):
    """tm keeps a transaction wt_timer (5 s) after its final reply, then frees it:
    after a batch of calls and CANCELs the MI shows no transaction in use."""
    import time

    from opensipsg.ctl.mi_client import FifoClient

    mi = FifoClient(str(tmp_workdir / "fifo"), reply_dir="/tmp/", timeout=10)  # the cfg's default reply_dir
    uas_port = harness.free_port("both", exclude=[proxy.udp_port])
    callee = write_users_csv(tmp_workdir / "callee.csv", ["dave"])
    reg = run_sipp([f"{LOCALHOST}:{proxy.udp_port}", "-sf", scenario("register.xml"), "-inf", str(callee),
                    "-key", "expires", "300", "-p", str(uas_port), "-m", "1"], tmp_workdir, timeout=15)
    assert reg.ok, reg.describe()
    uas = sipp_factory(["-sf", scenario("uas_rr.xml"), "-p", str(uas_port), "-m", "10"], timeout=30)
    calls = run_sipp([f"{LOCALHOST}:{proxy.udp_port}", "-sf", scenario("uac_rr.xml"), "-s", "dave",
                      "-d", "100", "-m", "10", "-r", "10"], tmp_workdir, timeout=30)
    assert calls.ok, calls.describe()
    assert uas.wait().ok

    def in_use() -> int:
        reply = mi.call_text("get_statistics", ["tm:inuse_transactions"])
        line = next(line for line in reply.splitlines() if "inuse_transactions" in line)
        return int(line.rsplit("=", 1)[1].strip())

    assert in_use() > 0  # the last calls' transactions are still waiting out wt_timer
    deadline = time.monotonic() + 20
    while in_use() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert in_use() == 0


def test_early_media_183_is_accounted(proxy, tmp_workdir, sipp_factory):
    """The stock script sets acc's early_media: a relayed 183 gets its own record."""
    from tests.e2e.harness import scenario_copy

    uas_port = harness.free_port("both", exclude=[proxy.udp_port])
    callee = write_users_csv(tmp_workdir / "erin.csv", ["erin"])
    reg = run_sipp([f"{LOCALHOST}:{proxy.udp_port}", "-sf", scenario("register.xml"), "-inf", str(callee),
                    "-key", "expires", "300", "-p", str(uas_port), "-m", "1"], tmp_workdir, timeout=15)
    assert reg.ok, reg.describe()
    progress = scenario_copy("uas_rr.xml", tmp_workdir, {"SIP/2.0 180 Ringing": "SIP/2.0 183 Session Progress"})
    uas = sipp_factory(["-sf", progress, "-p", str(uas_port), "-m", "1"], timeout=30)
    call = run_sipp([f"{LOCALHOST}:{proxy.udp_port}", "-sf", scenario("uac_rr.xml"), "-s", "erin",
                     "-d", "100", "-m", "1"], tmp_workdir, timeout=30)
    assert call.ok, call.describe()
    assert uas.wait().ok
    records = [line for line in proxy.log_text().splitlines() if "ACC: transaction answered:" in line]
    assert any("method=INVITE" in line and "code=183" in line for line in records), proxy.log_tail(30)
    assert any("method=INVITE" in line and "code=200" in line for line in records), proxy.log_tail(30)
