"""The durable accounting spool: records wait here until their server took them.

Every record for the database or RADIUS backend is first written to a local
SQLite file (``<spool_dir>/acc-spool.sqlite``; WAL journal with
``synchronous=FULL``, so each enqueue is fsync'ed before the SIP path goes
on) and then delivered by one background greenlet per backend, oldest row
first. The SIP path never waits for a server: enqueue is a local write, and
delivery is asynchronous.

Delivery, per backend, in order:

* the head row is handed to the backend's sender;
* ``DELIVERED`` (the server acknowledged: Accounting-Response, INSERT done)
  -> the row is deleted, the next one follows at once;
* ``RETRY`` (server unreachable, timeout) -> the row stays at the head, the
  worker sleeps with exponential backoff (``min_backoff`` doubling up to
  ``max_backoff``) and tries the same row again; later rows wait behind it,
  so order is kept;
* ``REJECT`` (the server is up but refuses this row for good, e.g. a db_extra
  column the table lacks) -> the row moves to the ``dead`` table (kept for
  the operator, logged) so one bad record cannot block accounting forever.

A restart keeps the file; the new process resumes with the oldest row.

Exactly-once, honestly:

* **at most once per spool row**: a row is deleted only after the server
  acknowledged it, and is never delivered again after that;
* **at least once on the wire**: if the server took a record but its answer
  was lost (or the process died between the acknowledgement and the delete),
  the row is sent again later. For RADIUS the resend is a new
  Accounting-Request (new Identifier, Acct-Delay-Time = seconds since the
  record was made), so the server cannot tell it from a retransmission by
  the Identifier; consumers that must be exact deduplicate on
  (Acct-Session-Id, Acct-Status-Type, Event-Timestamp, Sip-From-Tag,
  Sip-To-Tag) -- what FreeRADIUS' acct_unique policy hashes. Inside one
  delivery attempt pyrad's own retransmissions reuse the Identifier. For
  the database a duplicate is a second identical acc row.

In practice (servers that are simply down, as in the tests) every record
arrives exactly once.
"""
from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from typing import Any, Callable

log = logging.getLogger("opensipsg.acc.spool")

DELIVERED = "delivered"
RETRY = "retry"
REJECT = "reject"

SPOOL_FILE = "acc-spool.sqlite"


class Spool:
    """The SQLite file (see module docstring). Thread/greenlet safe (one lock)."""

    def __init__(self, directory: str, filename: str = SPOOL_FILE) -> None:
        os.makedirs(directory, mode=0o750, exist_ok=True)
        self.path = os.path.join(directory, filename)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS records (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "backend TEXT NOT NULL, payload TEXT NOT NULL, created REAL NOT NULL, "
            "attempts INTEGER NOT NULL DEFAULT 0)")
        self._conn.execute("CREATE INDEX IF NOT EXISTS records_backend_idx ON records (backend, id)")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS dead (id INTEGER PRIMARY KEY, backend TEXT NOT NULL, "
            "payload TEXT NOT NULL, created REAL NOT NULL, attempts INTEGER NOT NULL, "
            "failed REAL NOT NULL, error TEXT NOT NULL DEFAULT '')")

    def enqueue(self, backend: str, payload: Any, created: float | None = None) -> int:
        """Store one record durably (committed and fsync'ed on return); its row id."""
        text = json.dumps(payload, separators=(",", ":"))
        with self._lock:
            cursor = self._conn.execute(
                "INSERT INTO records (backend, payload, created) VALUES (?, ?, ?)",
                (backend, text, time.time() if created is None else created))
            return int(cursor.lastrowid or 0)

    def head(self, backend: str, limit: int = 1) -> list[tuple[int, Any, float, int]]:
        """The oldest rows of ``backend``: (id, payload, created, attempts)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, payload, created, attempts FROM records WHERE backend = ? ORDER BY id LIMIT ?",
                (backend, limit)).fetchall()
        return [(r[0], json.loads(r[1]), r[2], r[3]) for r in rows]

    def delete(self, row_id: int) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM records WHERE id = ?", (row_id,))

    def failed_attempt(self, row_id: int) -> None:
        with self._lock:
            self._conn.execute("UPDATE records SET attempts = attempts + 1 WHERE id = ?", (row_id,))

    def bury(self, row_id: int, error: str) -> None:
        """Move a row the server refuses for good to the ``dead`` table."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute(
                    "INSERT INTO dead (id, backend, payload, created, attempts, failed, error) "
                    "SELECT id, backend, payload, created, attempts + 1, ?, ? FROM records WHERE id = ?",
                    (time.time(), error[:500], row_id))
                self._conn.execute("DELETE FROM records WHERE id = ?", (row_id,))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def count(self, backend: str | None = None) -> int:
        with self._lock:
            if backend is None:
                return int(self._conn.execute("SELECT COUNT(*) FROM records").fetchone()[0])
            return int(self._conn.execute("SELECT COUNT(*) FROM records WHERE backend = ?",
                                          (backend,)).fetchone()[0])

    def dead_count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM dead").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()


