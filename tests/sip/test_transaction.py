"""Transaction state machines, client against server in memory, with a fake clock."""
from __future__ import annotations


from opensipsg.sip.transaction import (
    Arm, ClientTransaction, Deliver, Disarm, Send, ServerTransaction, Terminate, Timers,
)

TIMERS = Timers(t1=0.5, t2=4.0, t4=5.0, fr_timer=30.0, fr_inv_timer=120.0)


class Wire:
    """Runs one machine's actions: records sends and delivers, keeps timers on a fake clock."""

    def __init__(self, machine, name: str) -> None:
        self.machine = machine
        self.name = name
        self.now = 0.0
        self.timers: dict[str, float] = {}
        self.sent: list[tuple[float, bytes]] = []
        self.delivered: list[tuple[str, int]] = []
        self.terminated = False

    def apply(self, actions) -> None:
        for action in actions:
            if isinstance(action, Send):
                self.sent.append((self.now, action))
            elif isinstance(action, Arm):
                self.timers[action.timer] = self.now + action.delay
            elif isinstance(action, Disarm):
                self.timers.pop(action.timer, None)
            elif isinstance(action, Deliver):
                self.delivered.append((action.event, action.status))
            elif isinstance(action, Terminate):
                self.terminated = True
                self.timers.clear()

    def run_until(self, until: float) -> None:
        while self.timers and not self.terminated:
            name, at = min(self.timers.items(), key=lambda item: item[1])
            if at > until:
                break
            del self.timers[name]
            self.now = at
            self.apply(self.machine.timer(name))
        self.now = max(self.now, until)


def test_invite_client_retransmits_with_doubling_then_times_out():
    client = ClientTransaction(True, False, b"INVITE", timers=TIMERS)
    wire = Wire(client, "c")
    wire.apply(client.start())
    wire.run_until(40.0)
    times = [t for t, _ in wire.sent]
    assert times[:5] == [0.0, 0.5, 1.5, 3.5, 7.5]  # timer A doubles: 0.5, 1, 2, 4...
    assert wire.delivered == [("timeout", 0)]
    assert wire.terminated and client.state == "terminated"


def test_invite_client_over_tcp_does_not_retransmit():
    client = ClientTransaction(True, True, b"INVITE", timers=TIMERS)
    wire = Wire(client, "c")
    wire.apply(client.start())
    wire.run_until(29.0)
    assert len(wire.sent) == 1
    wire.run_until(31.0)
    assert wire.delivered == [("timeout", 0)]


def test_non_invite_client_caps_retransmissions_at_t2():
    client = ClientTransaction(False, False, b"OPTIONS", timers=TIMERS)
    wire = Wire(client, "c")
    wire.apply(client.start())
    wire.run_until(20.0)
    times = [t for t, _ in wire.sent]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps[:4] == [0.5, 1.0, 2.0, 4.0]
    assert all(gap == 4.0 for gap in gaps[4:])


def test_provisional_moves_invite_client_to_fr_inv_timer():
    client = ClientTransaction(True, False, b"INVITE", timers=TIMERS)
    wire = Wire(client, "c")
    wire.apply(client.start())
    wire.apply(client.response(180))
    assert client.state == "proceeding"
    assert set(wire.timers) == {"FR_INV"}
    wire.run_until(100.0)
    assert len(wire.sent) == 1  # no retransmission after a provisional
    wire.run_until(121.0)
    assert wire.delivered[-1] == ("timeout", 0)


def test_negative_final_is_acked_and_retransmissions_reacked():
    client = ClientTransaction(True, False, b"INVITE", make_ack=lambda: b"ACK", timers=TIMERS)
    wire = Wire(client, "c")
    wire.apply(client.start())
    wire.apply(client.response(486))
    assert wire.sent[-1][1] == b"ACK"
    assert wire.delivered == [("response", 486)]
    wire.apply(client.response(486))  # retransmitted by the server
    assert [d for _, d in wire.sent].count(b"ACK") == 2
    assert wire.delivered == [("response", 486)]  # not delivered twice
    wire.run_until(40.0)
    assert wire.terminated


def test_client_against_server_invite_negative_exchange_over_udp():
    """The server's final response is lost twice; its timer G retransmits it and
    the client's ACK confirms the server, which ends after timer I."""
    server = ServerTransaction(True, False, TIMERS)
    client = ClientTransaction(True, False, b"INVITE", make_ack=lambda: b"ACK", timers=TIMERS)
    s, c = Wire(server, "s"), Wire(client, "c")
    c.apply(client.start())
    s.apply(server.respond(100, b"100"))
    c.apply(client.response(100))
    s.apply(server.respond(486, b"486"))
    # the first two copies of the 486 are lost; G fires at 0.5 and 1.5
    s.run_until(1.6)
    assert [d for _, d in s.sent].count(b"486") == 3
    c.apply(client.response(486))
    assert c.sent[-1][1] == b"ACK"
    s.apply(server.ack())
    assert server.state == "confirmed"
    assert "G" not in s.timers and "H" not in s.timers
    s.run_until(10.0)
    assert s.terminated


