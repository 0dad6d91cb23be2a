"""TimerSet and the hub's TimerQueue (real gevent timers,
short delays)."""
from __future__ import annotations

import weakref

import gevent
import pytest

from opensipsg.transport.timers import TimerQueue, TimerSet, shared_queue


def recorder() -> tuple[list[tuple[str, str]], object]:
    fired: list[tuple[str, str]] = []

    def callback(arg: str, name: str) -> None:
        fired.append((arg, name))

    return fired, callback


def test_timers_fire_in_deadline_order_whatever_the_arming_order() -> None:
    fired, callback = recorder()
    timers = TimerSet()
    timers.arm("late", 0.06, callback, "x")
    timers.arm("early", 0.02, callback, "y")  # earlier than the libev timer running: it is replaced
    gevent.sleep(0.04)
    assert fired == [("y", "early")]
    gevent.sleep(0.05)
    assert fired == [("y", "early"), ("x", "late")]


@pytest.mark.parametrize("change, expected", [
    # the libev timer still comes due at A's old deadline: nothing runs then
    (lambda timers, callback: timers.disarm("A"), [("t", "B")]),
    (lambda timers, callback: timers.arm("A", 0.05, callback, "again"), [("t", "B"), ("again", "A")]),
])
def test_disarming_or_rearming_a_name_drops_its_old_deadline(change, expected) -> None:
    fired, callback = recorder()
    timers = TimerSet()
    timers.arm("A", 0.01, callback, "t")
    timers.arm("B", 0.04, callback, "t")
    change(timers, callback)
    gevent.sleep(0.02)
    assert fired == []
    gevent.sleep(0.06)
    assert fired == expected


def test_clear_stops_everything_and_the_set_can_be_armed_again() -> None:
    fired, callback = recorder()
    timers = TimerSet()
    timers.arm("A", 0.01, callback, "t")
    timers.arm("B", 0.02, callback, "t")
    timers.clear()
    gevent.sleep(0.04)
    assert fired == []
    timers.arm("C", 0.01, callback, "t")
    gevent.sleep(0.03)
    assert fired == [("t", "C")]


def test_clear_group_stops_only_the_timers_named_for_that_group() -> None:
    fired, callback = recorder()
    timers = TimerSet()
    timers.arm((0, "A"), 0.01, callback, "t")
    timers.arm((1, "A"), 0.01, callback, "t")
    timers.arm("wait", 0.02, callback, "t")
    timers.clear_group(0)
    gevent.sleep(0.04)
    assert fired == [("t", (1, "A")), ("t", "wait")]


def test_a_timer_armed_from_its_own_callback_fires_again() -> None:
    fired: list[str] = []
    timers = TimerSet()

    def again(arg: int, name: str) -> None:
        fired.append(name)
        if len(fired) < 3:
            timers.arm(name, 0.01, again, arg)

    timers.arm("G", 0.01, again, 0)
    gevent.sleep(0.1)
    assert fired == ["G", "G", "G"]


def test_timers_of_different_sets_share_one_queue_and_fire_in_order() -> None:
    fired, callback = recorder()
    first, second = TimerSet(), TimerSet()
    second.arm("B", 0.03, callback, "second")
    first.arm("A", 0.01, callback, "first")
    first.arm("C", 0.05, callback, "first")
    gevent.sleep(0.08)
    assert fired == [("first", "A"), ("second", "B"), ("first", "C")]


def test_cancelled_entries_keep_nothing_alive_and_the_heap_stays_bounded() -> None:
    class Owner:
        pass

    fired, callback = recorder()
    queue = shared_queue()
    before = len(queue)
    owner = Owner()
    alive = weakref.ref(owner)
    timers = TimerSet()
    timers.arm("F", 30.0, callback, owner)
    timers.disarm("F")
    del owner
    assert alive() is None  # the cancelled heap entry does not hold the transaction
    for _ in range(5 * TimerQueue.COMPACT_AFTER):
        timers = TimerSet()
        timers.arm("B", 32.0, callback, None)
        timers.arm("A", 0.5, callback, None)
        timers.clear()
    assert len(queue) - before <= 2 * TimerQueue.COMPACT_AFTER + 2
    assert fired == []


def test_callbacks_due_together_run_in_order_past_a_blocking_or_failing_one() -> None:
    """The due callbacks of one expiry run one after another in a worker; one that blocks
    leaves the rest to another worker, one that raises is logged and the rest still run."""
    fired: list[str] = []

    def blocking(arg: str, name: str) -> None:
        fired.append(name)
        gevent.sleep(0.05)
        fired.append(name + " resumed")

    def failing(arg: str, name: str) -> None:
        fired.append(name)
        raise RuntimeError("boom")

    def plain(arg: str, name: str) -> None:
        fired.append(name)

    timers = TimerSet()
    timers.arm("a", 0.01, plain, None)
    timers.arm("b", 0.01, blocking, None)
    timers.arm("c", 0.01, failing, None)
    timers.arm("d", 0.01, plain, None)
    gevent.sleep(0.03)
    assert fired == ["a", "b", "c", "d"]
    gevent.sleep(0.05)
    assert fired == ["a", "b", "c", "d", "b resumed"]


def test_many_delays_fire_in_deadline_order_across_lanes_and_the_shared_heap() -> None:
    """Each delay has a FIFO lane, up to LANES of them; further delays share a heap.
    Deadlines interleaved over more delays than that still fire in deadline order."""
    from opensipsg.transport import timers as timers_module

    fired, callback = recorder()
    sets = []
    delays = [0.010 + 0.0005 * i for i in range(timers_module.LANES + 8)]
    for i, delay in enumerate(reversed(delays)):  # the latest armed first
        timers = TimerSet()
        timers.arm("x", delay, callback, f"{delay:.4f}")
        sets.append(timers)
        if i % 5 == 0:
            timers.arm("gone", delay / 2, callback, "never")
            timers.disarm("gone")
    gevent.sleep(0.08)
    assert [arg for arg, _ in fired] == [f"{delay:.4f}" for delay in delays]


def test_a_live_deadline_at_the_front_of_its_lane_does_not_keep_the_cancelled_behind_it() -> None:
    """A call ringing for minutes holds the front of the fr_inv_timer lane; the entries of
    the calls after it, all cancelled, must not pile up behind it."""
    fired, callback = recorder()
    queue = shared_queue()
    before = len(queue)
    ringing = TimerSet()
    ringing.arm("FR_INV", 120.0, callback, "ringing")
    for _ in range(5 * TimerQueue.COMPACT_AFTER):
        timers = TimerSet()
        timers.arm("FR_INV", 120.0, callback, None)
        timers.disarm("FR_INV")
    assert len(queue) - before <= 2 * TimerQueue.COMPACT_AFTER + 2
    ringing.clear()
    assert fired == []
