"""Greenlets that are reused from one message to the next.

Every message is handled in a greenlet of its own, so that a script may block
on a database or a RADIUS server while other messages go on. A new greenlet
per message is not free on CPython 3.11: each one gets a fresh 16 KiB chunk of
Python frame stack, which the allocator takes with ``mmap`` and gives back
with ``munmap`` when the greenlet ends, and its first use faults the pages in
(strace showed one mmap/munmap pair per REGISTER). A worker that loops keeps
its chunk, so the pool keeps the greenlets that are idle and hands the next
message to one of them.

:meth:`WorkerPool.run` switches into the worker at once, so it must be called
from the hub greenlet (a watcher callback): when the handler finishes or
blocks, control returns to the hub, i.e. to the caller. From anywhere else use
:meth:`WorkerPool.spawn`, which queues the call as a hub callback.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

import gevent
from greenlet import getcurrent
from greenlet import greenlet as RawGreenlet

log = logging.getLogger("opensipsg.transport")

MAX_IDLE = 128  # idle workers kept after a burst; more than this end when done


class _Job(tuple):
    """What the pool switches into a worker: (function, args). A distinct type, so a
    stray switch into an idle worker (a leaked waiter) is recognised and not run."""

    __slots__ = ()


class WorkerPool:
    def __init__(self, max_idle: int = MAX_IDLE) -> None:
        self.hub = gevent.get_hub()
        self.max_idle = max_idle
        self._idle: list[RawGreenlet] = []

    def run(self, function: Callable[..., Any], *args: Any) -> None:
        """Run ``function(*args)`` in a worker now; call only from the hub greenlet."""
        idle = self._idle
        worker = idle.pop() if idle else RawGreenlet(self._work, self.hub)
        worker.switch(_Job((function, args)))

    def spawn(self, function: Callable[..., Any], *args: Any) -> None:
        """Run ``function(*args)`` in a worker soon; callable from any greenlet."""
        self.hub.loop.run_callback(self.run, function, *args)

    @property
    def idle(self) -> int:
        return len(self._idle)

    def _work(self, job: _Job) -> None:
        idle = self._idle
        hub_switch = self.hub.switch
        me = getcurrent()
        while True:
            function, args = job
            try:
                function(*args)
            except Exception:
                log.exception("unhandled error in a message handler")
            job = function = args = None  # type: ignore[assignment]
            if len(idle) >= self.max_idle:
                return  # the greenlet ends; its parent, the hub, goes on
            idle.append(me)
            job = hub_switch()
            if type(job) is not _Job:
                # woken by something other than the pool: never run it, never reuse
                if me in idle:
                    idle.remove(me)
                log.error("message worker woken unexpectedly with %r; retiring it", job)
                return



def shared_pool() -> WorkerPool:
    """The pool of the current hub (one hub per thread; tests may make new hubs)."""
    hub = gevent.get_hub()
    pool = getattr(hub, "opensipsg_workers", None)
    if pool is None:
        pool = hub.opensipsg_workers = WorkerPool()
    return pool