def test_invite_server_without_ack_times_out_with_timer_h():
    server = ServerTransaction(True, False, TIMERS)
    s = Wire(server, "s")
    s.apply(server.respond(404, b"404"))
    s.run_until(40.0)
    assert ("timeout", 0) in s.delivered and s.terminated
    gaps = [b - a for (a, _), (b, _) in zip(s.sent, s.sent[1:])]
    assert max(gaps) == 4.0  # G capped at T2


def test_server_absorbs_and_answers_request_retransmissions():
    server = ServerTransaction(False, False, TIMERS)
    s = Wire(server, "s")
    s.apply(server.request())
    assert s.sent == []  # trying: nothing to resend yet
    s.apply(server.respond(200, b"200"))
    s.apply(server.request())
    assert [d for _, d in s.sent] == [b"200", b"200"]
    s.run_until(33.0)
    assert s.terminated


def test_2xx_ends_invite_server_at_once():
    server = ServerTransaction(True, False, TIMERS)
    s = Wire(server, "s")
    s.apply(server.respond(180, b"180"))
    s.apply(server.respond(200, b"200"))
    assert s.terminated and server.state == "terminated"


def test_non_invite_client_final_then_timer_k():
    server = ServerTransaction(False, False, TIMERS)
    client = ClientTransaction(False, False, b"BYE", timers=TIMERS)
    s, c = Wire(server, "s"), Wire(client, "c")
    c.apply(client.start())
    c.run_until(0.6)  # one retransmission
    s.apply(server.request())
    s.apply(server.respond(200, b"200"))
    s.apply(server.request())
    c.apply(client.response(200))
    c.apply(client.response(200))
    assert c.delivered == [("response", 200)]
    c.run_until(6.0)
    assert c.terminated


def test_fr_inv_timeout_keeps_the_invite_client_to_ack_the_final_reply():
    """fr_inv_timer (Timer C, 16.8) tells the TU, which CANCELs; the 487 that ends the
    branch is ACKed but not delivered again, a 2xx that crossed the CANCEL is."""
    client = ClientTransaction(True, False, b"INVITE", make_ack=lambda: b"ACK", timers=TIMERS)
    wire = Wire(client, "c")
    wire.apply(client.start())
    wire.apply(client.response(180))
    wire.run_until(121.0)
    assert wire.delivered[-1] == ("timeout", 0) and not wire.terminated
    wire.apply(client.response(183))
    wire.apply(client.response(487))
    assert wire.sent[-1][1] == b"ACK"
    assert wire.delivered == [("response", 180), ("timeout", 0)]
    wire.apply(client.response(487))
    assert [d for _, d in wire.sent].count(b"ACK") == 2

    other = ClientTransaction(True, False, b"INVITE", timers=TIMERS)
    wire = Wire(other, "c")
    wire.apply(other.start())
    wire.apply(other.response(180))
    wire.run_until(121.0)
    wire.apply(other.response(200))
    assert wire.delivered[-1] == ("response", 200) and wire.terminated


def test_the_timers_prebuilt_arm_actions_follow_their_values() -> None:
    from dataclasses import replace

    changed = replace(TIMERS, fr_timer=5.0, t1=0.25)
    assert changed.arms["B"] == Arm("B", 5.0) and changed.arms["A"] == Arm("A", 0.25)
    assert changed.arms["J"] == Arm("J", 16.0) and TIMERS.arms["B"] == Arm("B", 30.0)
    assert changed == Timers(t1=0.25, t2=4.0, t4=5.0, fr_timer=5.0, fr_inv_timer=120.0)
    client = ClientTransaction(True, False, b"INVITE", timers=changed)
    assert client.start() == [Send(b"INVITE"), Arm("A", 0.25), Arm("B", 5.0)]


def test_invite_client_final_stops_exactly_the_timers_running() -> None:
    """A final response disarms only what its state runs (A/B in calling, FR_INV once a
    provisional came, nothing once FR_INV fired), and leaves nothing else running."""
    for provisional, expire in ((None, False), (180, False), (180, True)):
        for status in (200, 486):
            client = ClientTransaction(True, False, b"INVITE", make_ack=lambda: b"ACK", timers=TIMERS)
            wire = Wire(client, "c")
            wire.apply(client.start())
            if provisional:
                wire.apply(client.response(provisional))
            if expire:
                wire.run_until(121.0)
            actions = client.response(status)
            disarmed = {a.timer for a in actions if isinstance(a, Disarm)}
            assert disarmed == set(wire.timers), (provisional, expire, status)
            wire.timers.clear()
            wire.apply(actions)
            assert set(wire.timers) == (set() if status < 300 else {"D"})


def test_a_send_action_is_the_bytes_to_send_themselves() -> None:
    # (no object around them: the edge sends the action as it is)
    request, reply = b"BYE sip:b@h SIP/2.0\r\n\r\n", b"SIP/2.0 200 OK\r\n\r\n"
    client = ClientTransaction(False, False, request, timers=TIMERS)
    first = client.start()[0]
    assert first is request and first.__class__ is Send
    server = ServerTransaction(False, False, TIMERS)
    assert server.respond(200, reply)[0] is reply
    assert server.request() == [reply]  # a retransmitted request gets the same bytes again
