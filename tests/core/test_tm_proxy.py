"""The transaction layer in memory: a Core whose transports are recorders, an UAC at
127.0.0.1:5070 and a downstream UAS at 127.0.0.1:5080."""
from __future__ import annotations

import gevent

from opensipsg.core import Core
from opensipsg.script.parser import parse_config
from opensipsg.sip.builder import build_ack, build_reply
from opensipsg.sip.message import parse
from tests.recording import Recorder

UAC = ("127.0.0.1", 5070)
UAS = ("127.0.0.1", 5080)

BASE = """
listen=udp:127.0.0.1:5999
loadmodule "tm.so"
loadmodule "sl.so"
modparam("tm", "fr_inv_timer", 1)
modparam("tm", "fr_timer", 1)
modparam("tm", "wt_timer", 1)
"""

INVITE = (b"INVITE sip:bob@127.0.0.1:5080 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\n"
          b"Max-Forwards: 70\r\nFrom: \"A\" <sip:a@127.0.0.1>;tag=f1\r\nTo: <sip:bob@127.0.0.1>\r\n"
          b"Call-ID: c1@127.0.0.1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")


def make_core(script: str):
    core = Core(parse_config(BASE + script, "t.cfg"))
    recorder = Recorder()
    for listener in core.listeners:
        core.transports[listener.name] = recorder
    return core, recorder


def feed(core: Core, data: bytes, src: tuple[str, int]) -> None:
    core.receive(data, src[0], src[1], core.listeners[0], None)


def answer(core: Core, request, status: int, tag: str = "uas1") -> None:
    feed(core, build_reply(request, status, None, tag).to_bytes(), UAS)


def inuse(core: Core) -> int:
    return core.stats.get("tm:inuse_transactions")


RELAY_ALL = """
route { t_relay(); }
"""


def test_hop_by_hop_ack_for_a_relayed_negative_reply_is_absorbed_by_t_relay():
    """A script that t_relay()s everything (no t_check_trans) must not forward the ACK
    for a non-2xx final reply: it belongs to our server transaction (17.2.1), and 1.6's
    t_relay absorbs it (t_newtran finds the transaction: 0, script stops)."""
    core, rec = make_core(RELAY_ALL)
    feed(core, INVITE, UAC)
    (fwd,) = rec.requests_to(UAS, "INVITE")
    answer(core, fwd, 486)
    (busy,) = [r for r in rec.replies_to(UAC) if r.status == 486]
    assert len(rec.requests_to(UAS, "ACK")) == 1  # our own hop-by-hop ACK downstream
    feed(core, build_ack(parse(INVITE), busy).to_bytes(), UAC)
    assert len(rec.requests_to(UAS, "ACK")) == 1  # the upstream ACK is not forwarded
    # and it stopped our retransmissions of the 486 (Timer G, T1 = 0.5 s)
    gevent.sleep(1.2)
    assert len([r for r in rec.replies_to(UAC) if r.status == 486]) == 1


def test_negative_reply_after_fr_inv_timeout_and_cancel_is_acked():
    """fr_inv_timer fires on a ringing branch: we CANCEL it; the 487 that follows must
    still get its hop-by-hop ACK (17.1.1.3), or the UAS retransmits it for 32 s."""
    core, rec = make_core(RELAY_ALL)
    feed(core, INVITE, UAC)
    (fwd,) = rec.requests_to(UAS, "INVITE")
    answer(core, fwd, 180)
    gevent.sleep(1.3)
    assert len(rec.requests_to(UAS, "CANCEL")) == 1
    assert [r.status for r in rec.replies_to(UAC) if r.status >= 200] == [408]
    answer(core, fwd, 487)
    acks = rec.requests_to(UAS, "ACK")
    assert len(acks) == 1 and acks[0].via1.branch == fwd.via1.branch
    assert acks[0].to.tag == "uas1"


def test_2xx_after_local_timeout_reply_is_still_relayed():
    """RFC 3261 16.7 step 10: after a final response went upstream, any 2xx to the
    INVITE MUST still be forwarded (1.6: RPS_PUSHED_AFTER_COMPLETION). Here the
    callee picks up just as fr_inv_timer fires."""
    core, rec = make_core(RELAY_ALL)
    feed(core, INVITE, UAC)
    (fwd,) = rec.requests_to(UAS, "INVITE")
    answer(core, fwd, 180)
    gevent.sleep(1.3)
    assert [r.status for r in rec.replies_to(UAC) if r.status >= 200] == [408]
    answer(core, fwd, 200)
    assert [r.status for r in rec.replies_to(UAC) if r.status >= 200] == [408, 200]
    ok = [r for r in rec.replies_to(UAC) if r.status == 200][0]
    assert len(ok.vias) == 1 and ok.to.tag == "uas1"
    assert not rec.requests_to(UAS, "ACK")  # a 2xx is acknowledged end to end


UAS_SCRIPT = """
route {
    t_newtran();
    t_reply("404", "Not Here");
}
"""


