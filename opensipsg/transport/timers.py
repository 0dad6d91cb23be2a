"""Timers of the transaction layer: every deadline of one hub in one queue, on one libev timer.

A proxied call arms about ten timers (retransmission, final-response and wait
timers of two transactions and their branches) and disarms most of them long
before they are due: a provisional reply stops A and E, a final reply B, F and
fr_inv_timer. A libev timer per transaction used to fire for deadlines that
had been disarmed meanwhile, and cost a watcher object each time the earliest
deadline moved. Here a :class:`TimerSet` (the named timers of one transaction
or branch) puts its deadlines in the hub's :class:`TimerQueue`, with a single
libev timer set for its earliest live entry.

The queue is a FIFO *lane* per delay: tm arms a handful of delays (T1 and its
doublings, fr_timer, fr_inv_timer, wt_timer, T4), and deadlines of one delay
come due in the order they were armed, so each lane is sorted by construction;
taking the earliest off is O(1) and touches only the front. (One binary heap
of every deadline cost about 15 cache-cold levels per pop with the wait timers
of some 10,000 calls in it.) Delays beyond the first :data:`LANES` distinct
ones, e.g. fr_timer AVPs with many values, share one heap. Disarming only marks
the entry cancelled; cancelled entries are dropped when they reach the front,
and the queue is rebuilt without them once they are the majority (a live
fr_inv_timer at the front of its lane keeps those behind it), so it never
holds more than about twice the live deadlines. asyncio's event loop handles
cancelled timer handles the same way.

Callbacks run in pooled worker greenlets (workers.py), so they may block: the callbacks due
at one expiry run one after another in a worker, and another worker takes the rest over when
one of them blocks.
"""
from __future__ import annotations

import logging
from collections import deque
from heapq import heapify, heappop, heappush
from itertools import count
from time import monotonic
from typing import Any

import gevent

from .workers import shared_pool

log = logging.getLogger("opensipsg.transport")

# an entry: [deadline, sequence number, owner TimerSet (None once cancelled), name, callback, arg];
# a list, so cancelling can clear it in place; the unique sequence number keeps comparisons to two fields
_AT, _SEQ, _OWNER, _NAME, _CALLBACK, _ARG = range(6)

LANES = 32  # distinct delays with a FIFO lane of their own; the others share a heap


class _HeapLane(list):  # type: ignore[type-arg]
    """The lane of the delays without one of their own: a heap with a lane's two methods."""

    __slots__ = ()

    def append(self, entry: list[Any]) -> None:  # type: ignore[override]
        heappush(self, entry)

    def popleft(self) -> list[Any]:
        return heappop(self)


class TimerQueue:
    """The deadlines of every TimerSet of one hub (see the module docstring)."""

    # a deadline this close is due (libev's and our clocks round differently)
    SLACK = 0.001
    # rebuild the queue once more than half of it, and at least this many entries, are cancelled
    COMPACT_AFTER = 1024

    def __init__(self, loop: Any) -> None:
        self._loop = loop
        self._lanes: dict[float, Any] = {}  # delay -> its FIFO (a deque)
        self._heap = _HeapLane()
        self._seq = count()
        self._timer: Any = None
        self._timer_at = 0.0
        self.size = 0  # entries in the lanes and the heap, cancelled ones included
        self.cancelled = 0

    def __len__(self) -> int:
        """Entries queued, cancelled ones included."""
        return self.size

    def lane(self, delay: float) -> Any:
        """Where a deadline ``delay`` seconds from now goes (TimerSet.arm asks when the
        lanes have none for it yet)."""
        lane = self._lanes.get(delay)
        if lane is None:
            if len(self._lanes) >= LANES:
                return self._heap
            lane = self._lanes[delay] = deque()
        return lane

    def cancel(self, entry: list[Any]) -> None:
        entry[_OWNER] = entry[_CALLBACK] = entry[_ARG] = None  # nothing of the owner stays referenced
        self.cancelled += 1
        if self.cancelled > self.COMPACT_AFTER and 2 * self.cancelled > self.size:
            self._compact()

    def _compact(self) -> None:
        size = 0
        for delay, lane in self._lanes.items():
            lane = self._lanes[delay] = deque(e for e in lane if e[_OWNER] is not None)
            size += len(lane)
        heap = self._heap = _HeapLane(e for e in self._heap if e[_OWNER] is not None)
        heapify(heap)
        self.size = size + len(heap)
        self.cancelled = 0

    def _start(self, at: float) -> None:
        old = self._timer
        if old is not None:
            old.stop()
            old.close()
        timer = self._loop.timer(max(at - monotonic(), 0.0))
        self._timer, self._timer_at = timer, at
        # update: count from now, not from the loop's cached time (else it comes due
        # before ``at`` whenever this loop iteration has run for a while)
        timer.start(self._expired, update=True)

    def _expired(self) -> None:
        """In the hub: take the due entries off the lanes, wait for the next live one, run them."""
        self._timer = None  # it has fired: nothing to stop
        due_before = monotonic() + self.SLACK
        due = []
        taken = cancelled = 0
        earliest = None
        for lane in (*self._lanes.values(), self._heap):
            while lane:
                entry = lane[0]
                owner = entry[_OWNER]
                if owner is None:  # cancelled: dropped when it reaches the front, due or not
                    lane.popleft()
                    cancelled += 1
                elif entry[_AT] <= due_before:
                    lane.popleft()
                    del owner._deadlines[entry[_NAME]]
                    due.append(entry)
                else:  # the lane's next live deadline
                    if earliest is None or entry[_AT] < earliest:
                        earliest = entry[_AT]
                    break
            taken += cancelled
            self.cancelled -= cancelled
            cancelled = 0
        self.size -= taken + len(due)
        if earliest is not None:
            self._start(earliest)
        if due:
            if len(due) > 1:
                due.sort()  # deadline order across the lanes
            due.reverse()  # _run_due pops them in deadline order
            run = shared_pool().run  # we are in the hub: a pooled worker runs them now
            while due:
                # back here when the worker is done, or when a callback blocked in it: then
                # another worker runs the rest, so a blocked callback holds up no other
                run(_run_due, due)


