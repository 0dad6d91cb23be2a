"""TransactionLock: reentrant per greenlet, other greenlets wait (its semaphore is made
only on contention)."""
from __future__ import annotations

import gevent
from gevent.event import Event

from opensipsg.tm import TransactionLock


def test_the_owner_reenters_and_others_wait_in_turn() -> None:
    lock = TransactionLock()
    events: list[str] = []

    def holder() -> None:
        with lock:
            with lock:  # reentrant (failure_route's t_relay under handle_reply's lock)
                events.append("holder in")
                gevent.sleep(0.02)
            events.append("holder inner out")
            gevent.sleep(0.01)
        events.append("holder out")

    def waiter(name: str) -> None:
        with lock:
            events.append(f"{name} in")
            gevent.sleep(0.005)
        events.append(f"{name} out")

    first = gevent.spawn(holder)
    gevent.sleep(0)
    others = [gevent.spawn(waiter, "a"), gevent.spawn(waiter, "b")]
    gevent.joinall([first, *others], timeout=2)
    assert events[:3] == ["holder in", "holder inner out", "holder out"]
    assert sorted(events[3:]) == ["a in", "a out", "b in", "b out"]
    # never two inside at once
    assert events.index("a out") < events.index("b in") or events.index("b out") < events.index("a in")
    # free again, for anyone
    with lock:
        pass


def test_a_killed_waiter_leaves_the_lock_usable() -> None:
    lock = TransactionLock()
    released = Event()

    def holder() -> None:
        with lock:
            released.wait()

    owner = gevent.spawn(holder)
    gevent.sleep(0)
    stuck = gevent.spawn(lambda: lock.__enter__())
    gevent.sleep(0.01)
    stuck.kill()
    released.set()
    owner.join(timeout=1)
    entered = gevent.spawn(lambda: lock.__enter__() or "in")
    assert entered.get(timeout=1) == "in"


def test_acquire_release_and_with_are_one_lock() -> None:
    # the hot paths take it with acquire()/release(), the others with `with`: one count
    lock = TransactionLock()
    events: list[str] = []

    def holder() -> None:
        lock.acquire()
        try:
            with lock:  # a failure route's t_reply under handle_reply's acquire()
                events.append("holder in")
                gevent.sleep(0.01)
            events.append("holder still owns it")
            gevent.sleep(0.01)
        finally:
            lock.release()
        events.append("holder out")

    def waiter() -> None:
        lock.acquire()
        events.append("waiter in")
        lock.release()

    first = gevent.spawn(holder)
    gevent.sleep(0)
    other = gevent.spawn(waiter)
    gevent.joinall([first, other], timeout=2)
    assert events == ["holder in", "holder still owns it", "holder out", "waiter in"]