def test_t_newtran_absorbs_the_ack_for_our_negative_reply():
    """1.6's t_newtran() on the ACK for a negative final reply releases the transaction
    and returns 0; it must not retransmit the reply as if the INVITE came again."""
    core, rec = make_core(UAS_SCRIPT)
    feed(core, INVITE, UAC)
    (notfound,) = rec.replies_to(UAC)
    assert notfound.status == 404
    feed(core, build_ack(parse(INVITE), notfound).to_bytes(), UAC)
    assert len(rec.replies_to(UAC)) == 1
    gevent.sleep(1.2)  # no Timer G retransmissions once the ACK came
    assert len(rec.replies_to(UAC)) == 1


def test_an_ack_without_transaction_gets_no_transaction_and_no_reply():
    """t_newtran() creates no transaction for an ACK and t_reply() does not answer one
    (1.6: 'ACKs are not replied'); before, the ACK got a transaction under its INVITE's
    key and a 404."""
    core, rec = make_core(UAS_SCRIPT)
    ack = INVITE.replace(b"INVITE sip", b"ACK sip").replace(b"1 INVITE", b"1 ACK").replace(
        b"To: <sip:bob@127.0.0.1>", b"To: <sip:bob@127.0.0.1>;tag=x")
    feed(core, ack, UAC)
    assert rec.sent == []
    assert inuse(core) == 0


VM = ("127.0.0.1", 5081)

SERIAL = """
route { t_on_failure("1"); t_relay(); }
failure_route[1] {
    xlog("L_INFO", "failure route: $T_reply_code\\n");
    if (t_check_status("486")) {
        t_on_failure("1");
        $ru = "sip:vm@127.0.0.1:5081";
        t_relay();
    }
}
"""


def test_serial_forking_picks_the_winner_among_the_new_branches_only():
    """After a failure route added branches, the next pick (the failure route's
    $T_reply_code / t_check_status, and the reply relayed) is among the new branches
    only (tm's t->first_branch). Before, the 486 of the first round won again, the
    failure route re-forked to voicemail on every 500 until MAX_BRANCHES, and the
    caller got the old 486."""
    core, rec = make_core(SERIAL)
    feed(core, INVITE, UAC)
    (fwd,) = rec.requests_to(UAS, "INVITE")
    answer(core, fwd, 486)
    (vm,) = rec.requests_to(VM, "INVITE")
    feed(core, build_reply(vm, 500, None, "vm1").to_bytes(), VM)
    assert len(rec.requests_to(VM, "INVITE")) == 1
    assert [r.status for r in rec.replies_to(UAC) if r.status >= 200] == [500]



def test_t_relay_reuses_the_key_of_t_check_trans_only_for_the_same_request():
    """new_transaction() takes the key lookup() computed for the same request; a request
    that t_check_trans() did not see (here the BYE) gets its own key."""
    core, _ = make_core('route { if (method == "INVITE") t_check_trans(); t_relay(); }')
    bye = (INVITE.replace(b"INVITE sip", b"BYE sip").replace(b"1 INVITE", b"2 BYE")
           .replace(b"branch=z9hG4bK-1", b"branch=z9hG4bK-2"))
    feed(core, INVITE, UAC)
    feed(core, bye, UAC)
    assert set(core.tm.servers) == {core.tm.key_for(parse(INVITE)), core.tm.key_for(parse(bye))}
    core.tm.stop()


def test_the_main_reply_route_runs_for_every_reply():
    """onreply_route (0) sees each reply (its presence is looked up once, at the first one)."""
    core, rec = make_core('route { t_relay(); } onreply_route { if (status == "180") { drop; } }')
    feed(core, INVITE, UAC)
    (fwd,) = rec.requests_to(UAS, "INVITE")
    answer(core, fwd, 180)
    answer(core, fwd, 183)
    answer(core, fwd, 200)
    assert [r.status for r in rec.replies_to(UAC)] == [100, 183, 200]
    plain, rec = make_core(RELAY_ALL)
    feed(plain, INVITE, UAC)
    answer(plain, rec.requests_to(UAS, "INVITE")[0], 180)
    assert [r.status for r in rec.replies_to(UAC)] == [100, 180]
    core.tm.stop()
    plain.tm.stop()


def test_a_branch_request_is_made_when_needed_and_is_what_was_sent():
    # the branch keeps Request's arguments and sends their bytes; its Request comes later
    # (a CANCEL, a hop-by-hop ACK) and must match the bytes sent, not the script's later changes
    core, rec = make_core(RELAY_ALL)
    feed(core, INVITE, UAC)
    (tx,) = core.tm.servers.values()
    (branch,) = tx.branches
    assert branch._request is None
    tx.request.add_header("subject", "added after t_relay")
    (sent,) = rec.requests_to(UAS, "INVITE")
    assert branch.request.to_bytes() == sent.to_bytes() == branch.client.request
    assert branch.request is branch.request
    assert branch.request.via1.branch == branch.branch_id and branch.request.get("subject") is None