def _run_due(due: list[list[Any]]) -> None:
    """In a worker: the due callbacks one after another (one switch pair per expiry, not per
    callback); shared with the workers that take over when one blocks (each pops its own)."""
    while due:
        entry = due.pop()
        try:
            entry[_CALLBACK](entry[_ARG], entry[_NAME])
        except Exception:
            log.exception("timer callback %r failed", entry[_CALLBACK])


def shared_queue() -> TimerQueue:
    """The timer queue of the current hub (one hub per thread; tests may make new hubs)."""
    hub = gevent.get_hub()
    queue = getattr(hub, "opensipsg_timers", None)
    if queue is None:
        queue = hub.opensipsg_timers = TimerQueue(hub.loop)
    return queue


class TimerSet:
    """Named timers of one owner (a transaction, a branch).

    ``arm(name, delay, callback, arg)`` runs ``callback(arg, name)`` in a worker
    greenlet after ``delay`` seconds; arming a name again replaces its deadline;
    ``disarm(name)`` and ``clear()`` forget deadlines; ``clear_group(group)`` those
    named ``(group, ...)`` (a transaction keeps its branches' timers as ``(index, name)``).
    """

    __slots__ = ("_deadlines", "_queue")

    def __init__(self) -> None:
        self._deadlines: dict[str, list[Any]] = {}
        self._queue = shared_queue()

    def arm(self, name: str, delay: float, callback: Any, arg: Any) -> None:
        deadlines = self._deadlines
        queue = self._queue
        old = deadlines.get(name)
        if old is not None:
            queue.cancel(old)
        at = monotonic() + delay if delay > 0.0 else monotonic()
        # straight onto the lane of this delay (a call arms about ten of these)
        entry = deadlines[name] = [at, next(queue._seq), self, name, callback, arg]
        lane = queue._lanes.get(delay)
        if lane is None:
            lane = queue.lane(delay)
        lane.append(entry)
        queue.size += 1
        if queue._timer is None or at < queue._timer_at:
            queue._start(at)

    def disarm(self, name: str) -> None:
        entry = self._deadlines.pop(name, None)
        if entry is not None:
            # TimerQueue.cancel() inline (most disarms find a deadline: a reply stops two or three)
            entry[_OWNER] = entry[_CALLBACK] = entry[_ARG] = None
            queue = self._queue
            cancelled = queue.cancelled = queue.cancelled + 1
            if cancelled > queue.COMPACT_AFTER and 2 * cancelled > queue.size:
                queue._compact()

    def clear_group(self, group: Any) -> None:
        deadlines = self._deadlines
        if deadlines:
            for name in [n for n in deadlines if n.__class__ is tuple and n[0] == group]:
                self._queue.cancel(deadlines.pop(name))

    def clear(self) -> None:
        deadlines = self._deadlines
        if deadlines:
            cancel = self._queue.cancel
            for entry in deadlines.values():
                cancel(entry)
            deadlines.clear()
