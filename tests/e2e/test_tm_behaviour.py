"""tm behaviours of 1.6 that a script relies on, through a running opensipsg:
a relayed 503 becomes 500; a transaction the script neither relays nor answers is
killed with 1.6's 500; the best of several negative replies wins (RFC 3261 16.7)."""
from __future__ import annotations

import pytest

from tests.e2e import harness
from tests.e2e.harness import LOCALHOST, run_sipp, scenario, scenario_copy, sip_request

pytestmark = pytest.mark.integration

CFG = """
debug=3
log_stderror=yes
listen=udp:127.0.0.1:{port}
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
route {{
    if (is_method("ACK")) {{
        t_check_trans();
        exit;
    }}
    if ($rU == NULL) {{
        sl_send_reply("200", "ready");  # the harness's readiness OPTIONS
        exit;
    }}
    if ($rU == "newtran") {{
        t_newtran();
        exit;
    }}
    if ($rU == "fork") {{
        $ru = "sip:a@127.0.0.1:{uas1}";
        append_branch("sip:b@127.0.0.1:{uas2}");
    }} else {{
        $ru = "sip:callee@127.0.0.1:{uas1}";
    }}
    t_relay();
}}
"""


@pytest.fixture
def ports():
    port = harness.free_port("both")
    uas1 = harness.free_port("both", exclude=[port])
    uas2 = harness.free_port("both", exclude=[port, uas1])
    return port, uas1, uas2


def uac_expecting(workdir, code: str, reason: str) -> str:
    return scenario_copy("uac_486.xml", workdir, {'<recv response="486"': f'<recv response="{code}"',
                                                 "Subject: uac_486": f"Subject: uac_{code} ({reason})"})


def uas_answering(workdir, code: str, reason: str) -> str:
    return scenario_copy("uas_busy.xml", workdir, {"SIP/2.0 486 Busy Here": f"SIP/2.0 {code} {reason}"})


def test_relayed_503_becomes_500(ports, server_factory, sipp_factory, tmp_workdir):
    port, uas1, uas2 = ports
    server_factory(CFG.format(port=port, uas1=uas1, uas2=uas2))
    uas = sipp_factory(["-sf", uas_answering(tmp_workdir, "503", "Service Unavailable"), "-p", str(uas1),
                        "-m", "1"], timeout=30)
    uac = run_sipp([f"{LOCALHOST}:{port}", "-sf", uac_expecting(tmp_workdir, "500", "from 503"),
                    "-s", "callee", "-m", "1"], tmp_workdir, timeout=30)
    assert uac.ok, uac.describe()
    assert uas.wait().ok


def test_best_negative_reply_of_two_branches_wins(ports, server_factory, sipp_factory, tmp_workdir):
    port, uas1, uas2 = ports
    server_factory(CFG.format(port=port, uas1=uas1, uas2=uas2))
    # 404 from one branch, 503 from the other: the lowest class (4xx) is relayed
    first = sipp_factory(["-sf", uas_answering(tmp_workdir, "503", "Service Unavailable"), "-p", str(uas1),
                          "-m", "1"], timeout=30)
    second = sipp_factory(["-sf", uas_answering(tmp_workdir, "404", "Not Found"), "-p", str(uas2),
                           "-m", "1"], timeout=30)
    uac = run_sipp([f"{LOCALHOST}:{port}", "-sf", uac_expecting(tmp_workdir, "404", "best of two"),
                    "-s", "fork", "-m", "1"], tmp_workdir, timeout=30)
    assert uac.ok, uac.describe()
    assert first.wait().ok and second.wait().ok


def test_transaction_without_reply_is_killed_with_500(ports, server_factory):
    port, uas1, uas2 = ports
    server_factory(CFG.format(port=port, uas1=uas1, uas2=uas2))
    request = (f"OPTIONS sip:newtran@127.0.0.1:{port} SIP/2.0\r\n"
               "Via: SIP/2.0/UDP 127.0.0.1:[local_port];branch=[branch]\r\n"
               "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:newtran@127.0.0.1>\r\nCall-ID: [call_id]\r\n"
               "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
    code, reply = sip_request(LOCALHOST, port, request)
    assert code == 500 and "I'm terribly sorry, server error occurred (1/TM)" in reply