# a sender: (payload, created, attempts) -> (DELIVERED | RETRY | REJECT, error text)
Sender = Callable[[Any, float, int], tuple[str, str]]


class Deliverer:
    """Delivers one backend's rows in order (see module docstring).

    ``deliver_some()`` is the synchronous core (tests call it directly);
    ``start()`` runs it in a gevent greenlet woken by ``wake()``.
    """

    def __init__(self, spool: Spool, backend: str, sender: Sender,
                 min_backoff: float = 0.5, max_backoff: float = 30.0) -> None:
        self.spool = spool
        self.backend = backend
        self.sender = sender
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.backoff = min_backoff
        self.delivered = 0
        self.rejected = 0
        self._event: Any = None
        self._greenlet: Any = None
        self._running = False

    def deliver_some(self, limit: int = 100) -> tuple[int, bool]:
        """Deliver up to ``limit`` rows; (how many left the spool, whether to back off)."""
        done = 0
        for _ in range(limit):
            rows = self.spool.head(self.backend, 1)
            if not rows:
                return done, False
            row_id, payload, created, attempts = rows[0]
            try:
                outcome, error = self.sender(payload, created, attempts)
            except Exception as exc:  # a sender bug must not kill delivery
                log.exception("acc %s: delivery failed", self.backend)
                outcome, error = RETRY, str(exc)
            if outcome == DELIVERED:
                self.spool.delete(row_id)
                self.delivered += 1
                done += 1
                self.backoff = self.min_backoff
            elif outcome == REJECT:
                log.error("acc %s: record %d refused by the server, moved to the spool's dead table: %s",
                          self.backend, row_id, error)
                self.spool.bury(row_id, error)
                self.rejected += 1
                done += 1
            else:
                self.spool.failed_attempt(row_id)
                if attempts == 0:
                    log.warning("acc %s: server unavailable (%s); records are kept in the spool %s",
                                self.backend, error, self.spool.path)
                return done, True
        return done, False

    # -- the greenlet -----------------------------------------------------------------
    def start(self) -> None:
        import gevent
        from gevent.event import Event

        self._event = Event()
        self._running = True
        self._greenlet = gevent.spawn(self._run)
        self._greenlet.link_exception(
            lambda g: log.critical("acc %s spool delivery died: %r", self.backend, g.exception))

    def wake(self) -> None:
        if self._event is not None:
            self._event.set()

    def _run(self) -> None:
        import gevent

        while self._running:
            self._event.clear()
            _, back_off = self.deliver_some()
            if not self._running:
                break
            if back_off:
                gevent.sleep(self.backoff)
                self.backoff = min(self.backoff * 2, self.max_backoff)
            elif self.spool.count(self.backend) == 0:
                self._event.wait(timeout=self.max_backoff)

    def stop(self, timeout: float = 2.0) -> None:
        self._running = False
        if self._event is not None:
            self._event.set()
        if self._greenlet is not None:
            self._greenlet.join(timeout)
            self._greenlet.kill(block=False)
            self._greenlet = None
