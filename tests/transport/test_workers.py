"""WorkerPool: handlers run in reused greenlets, a blocked handler does not hold up the others."""
from __future__ import annotations

import gevent
from gevent.event import Event
from greenlet import getcurrent

from opensipsg.transport.workers import WorkerPool


def test_workers_are_reused_between_jobs():
    pool = WorkerPool()
    seen = []
    for n in range(5):
        pool.spawn(lambda n=n: seen.append((n, getcurrent())))
        gevent.sleep(0)
    assert [n for n, _ in seen] == [0, 1, 2, 3, 4]
    assert len({id(g) for _, g in seen}) == 1  # one greenlet did all five
    assert pool.idle == 1


def test_a_blocked_handler_does_not_stop_the_next_one():
    pool = WorkerPool()
    release = Event()
    order = []

    def slow():
        order.append("slow started")
        release.wait(5)
        order.append("slow done")

    pool.spawn(slow)
    pool.spawn(lambda: order.append("quick"))
    gevent.sleep(0.01)
    assert order == ["slow started", "quick"]
    release.set()
    gevent.sleep(0.01)
    assert order[-1] == "slow done"
    assert pool.idle == 2


def test_an_exception_is_logged_and_the_worker_goes_on(caplog):
    pool = WorkerPool()

    def broken():
        raise ValueError("boom")

    pool.spawn(broken)
    gevent.sleep(0)
    assert "boom" in caplog.text
    done = []
    pool.spawn(lambda: done.append(True))
    gevent.sleep(0)
    assert done == [True]
    assert pool.idle == 1


def test_idle_workers_are_capped():
    pool = WorkerPool(max_idle=2)
    release = Event()
    for _ in range(5):
        pool.spawn(release.wait, 5)
    gevent.sleep(0.01)
    assert pool.idle == 0
    release.set()
    gevent.sleep(0.01)
    assert pool.idle == 2


def test_a_stray_wake_up_is_not_run_and_the_worker_retires(caplog):
    pool = WorkerPool()
    holder = []
    pool.spawn(lambda: holder.append(getcurrent()))
    gevent.sleep(0)
    worker = holder[0]
    assert pool.idle == 1
    # something that is not the pool switches into the idle worker (a leaked waiter, say)
    gevent.get_hub().loop.run_callback(worker.switch, "not a job")
    gevent.sleep(0)
    assert "woken unexpectedly" in caplog.text
    assert worker.dead
    assert pool.idle == 0
    done = []
    pool.spawn(lambda: done.append(True))
    gevent.sleep(0)
    assert done == [True]


def test_one_shared_pool_per_hub():
    from opensipsg.transport.workers import shared_pool

    assert shared_pool() is shared_pool()
    assert shared_pool().hub is gevent.get_hub()
