"""RFC 3261 section 17 transaction state machines, without I/O.

Each machine takes events (a message received, a response to send, a timer that
fired) and returns *actions* for the edge to carry out: send bytes to the peer,
arm or disarm a named timer, deliver something to the transaction user, or
note that the transaction ended. Time never enters: timers are durations that
the edge schedules. Every transition is in one table per machine, keyed by
(state, event), in the spirit of h11's ``_state.py``.

Timer names follow the RFC (A, B, D, E, F, G, H, I, J, K); ``B`` and ``F`` carry
tm's ``fr_timer`` and ``FR_INV`` carries ``fr_inv_timer`` (the wait for a final
reply once a provisional one came), as OpenSIPS does.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Union

# -- actions ---------------------------------------------------------------------
# Values: never changed once made. Not frozen all the same: a frozen dataclass sets
# each field through object.__setattr__, twice the cost of the plain __init__, and a
# proxied call makes about twenty actions (unsafe_hash keeps them hashable as before).


# Send these bytes to the transaction's peer: the bytes are the action themselves (a
# Send object per message sent cost ~1,600 instructions; a call sends six)
Send = bytes


@dataclass(slots=True, unsafe_hash=True)
class Arm:
    """(Re)start the named timer to fire after ``delay`` seconds."""

    timer: str
    delay: float


@dataclass(slots=True, unsafe_hash=True)
class Disarm:
    timer: str


@dataclass(slots=True, unsafe_hash=True)
class Deliver:
    """Hand an event to the transaction user: 'response' (with status), 'timeout', 'ack'."""

    event: str
    status: int = 0


@dataclass(slots=True, unsafe_hash=True)
class Terminate:
    """The transaction is over: forget it."""


Action = Union[Send, Arm, Disarm, Deliver, Terminate]


@dataclass(frozen=True, slots=True)
class Timers:
    """Timer values in seconds (tm's T1_timer, T2_timer, fr_timer, fr_inv_timer...)."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    fr_timer: float = 30.0
    fr_inv_timer: float = 120.0
    wt_timer: float = 5.0  # how long a completed INVITE client waits for response retransmissions (timer D)
    restart_fr_on_each_reply: bool = True
    # the Arm actions whose delay depends on these values only, made once (a call arms
    # about seven of them): timer name -> Arm; "K", "J" are the unreliable-transport ones
    arms: dict[str, "Arm"] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        arms = {name: Arm(name, delay) for name, delay in (
            ("A", self.t1), ("E", self.t1), ("B", self.fr_timer), ("F", self.fr_timer),
            ("FR_INV", self.fr_inv_timer), ("K", self.t4), ("J", 64 * self.t1))}
        object.__setattr__(self, "arms", arms)


TERMINATED = "terminated"

# the actions without per-transaction data, built once (they are never changed): a call's
# transactions hand out about twenty of them
_DISARM_A, _DISARM_B, _DISARM_E, _DISARM_F = Disarm("A"), Disarm("B"), Disarm("E"), Disarm("F")
_DISARM_G, _DISARM_H, _DISARM_FR_INV = Disarm("G"), Disarm("H"), Disarm("FR_INV")
_TERMINATE = Terminate()
_TIMEOUT = Deliver("timeout")
_ACK = Deliver("ack")
_ARM_D_RELIABLE, _ARM_D, _ARM_K_RELIABLE = Arm("D", 0.0), Arm("D", 32.0), Arm("K", 0.0)
_ARM_J_RELIABLE = Arm("J", 0.0)
# Deliver("response", status) for every status a parsed reply can have (made once, not per reply)
_DELIVER_RESPONSE = {status: Deliver("response", status) for status in range(100, 1000)}


# -- server transactions (17.2) -------------------------------------------------


@dataclass(slots=True, init=False)
class ServerTransaction:
    """INVITE (17.2.1) and non-INVITE (17.2.2) server transactions.

    Events: ``request()`` (a retransmission arrived), ``respond(status, data)``
    (the TU sends a response), ``ack()`` (an ACK for a non-2xx final arrived),
    ``timer(name)``.
    """

    invite: bool
    reliable: bool
    timers: Timers = field(default_factory=Timers)
    state: str = ""
    last_response: bytes | None = None
    last_status: int = 0
    _g_interval: float = 0.0

    # hand-written (one per transaction): the dataclass __init__ plus __post_init__ was two frames
    def __init__(self, invite: bool, reliable: bool, timers: Timers | None = None, state: str = "",
                 last_response: bytes | None = None, last_status: int = 0, _g_interval: float = 0.0) -> None:
        self.invite = invite
        self.reliable = reliable
        self.timers = timers if timers is not None else Timers()
        self.state = state or ("proceeding" if invite else "trying")
        self.last_response = last_response
        self.last_status = last_status
        self._g_interval = _g_interval

    # events
    def request(self) -> list[Action]:
        return self._fire("request")

    def respond(self, status: int, data: bytes) -> list[Action]:
        event = "1xx" if status < 200 else ("2xx" if status < 300 else "final")
        if not self.invite and event == "2xx":
            event = "final"
        # (_fire's lookup inline: a frame less per response sent)
        handler = (_INVITE_SERVER if self.invite else _NON_INVITE_SERVER).get((self.state, event))
        return [] if handler is None else handler(self, status, data)

    def ack(self) -> list[Action]:
        return self._fire("ack")

    def timer(self, name: str) -> list[Action]:
        return self._fire("timer_" + name)

    def _fire(self, event: str, status: int = 0, data: bytes = b"") -> list[Action]:
        table = _INVITE_SERVER if self.invite else _NON_INVITE_SERVER
        handler = table.get((self.state, event))
        if handler is None:
            return []  # events that do not apply in this state are absorbed
        return handler(self, status, data)

    # transitions
    def _resend(self, status: int, data: bytes) -> list[Action]:
        return [self.last_response] if self.last_response is not None else []

    def _absorb(self, status: int, data: bytes) -> list[Action]:
        return []

    def _send_provisional(self, status: int, data: bytes) -> list[Action]:
        self.last_response, self.last_status = data, status
        if not self.invite:
            self.state = "proceeding"
        return [data]

    def _send_2xx_invite(self, status: int, data: bytes) -> list[Action]:
        # 17.2.1: a 2xx ends the INVITE server transaction; the TU (proxy) relays
        # 2xx retransmissions itself. We keep the last response around for the
        # TU's own wait period, but the machine itself is done.
        self.last_response, self.last_status = data, status
        self.state = TERMINATED
        return [data, _TERMINATE]

    def _send_final_invite(self, status: int, data: bytes) -> list[Action]:
        self.last_response, self.last_status = data, status
        self.state = "completed"
        actions: list[Action] = [data, Arm("H", 64 * self.timers.t1)]
        if not self.reliable:
            self._g_interval = self.timers.t1
            actions.append(Arm("G", self._g_interval))
        return actions

    def _timer_g(self, status: int, data: bytes) -> list[Action]:
        self._g_interval = min(2 * self._g_interval, self.timers.t2)
        return [self.last_response or b"", Arm("G", self._g_interval)]

    def _timer_h(self, status: int, data: bytes) -> list[Action]:
        self.state = TERMINATED
        return [_DISARM_G, _TIMEOUT, _TERMINATE]

    def _ack_completed(self, status: int, data: bytes) -> list[Action]:
        self.state = "confirmed"
        delay = 0.0 if self.reliable else self.timers.t4
        return [_DISARM_G, _DISARM_H, _ACK, Arm("I", delay)]

    def _end(self, status: int, data: bytes) -> list[Action]:
        self.state = TERMINATED
        return [_TERMINATE]

    def _send_final_non_invite(self, status: int, data: bytes) -> list[Action]:
        self.last_response, self.last_status = data, status
        self.state = "completed"
        return [data, _ARM_J_RELIABLE if self.reliable else self.timers.arms["J"]]


S = ServerTransaction
_INVITE_SERVER: dict[tuple[str, str], Callable[..., list[Action]]] = {
    ("proceeding", "request"): S._resend,
    ("proceeding", "1xx"): S._send_provisional,
    ("proceeding", "2xx"): S._send_2xx_invite,
    ("proceeding", "final"): S._send_final_invite,
    ("completed", "request"): S._resend,
    ("completed", "ack"): S._ack_completed,
    ("completed", "timer_G"): S._timer_g,
    ("completed", "timer_H"): S._timer_h,
    ("confirmed", "ack"): S._absorb,
    ("confirmed", "request"): S._absorb,
    ("confirmed", "timer_I"): S._end,
}
_NON_INVITE_SERVER: dict[tuple[str, str], Callable[..., list[Action]]] = {
    ("trying", "request"): S._absorb,
    ("trying", "1xx"): S._send_provisional,
    ("trying", "final"): S._send_final_non_invite,
    ("proceeding", "request"): S._resend,
    ("proceeding", "1xx"): S._send_provisional,
    ("proceeding", "final"): S._send_final_non_invite,
    ("completed", "request"): S._resend,
    ("completed", "timer_J"): S._end,
}
del S


# -- client transactions (17.1) -------------------------------------------------


@dataclass(slots=True)
class ClientTransaction:
    """INVITE (17.1.1) and non-INVITE (17.1.2) client transactions.

    ``start()`` sends the request; ``response(status)`` feeds a received
    response (the TU forwards it when a Deliver comes back); ``timer(name)``.
    ``make_ack(status)`` builds the hop-by-hop ACK for a negative final reply
    to an INVITE (17.1.1.3); the transaction sends it, and again for each
    retransmission of that reply.
    """

    invite: bool
    reliable: bool
    request: bytes
    make_ack: Callable[[], bytes] | None = None
    timers: Timers = field(default_factory=Timers)
    state: str = ""
    last_status: int = 0
    _interval: float = 0.0
    _ack: bytes | None = None

    def start(self) -> list[Action]:
        self.state = "calling" if self.invite else "trying"
        timers = self.timers
        self._interval = timers.t1
        arms = timers.arms
        if self.reliable:
            return [self.request, arms["B" if self.invite else "F"]]
        if self.invite:
            return [self.request, arms["A"], arms["B"]]
        return [self.request, arms["E"], arms["F"]]

    def response(self, status: int) -> list[Action]:
        event = "1xx" if status < 200 else ("2xx" if status < 300 else "final")
        if not self.invite and event == "2xx":
            event = "final"
        # (_fire's lookup inline: a frame less per response received)
        handler = (_INVITE_CLIENT if self.invite else _NON_INVITE_CLIENT).get((self.state, event))
        return [] if handler is None else handler(self, status)

    def timer(self, name: str) -> list[Action]:
        return self._fire("timer_" + name, 0)

    def _fire(self, event: str, status: int) -> list[Action]:
        table = _INVITE_CLIENT if self.invite else _NON_INVITE_CLIENT
        handler = table.get((self.state, event))
        if handler is None:
            return []
        return handler(self, status)

    # INVITE client
    def _retransmit_a(self, status: int) -> list[Action]:
        self._interval *= 2
        return [self.request, Arm("A", self._interval)]

    def _timeout(self, status: int) -> list[Action]:
        self.state = TERMINATED
        return [_DISARM_A, _DISARM_E, _TIMEOUT, _TERMINATE]

    def _expire(self, status: int) -> list[Action]:
        # fr_inv_timer, the proxy's Timer C (16.8): the TU is told (it CANCELs the
        # branch), but the transaction stays to ACK the final response that ends it
        # (17.1.1.3) and to hand up a 2xx that crossed the CANCEL (16.7 step 10)
        self.state = "expired"
        return [_TIMEOUT]

    def _invite_final_expired(self, status: int) -> list[Action]:
        return [a for a in self._invite_final(status) if not isinstance(a, Deliver)]

    def _provisional_calling(self, status: int) -> list[Action]:
        self.state = "proceeding"
        self.last_status = status
        deliver = _DELIVER_RESPONSE.get(status) or Deliver("response", status)
        return [_DISARM_A, _DISARM_B, self.timers.arms["FR_INV"], deliver]

    def _provisional_proceeding(self, status: int) -> list[Action]:
        self.last_status = status
        if self.timers.restart_fr_on_each_reply:
            return [self.timers.arms["FR_INV"], _DELIVER_RESPONSE.get(status) or Deliver("response", status)]
        return [_DELIVER_RESPONSE.get(status) or Deliver("response", status)]

    def _invite_2xx(self, status: int) -> list[Action]:
        disarms = _STOP_TIMERS[self.state]
        self.state = TERMINATED
        self.last_status = status
        return [*disarms, _DELIVER_RESPONSE.get(status) or Deliver("response", status), _TERMINATE]

    def _invite_final(self, status: int) -> list[Action]:
        actions: list[Action] = [*_STOP_TIMERS[self.state]]
        self.state = "completed"
        self.last_status = status
        self._ack = self.make_ack() if self.make_ack is not None else None
        if self._ack is not None:
            actions.append(self._ack)
        actions.append(_DELIVER_RESPONSE.get(status) or Deliver("response", status))
        actions.append(_ARM_D_RELIABLE if self.reliable else _ARM_D)
        return actions

    def _resend_ack(self, status: int) -> list[Action]:
        return [self._ack] if self._ack is not None else []

    def _end(self, status: int) -> list[Action]:
        self.state = TERMINATED
        return [_TERMINATE]

    # non-INVITE client
    def _retransmit_e(self, status: int) -> list[Action]:
        if self.state == "trying":
            self._interval = min(2 * self._interval, self.timers.t2)
        else:
            self._interval = self.timers.t2
        return [self.request, Arm("E", self._interval)]

    def _provisional_trying(self, status: int) -> list[Action]:
        self.state = "proceeding"
        self.last_status = status
        return [_DELIVER_RESPONSE.get(status) or Deliver("response", status)]

    def _non_invite_final(self, status: int) -> list[Action]:
        self.state = "completed"
        self.last_status = status
        return [
            _DISARM_E,
            _DISARM_F,
            _DELIVER_RESPONSE.get(status) or Deliver("response", status),
            _ARM_K_RELIABLE if self.reliable else self.timers.arms["K"],
        ]

    def _absorb(self, status: int) -> list[Action]:
        return []


# what a final response stops in each state of an INVITE client: only the timers running
# there (the first provisional stopped A and B and started FR_INV; "expired": FR_INV fired)
_STOP_TIMERS: dict[str, tuple[Action, ...]] = {
    "calling": (_DISARM_A, _DISARM_B), "proceeding": (_DISARM_FR_INV,), "expired": ()}

C = ClientTransaction
_INVITE_CLIENT: dict[tuple[str, str], Callable[..., list[Action]]] = {
    ("calling", "timer_A"): C._retransmit_a,
    ("calling", "timer_B"): C._timeout,
    ("calling", "1xx"): C._provisional_calling,
    ("calling", "2xx"): C._invite_2xx,
    ("calling", "final"): C._invite_final,
    ("proceeding", "1xx"): C._provisional_proceeding,
    ("proceeding", "2xx"): C._invite_2xx,
    ("proceeding", "final"): C._invite_final,
    ("proceeding", "timer_FR_INV"): C._expire,
    ("expired", "1xx"): C._absorb,
    ("expired", "2xx"): C._invite_2xx,
    ("expired", "final"): C._invite_final_expired,
    ("completed", "final"): C._resend_ack,
    ("completed", "timer_D"): C._end,
}
_NON_INVITE_CLIENT: dict[tuple[str, str], Callable[..., list[Action]]] = {
    ("trying", "timer_E"): C._retransmit_e,
    ("trying", "timer_F"): C._timeout,
    ("trying", "1xx"): C._provisional_trying,
    ("trying", "final"): C._non_invite_final,
    ("proceeding", "timer_E"): C._retransmit_e,
    ("proceeding", "timer_F"): C._timeout,
    ("proceeding", "1xx"): C._provisional_trying,
    ("proceeding", "final"): C._non_invite_final,
    ("completed", "final"): C._absorb,
    ("completed", "timer_K"): C._end,
}
del C
