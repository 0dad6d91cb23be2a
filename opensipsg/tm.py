"""The transaction layer of the proxy (what OpenSIPS's tm module does underneath its
script functions): server transactions for the requests we relay or answer
statefully, one client transaction per branch, RFC 3261 16.7 response
selection, failure/reply/branch routes, CANCEL propagation and timers.

The state machines themselves are pure (``opensipsg.sip.transaction``); this
module feeds them events and carries out their actions. Events of one
transaction are serialized by a per-transaction lock, because responses,
timers and the script all run in greenlets of their own.
"""
from __future__ import annotations

import itertools
import logging
import os
from dataclasses import replace
from typing import Any

import gevent
from gevent import getcurrent
from gevent.lock import Semaphore

from .errors import ParseError
from .registry import RouteType
from .script.context import AvpStore, Branch, RouteContext
from .sip.builder import build_ack, build_cancel, build_reply, build_reply_bytes, make_branch, make_tag
from .sip.message import Header, Request, Response, Via
from .sip.transaction import (
    Arm, ClientTransaction, Deliver, Disarm, Send, ServerTransaction, Terminate, Timers,
)
from .transport.timers import TimerSet

log = logging.getLogger("opensipsg.tm")

MAX_BRANCHES = 12
TM_BRANCH_PREFIX = "z9hG4bK"

# t_relay() flags
NO_AUTO_100 = 0x01

_CLASS_STATS = {n: f"tm:{n}xx_transactions" for n in range(2, 7)}  # by final status // 100


class TransactionLock:
    """A reentrant lock serializing the events of one transaction.

    gevent's RLock is pure Python and makes a semaphore per lock; this one takes a
    free lock with two attribute writes and makes its semaphore only when a greenlet
    must wait (a late reply while failure_route blocks on a database). The hot paths
    call acquire()/release() in try/finally: ``with`` calls __enter__/__exit__ from C,
    ~1,500 instructions more per block than two Python-to-Python calls.
    """

    __slots__ = ("_owner", "_count", "_waiters", "_wakeup")

    def __init__(self) -> None:
        self._owner: Any = None
        self._count = 0
        self._waiters = 0
        self._wakeup: Semaphore | None = None

    def acquire(self) -> None:
        me = getcurrent()
        owner = self._owner
        if owner is me:
            self._count += 1
            return
        if owner is not None:
            wakeup = self._wakeup
            if wakeup is None:
                wakeup = self._wakeup = Semaphore(0)
            self._waiters += 1
            try:
                # woken by each release while we wait; a newcomer may have taken it first
                while self._owner is not None:
                    wakeup.acquire()
            finally:
                self._waiters -= 1
        self._owner = me
        self._count = 1

    def release(self, *_exc: Any) -> None:
        count = self._count - 1
        if count:
            self._count = count
            return
        self._count = 0
        self._owner = None
        if self._waiters:
            self._wakeup.release()  # type: ignore[union-attr]

    __enter__ = acquire
    __exit__ = release


class ClientBranch:
    """One outgoing branch of a proxied transaction."""

    # its timers are in the transaction's TimerSet, named (index, timer): no TimerSet per branch
    __slots__ = ("owner", "index", "_request", "_request_parts", "dest", "listener", "branch", "branch_id",
                 "client", "status", "final", "done", "cancel_wanted", "cancel_sent", "reply_route",
                 "cancel_client", "cancel_timers")

    def __init__(self, owner: "ProxyTransaction", index: int, request_parts: tuple[Any, ...], dest: Any,
                 listener: Any, branch: Branch, branch_id: str, client: ClientTransaction,
                 reply_route: str | None) -> None:
        self.owner = owner
        self.index = index
        # the request sent, as Request's arguments: made only for a CANCEL or a hop-by-hop ACK
        self._request: Request | None = None
        self._request_parts = request_parts
        self.dest = dest
        self.listener = listener
        self.branch = branch
        self.branch_id = branch_id
        self.client: ClientTransaction | None = client
        self.status = 0  # last status received (0 = none yet)
        self.final: Response | None = None  # the final response, None for a local timeout
        self.done = False
        self.cancel_wanted = False
        self.cancel_sent = False
        self.reply_route = reply_route
        self.cancel_client: ClientTransaction | None = None
        self.cancel_timers: TimerSet | None = None  # made with the CANCEL (most branches never send one)

    @property
    def request(self) -> Request:
        """The request sent on this branch."""
        request = self._request
        if request is None:
            request = self._request = Request(*self._request_parts)
        return request


class ProxyTransaction:
    """A server transaction plus its client branches (a tm "cell")."""

    # slots: a call keeps two of these alive for wt_timer, and reads their fields often
    __slots__ = ("tm", "key", "request", "method", "invite", "proto", "listener", "conn", "src_ip", "src_port",
                 "reply_dest", "server", "timers", "lock", "branches", "first_branch", "_to_tag_parts", "_to_tag",
                 "final_status", "last_reply_status", "cancelled", "done", "uac_id", "flags", "avps", "armed",
                 "relayed_any", "in_failure_route")

    def __init__(self, tm: "TransactionLayer", ctx: RouteContext, key: tuple[Any, ...]) -> None:
        request: Request = ctx.request
        self.tm = tm
        self.key = key
        self.request = request
        self.method = method = request.method
        self.invite = invite = method == "INVITE"
        self.proto = proto = ctx.proto
        self.listener = ctx.listener
        self.conn = ctx.extra.get("conn")
        self.src_ip = src_ip = ctx.src_ip
        self.src_port = src_port = ctx.src_port
        self.reply_dest = tm.core.reply_destination(request, proto, src_ip, src_port)
        self.server = ServerTransaction(invite, proto != "udp", tm.timers)
        self.timers = TimerSet()
        self.lock = TransactionLock()
        self.branches: list[ClientBranch] = []
        self.first_branch = 0  # the branches of the latest t_relay() start here (tm's t->first_branch)
        # what our To-tag derives from; the tag itself is hashed only for a local reply
        # (an RFC 3261 key starts with the top Via's branch: no need to read it again)
        branch = key[0] if key[0] != "2543" else _branch_of(request.via1)
        self._to_tag_parts = (request.call_id, branch, request.cseq)
        self._to_tag: str | None = None
        self.final_status = 0  # final status sent upstream
        self.last_reply_status = 0
        self.cancelled = False
        self.done = False
        self.uac_id = next(tm.counter)
        # what the script keeps with the transaction
        self.flags = ctx.flags
        avps = ctx._avps  # (ctx.avps without its property frame: the route and we share one store)
        if avps is None:
            avps = ctx._avps = AvpStore()
        self.avps = avps
        self.armed: dict[str, str] = {}
        self.relayed_any = False
        self.in_failure_route = False

    @property
    def to_tag(self) -> str:
        """The To-tag of our local replies (the same for every one of them)."""
        if self._to_tag is None:
            call_id, branch, cseq = self._to_tag_parts
            self._to_tag = make_tag("tm", call_id, branch, str(cseq))
        return self._to_tag

    # -- bookkeeping --------------------------------------------------------
    def pending(self) -> list[ClientBranch]:
        return [b for b in self.branches if not b.done]

    def terminate(self) -> None:
        if self.done:
            return
        self.done = True
        self.timers.clear()
        for branch in self.branches:
            if branch.cancel_timers is not None:
                branch.cancel_timers.clear()
            self.tm.clients.pop(branch.branch_id, None)
        # break the transaction <-> branch cycle so reference counting frees both now
        # (the cyclic collector is expensive with many live transactions)
        self.branches = []
        self.tm.forget(self)


class LocalRequest:
    """A request opensipsg sends itself: one client transaction and its final reply."""

    def __init__(self, tm: "TransactionLayer", request: Request, dest: Any, listener: Any,
                 branch_id: str) -> None:
        from gevent.event import AsyncResult

        self.tm = tm
        self.request = request
        self.dest = dest
        self.listener = listener
        self.branch_id = branch_id
        self.timers = TimerSet()
        self.result: AsyncResult = AsyncResult()
        self.client = ClientTransaction(request.method == "INVITE", dest.proto != "udp", request.to_bytes(),
                                        timers=tm.timers)

    def start(self) -> None:
        self._run(self.client.start())

    def response(self, reply: Response) -> None:
        if reply.status >= 300 and self.client.invite:
            self.client.make_ack = lambda: build_ack(self.request, reply).to_bytes()
        self._run(self.client.response(reply.status), reply)

    def _timer(self, _arg: Any, name: str) -> None:
        self._run(self.client.timer(name))

    def _run(self, actions: list[Any], reply: Response | None = None) -> None:
        for action in actions:
            if isinstance(action, Send):
                self.tm.core.send_to(self.dest, action, self.listener)
            elif isinstance(action, Arm):
                self.timers.arm(action.timer, action.delay, self._timer, None)
            elif isinstance(action, Disarm):
                self.timers.disarm(action.timer)
            elif isinstance(action, Deliver):
                if action.event == "timeout":
                    self.result.set(None)
                elif action.status >= 200 and reply is not None:
                    self.result.set(reply)


class TransactionLayer:
    def __init__(self, core: Any) -> None:
        self.core = core
        self.timers = Timers()
        self.servers: dict[tuple[Any, ...], ProxyTransaction] = {}
        self.clients: dict[str, ClientBranch] = {}
        self.local_requests: dict[str, "LocalRequest"] = {}
        self.counter = itertools.count(1)
        self.branch_seed = os.urandom(6).hex()  # our branch ids differ from those of earlier runs
        self.onreply_avp_mode = 0
        self.fr_timer_avp: Any = None
        self.fr_inv_timer_avp: Any = None
        self._key_request: Request | None = None  # the request of the last lookup() and its key
        self._key: tuple[Any, ...] = ()
        self._has_main_reply_route: bool | None = None  # onreply_route[0], looked up at the first reply
        self.stats = core.stats
        for name in ("received_replies", "relayed_replies", "local_replies", "UAS_transactions",
                     "UAC_transactions", "2xx_transactions", "3xx_transactions", "4xx_transactions",
                     "5xx_transactions", "6xx_transactions"):
            self.stats.register(f"tm:{name}")
        self.stats.register("tm:inuse_transactions", lambda: len(self.servers))
        # the stored counters: the registered tm: and core: ones are incremented in place on the
        # hot path (what Statistics.inc does for a registered name, without its frame: ~18 a call)
        self._counters: dict[str, int] = core.stats.counts
        # TM callbacks for other modules (acc...), called in the transaction's greenlet:
        #   final_reply(tx, status, reason, reply)  a final reply goes upstream (each
        #       relayed 2xx of a forked INVITE too, never a retransmission); reply is
        #       the Response relayed, None for a local reply (1.6 TMCB_RESPONSE_OUT)
        #   failure(tx, status, reply)  every branch failed, before the failure route
        #       runs (each serial-forking round); reply None for a local 408/487
        #       (1.6 TMCB_ON_FAILURE)
        #   request_relayed(ctx, tx, status, reason)  a CANCEL was relayed; tx is the
        #       INVITE's transaction, status/reason those of our reply to the CANCEL
        #   e2e_ack(ctx)  an ACK for a 2xx passes through t_relay (1.6 TMCB_E2EACK_IN)
        #   provisional_reply(tx, status, reason, reply)  a 101-199 reply is relayed upstream
        self.callbacks: dict[str, list[Any]] = {"final_reply": [], "failure": [], "request_relayed": [],
                                                "e2e_ack": [], "provisional_reply": []}

    def register(self, event: str, fn: Any) -> None:
        """Add a callback for ``event`` (see ``self.callbacks``)."""
        if event not in self.callbacks:
            raise ValueError(f"unknown tm callback event {event!r}")
        self.callbacks[event].append(fn)

    def _fire(self, event: str, *args: Any) -> None:
        for fn in self.callbacks[event]:
            try:
                fn(*args)
            except Exception:
                log.exception("tm %s callback %r failed", event, fn)

    def configure(self, timers: Timers) -> None:
        self.timers = timers

    def stop(self) -> None:
        for tx in list(self.servers.values()):
            tx.terminate()

    # -- matching (RFC 3261 17.2.3, with the RFC 2543 fallback) ----------------
    @staticmethod
    def key_for(request: Request, method: str | None = None) -> tuple[Any, ...]:
        via = request.via1
        params = via.params
        branch = params[0][1] or "" if params and params[0][0] == "branch" else _branch_of(via)  # (usually first)
        method = method or request.method
        if method == "ACK":
            method = "INVITE"
        if branch.startswith(TM_BRANCH_PREFIX):
            # sent-by as (host, port): the same matches as comparing "host[:port]" text
            return (branch, via.host.lower(), via.port, method)
        tag = request.from_.tag or ""
        return ("2543", request.call_id, request.cseq.number, tag, str(via), method)

    def lookup(self, request: Request, method: str | None = None) -> ProxyTransaction | None:
        try:
            key = self.key_for(request, method)
        except ParseError:
            return None
        if method is None:
            # t_check_trans() then t_relay() on a new request: new_transaction() reuses the key
            # (held by reference: an identity test cannot match a newer request)
            self._key_request, self._key = request, key
        return self.servers.get(key)

    def forget(self, tx: ProxyTransaction) -> None:
        if self.servers.get(tx.key) is tx:
            del self.servers[tx.key]

    # -- script entry points ------------------------------------------------
    def check_trans(self, ctx: RouteContext) -> int:
        """t_check_trans(): 0 after handling a retransmission, 1 for a known CANCEL
        target or end-to-end ACK, -1 otherwise."""
        request: Request = ctx.request
        if request.method == "CANCEL":
            return 1 if self.lookup(request, "INVITE") is not None else -1
        tx = self.lookup(request)
        if tx is None:
            return -1
        if request.method == "ACK":
            with tx.lock:
                if tx.final_status >= 300:
                    self._run_server(tx, tx.server.ack())
                    return 0
            return 1
        with tx.lock:
            self._run_server(tx, tx.server.request())
        return 0

    def absorb_ack(self, request: Request) -> bool:
        """An ACK for a negative final reply of ours is hop by hop: our server
        transaction absorbs it (17.2.1; 1.6's t_newtran releases the transaction
        and returns 0). False for any other ACK (end to end, or no transaction)."""
        tx = self.lookup(request)
        if tx is None:
            return False
        with tx.lock:
            if tx.final_status < 300:
                return False
            self._run_server(tx, tx.server.ack())
        return True

    def new_transaction(self, ctx: RouteContext) -> tuple[ProxyTransaction | None, bool]:
        """t_newtran(): (transaction, created). A retransmission gets (existing, False);
        an ACK never gets a transaction: (None, False)."""
        if ctx.transaction is not None:
            return ctx.transaction, False
        request: Request = ctx.request
        if request.method == "ACK":
            return None, False
        key = self._key if self._key_request is request else self.key_for(request)
        existing = self.servers.get(key)
        if existing is not None:
            with existing.lock:
                self._run_server(existing, existing.server.request())
            return existing, False
        tx = ProxyTransaction(self, ctx, key)
        self.servers[key] = tx
        ctx.transaction = tx
        self._counters["tm:UAS_transactions"] += 1
        # the transaction lives at least until its final reply; fr/terminate timers end it
        return tx, True

    def reply(self, ctx: RouteContext, status: int, reason: str, headers: Any = (), body: bytes = b"") -> int:
        """t_reply(): a stateful reply (creates the transaction if needed)."""
        tx = ctx.transaction
        if tx is None:
            tx, created = self.new_transaction(ctx)
            if tx is None or not created:
                return 0 if tx is not None else -1
        reply = self.core.make_reply(ctx, status, reason, headers, body, to_tag=tx.to_tag)
        ctx.reply_code = status
        with tx.lock:
            self._send_upstream(tx, reply, local=True)
        return 1

    def relay(self, ctx: RouteContext, dest: str | None = None, flags: int = 0) -> int:
        """t_relay(): forward statefully to the R-URI and branches (or ``dest``)."""
        request: Request = ctx.request
        method = request.method
        if method == "ACK":
            if self.absorb_ack(request):
                return 0
            if self.callbacks["e2e_ack"]:
                self._fire("e2e_ack", ctx)
            return self.core.forward(ctx, dest, script=False)
        if method == "CANCEL":
            return self._relay_cancel(ctx, dest)
        tx = ctx.transaction
        if tx is None:
            tx, created = self.new_transaction(ctx)
            if not created:
                return 0
        assert tx is not None
        lock = tx.lock
        lock.acquire()  # (not `with`: see TransactionLock)
        try:
            if tx.cancelled:
                return -3
            tx.flags = ctx.flags
            avps = ctx._avps  # (the store is there once the transaction exists: no property frame)
            tx.avps = avps if avps is not None else ctx.avps
            armed = ctx._armed  # (read without making the dict most requests never need)
            if armed:
                tx.armed.update(armed)
                armed.clear()
            if tx.invite and not tx.relayed_any and not (flags & NO_AUTO_100) and tx.final_status == 0 \
                    and tx.last_reply_status < 100:
                # our 100 Trying as bytes, without a Response (_send_upstream's local path, inline)
                self._counters["tm:local_replies"] += 1
                tx.last_reply_status = 100
                self._run_server(tx, tx.server.respond(100, build_reply_bytes(request, 100, "Giving a try")))
            targets = [ctx.branch0()] + ctx.branches
            ctx.branches = []
            if dest:
                targets = [Branch(t.uri, dest if dest.lower().startswith(("sip:", "sips:")) else f"sip:{dest}",
                                  t.path, t.q, t.flags, t.socket) for t in targets]
            sent = 0
            last_error = -3
            # the next reply pick is among the branches this call adds (1.6: t_forward_nonack
            # sets t->first_branch; t_pick_branch starts there), so a failure route that
            # forks serially sees the outcome of its own branches
            previous_first, tx.first_branch = tx.first_branch, len(tx.branches)
            for target in targets:
                if len(tx.branches) >= MAX_BRANCHES:
                    log.error("too many branches for %s", request.call_id)
                    last_error = -1
                    break
                result = self._add_branch(tx, ctx, target)
                if result > 0:
                    sent += 1
                else:
                    last_error = result
            if len(tx.branches) == tx.first_branch:
                tx.first_branch = previous_first
            if sent == 0:
                ctx.extra["ser_error"] = last_error
                if not tx.branches and not tx.in_failure_route:
                    # nothing went out: drop the empty transaction so the script may reply statelessly
                    tx.terminate()
                    ctx.transaction = None
                return last_error
            tx.relayed_any = True
            self._counters["core:fwd_requests"] += sent
            return 1
        finally:
            lock.release()

    # -- branches -------------------------------------------------------------
    def _add_branch(self, tx: ProxyTransaction, ctx: RouteContext, target: Branch) -> int:
        core = self.core
        index = len(tx.branches)
        branch_ctx = ctx
        armed = tx.armed  # (usually empty: no get() call then)
        reply_route = armed.get("onreply") if armed else None
        if armed and "branch" in armed:
            branch_ctx = self._branch_context(tx, ctx, target, index)
            core.script.run("branch", armed["branch"], branch_ctx)
            if branch_ctx.dropped:
                return -1
            target = branch_ctx.branch0()
            reply_route = branch_ctx.armed.get("onreply", reply_route)
        next_hop = target.dst_uri or target.uri
        try:
            dest = core.resolve(next_hop)
        except ParseError as exc:
            log.error("t_relay failed: bad destination %s: %s", next_hop, exc.reason)
            return -4
        socket, listener = target.socket, ctx.listener
        if socket and (listener is None or socket != listener.name):  # (usually the one it came in on)
            listener = _listener_by_name(core, socket) or listener
        listener = core.listener_for(dest.proto, listener)
        if listener is None:
            log.error("t_relay failed: no %s listener", dest.proto)
            return -6
        source = branch_ctx.msg if branch_ctx.msg is not None else ctx.request
        # unique without hashing (RFC 3261 8.1.1.7 asks for no more; loop detection is off):
        # this start's random seed, the transaction's number, the branch's index
        branch_id = f"{TM_BRANCH_PREFIX}{self.branch_seed}.{tx.uac_id}.{index}"
        via = core.outgoing_via(listener, branch_id, branch_ctx)
        # the outgoing copy: our Via on top, then the Path as Route (headers are immutable, shared)
        headers = [Header("via", via, f"Via: {via}")]
        if target.path:
            headers.append(Header.make("route", target.path))
        headers += source.headers
        timers = self.timers if self.fr_timer_avp is None and self.fr_inv_timer_avp is None else self._timers_for(ctx)
        # serialised without a Request object (ClientBranch.request makes one for a CANCEL or an ACK)
        client = ClientTransaction(tx.invite, dest.proto != "udp", source.to_bytes_with_headers(headers, target.uri),
                                   None, timers)
        client_branch = ClientBranch(tx, index, (source.method, target.uri, headers, source.body, source.version),
                                     dest, listener, target, branch_id, client, reply_route)
        tx.branches.append(client_branch)
        self.clients[branch_id] = client_branch
        self._counters["tm:UAC_transactions"] += 1
        self._run_client(client_branch, client.start())
        return 1

    def _timers_for(self, ctx: RouteContext) -> Timers:
        timers = self.timers
        if self.fr_timer_avp is None and self.fr_inv_timer_avp is None:
            return timers
        changes = {}
        for attr, accessor in (("fr_timer", self.fr_timer_avp), ("fr_inv_timer", self.fr_inv_timer_avp)):
            if accessor is None:
                continue
            value = ctx.avps.get(accessor)
            if value is not None:
                try:
                    changes[attr] = float(int(value))
                except (TypeError, ValueError):
                    pass
        return replace(timers, **changes) if changes else timers

    def _branch_context(self, tx: ProxyTransaction, ctx: RouteContext, target: Branch, index: int) -> RouteContext:
        branch_ctx = RouteContext(
            self.core, ctx.request.copy(), RouteType.BRANCH,
            src_ip=ctx.src_ip, src_port=ctx.src_port, proto=ctx.proto,
            local_ip=ctx.local_ip, local_port=ctx.local_port, listener=ctx.listener,
            transaction=tx,
        )
        branch_ctx.new_uri = target.uri
        branch_ctx.dst_uri = target.dst_uri
        branch_ctx.path = target.path
        branch_ctx.q = target.q
        branch_ctx.bflags = target.flags
        branch_ctx.force_socket = target.socket
        branch_ctx.flags = tx.flags
        branch_ctx.avps = tx.avps
        branch_ctx.branch_index = index
        branch_ctx.extra = dict(ctx.extra)
        return branch_ctx

    # -- running the state machines -----------------------------------------------
    def _run_server(self, tx: ProxyTransaction, actions: list[Any]) -> None:
        for action in actions:
            kind = action.__class__  # (the action classes are final: an identity test, not isinstance)
            if kind is Send:
                self.core.send_to(tx.reply_dest, action, tx.listener, tx.conn)
            elif kind is Arm:
                # every server timer is armed after the first final reply, i.e. after the wait timer
                # that terminates the transaction: one due no earlier would never run (J, H: 64*T1)
                if action.delay < self.timers.wt_timer:
                    tx.timers.arm("S" + action.timer, action.delay, self._server_timer, tx)
            elif kind is Disarm:
                tx.timers.disarm("S" + action.timer)
            # Terminate: the wait timer armed with the first final reply ends the transaction

    def _server_timer(self, tx: ProxyTransaction, name: str) -> None:
        with tx.lock:
            if tx.done:
                return
            self._run_server(tx, tx.server.timer(name[1:]))

    def _end(self, tx: ProxyTransaction, _name: str = "wait") -> None:
        lock = tx.lock
        lock.acquire()  # (not `with`: see TransactionLock; every transaction ends here)
        try:
            tx.terminate()
        finally:
            lock.release()

    def _run_client(self, branch: ClientBranch, actions: list[Any]) -> bool:
        """Carry out a client transaction's actions; True if a response was delivered."""
        delivered = False
        for action in actions:
            kind = action.__class__  # (the action classes are final: an identity test, not isinstance)
            if kind is Send:
                if not self.core.send_to(branch.dest, action, branch.listener):
                    branch.owner.timers.clear_group(branch.index)
                    self._branch_failed(branch)
                    # (a response among the actions not run is delivered all the same)
                    return delivered or any(a.__class__ is Deliver and a.event == "response" for a in actions)
            elif kind is Arm:
                # not K: a completed non-INVITE client absorbs what a terminated one does, and the
                # branch stays in self.clients until its transaction ends, so K would change nothing
                if action.timer != "K":
                    branch.owner.timers.arm((branch.index, action.timer), action.delay, self._client_timer, branch)
            elif kind is Disarm:
                branch.owner.timers.disarm((branch.index, action.timer))
            elif kind is Deliver:
                if action.event == "response":
                    delivered = True
                elif action.event == "timeout":
                    self._branch_timeout(branch)
            elif kind is Terminate:
                branch.owner.timers.clear_group(branch.index)
                if branch.owner.done:
                    self.clients.pop(branch.branch_id, None)
        return delivered

    def _client_timer(self, branch: ClientBranch, name: tuple[int, str]) -> None:
        tx = branch.owner
        with tx.lock:
            if tx.done or branch.client is None:
                return
            self._run_client(branch, branch.client.timer(name[1]))

    def _branch_failed(self, branch: ClientBranch) -> None:
        """A branch we could not even send: counts as a 408/477-like local failure."""
        if branch.done:
            return
        branch.done = True
        branch.status = 408
        self._maybe_complete(branch.owner)

    def _branch_timeout(self, branch: ClientBranch) -> None:
        tx = branch.owner
        if branch.done:
            return
        if tx.invite and branch.status >= 100:
            self._cancel_branch(branch)
        branch.done = True
        branch.status = 408
        self._maybe_complete(tx)

    # -- replies from downstream ------------------------------------------------
    def handle_reply(self, reply: Response, src_ip: str, src_port: int, listener: Any, conn: Any) -> None:
        core = self.core
        if not core.is_our_via(reply):
            core.stats.inc("core:drop_replies")
            log.debug("dropping reply whose top Via is not ours")
            return
        self._counters["tm:received_replies"] += 1
        via = reply.via1
        params = via.params
        branch_id = params[0][1] or "" if params and params[0][0] == "branch" else _branch_of(via)
        method = reply.cseq.method
        client_branch = self.clients.get(branch_id)
        if client_branch is None:  # (our own requests' branch ids are never a proxied branch's)
            local = self.local_requests.get(branch_id)
            if local is not None:
                local.response(reply)
                return
        if method == "CANCEL":
            cancelled = client_branch
            if cancelled is not None and cancelled.cancel_client is not None:
                with cancelled.owner.lock:
                    actions = cancelled.cancel_client.response(reply.status)
                    self._run_cancel(cancelled, actions)
            return
        has_main_reply_route = self._has_main_reply_route
        if has_main_reply_route is None:  # (the script's routes are fixed once the Core is made)
            has_main_reply_route = self._has_main_reply_route = core.script.has("onreply", "0")
        if has_main_reply_route:
            ctx = RouteContext(core, reply, RouteType.ONREPLY, src_ip=src_ip, src_port=src_port,
                               proto=listener.proto, local_ip=listener.host, local_port=listener.port,
                               listener=listener,
                               request=client_branch.owner.request if client_branch else None)
            core.script.run("onreply", "0", ctx)
            if ctx.dropped and reply.status < 200:
                return
        if client_branch is None:
            # no transaction any more: a 2xx retransmission to an INVITE is relayed end to
            # end (RFC 3261 16.7 step 5); anything else (a late 487...) is dropped
            # (or, once the script forwards statelessly with forward(), every such reply, as 1.6)
            relay = core.stateless_forwarding or (method == "INVITE" and 200 <= reply.status < 300)
            if relay and core.relay_reply_statelessly(reply, listener):
                return
            core.stats.inc("core:drop_replies")
            return
        tx = client_branch.owner
        lock = tx.lock
        lock.acquire()  # (not `with`: see TransactionLock)
        try:
            if tx.done and reply.status >= 300:
                return
            client = client_branch.client
            if client is None:
                return
            status = reply.status
            if client_branch.final is None and status >= 300 and tx.invite:
                client.make_ack = lambda r=reply, b=client_branch: build_ack(b.request, r).to_bytes()
            if not self._run_client(client_branch, client.response(status)):
                if 200 <= status < 300 and tx.invite:
                    # 2xx retransmission for a completed branch: relay it again (end-to-end)
                    self._send_upstream(tx, reply, False, retransmission=True)
                return
            # delivered: the response goes on (here, not in a method of its own: a frame less a reply)
            armed = tx.armed  # (usually empty: no get() call then)
            route = client_branch.reply_route or (armed.get("onreply") if armed else None)
            if route:
                ctx = RouteContext(self.core, reply, RouteType.ONREPLY, src_ip=src_ip, src_port=src_port,
                                   proto=listener.proto, local_ip=listener.host, local_port=listener.port,
                                   listener=listener, transaction=tx, request=tx.request)
                ctx.flags = tx.flags
                if self.onreply_avp_mode:
                    ctx.avps = tx.avps
                ctx.branch_index = client_branch.index
                ctx.reply_code = status
                self.core.script.run("onreply", route, ctx)
                tx.flags = ctx.flags
                if ctx.dropped and status < 200:
                    return
            if status < 200:
                client_branch.status = max(client_branch.status, status)
                if client_branch.cancel_wanted and not client_branch.cancel_sent:
                    self._cancel_branch(client_branch)
                if status > 100 and tx.final_status == 0:
                    self._send_upstream(tx, reply, False)
                    if self.callbacks["provisional_reply"]:
                        self._fire("provisional_reply", tx, status, reply.reason, reply)
                return
            client_branch.status = status
            client_branch.final = reply
            client_branch.done = True
            if status < 300:
                if tx.final_status == 0 or tx.invite:  # a 2xx to an INVITE always goes up (16.7 step 10)
                    self._send_upstream(tx, reply, False)
                for other in tx.branches:
                    if other is not client_branch and not other.done:
                        self._cancel_branch(other)
                return
            if status >= 600 and not tx.in_failure_route:
                for other in tx.branches:
                    if other is not client_branch and not other.done:
                        self._cancel_branch(other)
            self._maybe_complete(tx)
        finally:
            lock.release()

    def _maybe_complete(self, tx: ProxyTransaction) -> None:
        """All branches are done and none answered 2xx: pick the best reply (16.7),
        run the failure route, and relay the winner unless the route did something."""
        if tx.final_status or tx.pending() or tx.done:
            return
        best = self._best_branch(tx)
        if best is None:
            return
        status = best.status
        if tx.cancelled and best.final is None:
            status = 487
        if self.callbacks["failure"]:
            self._fire("failure", tx, status, best.final)
        failure_route = tx.armed.pop("failure", None)
        if failure_route:
            before = len(tx.branches)
            ctx = RouteContext(self.core, tx.request, RouteType.FAILURE, transaction=tx,
                               src_ip=tx.src_ip, src_port=tx.src_port, proto=tx.proto,
                               listener=tx.listener, local_ip=tx.listener.host if tx.listener else "",
                               local_port=tx.listener.port if tx.listener else 0)
            ctx.flags = tx.flags
            ctx.avps = tx.avps
            ctx.reply_code = status
            ctx.bflags = best.branch.flags
            ctx.extra["conn"] = tx.conn
            ctx.extra["winning_reply"] = best.final
            ctx.extra["cancelled"] = tx.cancelled
            tx.in_failure_route = True
            try:
                self.core.script.run("failure", failure_route, ctx)
            finally:
                tx.in_failure_route = False
            tx.flags = ctx.flags
            if tx.final_status:
                return  # the route replied (t_reply)
            if len(tx.branches) > before and tx.pending():
                return  # new branches are out; wait for them
            if tx.pending():
                return
        self._relay_best(tx, best, status)

    @staticmethod
    def _best_branch(tx: ProxyTransaction) -> ClientBranch | None:
        best: ClientBranch | None = None
        latest = tx.branches[tx.first_branch:]
        for branch in latest:
            if branch.status >= 600:
                return branch
        for branch in latest:
            if branch.status < 300:
                continue
            if best is None or branch.status // 100 < best.status // 100:
                best = branch
            elif branch.status // 100 == best.status // 100 and best.final is None and branch.final is not None:
                best = branch
        return best

    def _relay_best(self, tx: ProxyTransaction, best: ClientBranch, status: int) -> None:
        reply = best.final
        if reply is None or (tx.cancelled and status == 487 and reply.status != 487):
            local = build_reply(tx.request, status, None, tx.to_tag,
                                [self.core.params.server_header] if self.core.params.server_signature else [])
            self._send_upstream(tx, local, local=True)
            return
        if status in (401, 407):
            reply = self._merge_challenges(tx, reply)
        self._send_upstream(tx, reply, False)

    def _merge_challenges(self, tx: ProxyTransaction, reply: Response) -> Response:
        """RFC 3261 16.7 step 7: a 401/407 carries the challenges of every branch."""
        merged = reply.copy()
        for branch in tx.branches:
            final = branch.final
            if final is None or final is reply or final.status not in (401, 407):
                continue
            for name in ("www-authenticate", "proxy-authenticate"):
                for value in final.get_all(name):
                    merged.add_header(name, value)
        return merged

    def _send_upstream(self, tx: ProxyTransaction, reply: Response, local: bool,
                       retransmission: bool = False) -> None:
        """Send our own reply (``local``) or relay one from downstream without our Via."""
        counters = self._counters
        status = reply.status
        if local:
            counters["tm:local_replies"] += 1
            data = reply.to_bytes()
        else:
            counters["tm:relayed_replies"] += 1
            counters["core:fwd_replies"] += 1
            if status != 503 and not self.callbacks["final_reply"]:
                # the usual case: nobody sees the relayed copy, so serialise it without building it
                data = reply.to_bytes_without_first_value("via")
            else:
                reply = reply.copy()
                reply.remove_first_value("via")
                if status == 503:
                    reply.status = status = 500  # 1.6 relays a 503 as 500 (status digits only)
                data = reply.to_bytes()
        if status >= 200:
            if tx.final_status >= 300 and tx.invite and status < 300:
                # a 2xx after our negative final (a callee answering as fr_inv_timer
                # fired): RFC 3261 16.7 step 10 forwards it all the same (1.6:
                # RPS_PUSHED_AFTER_COMPLETION); the server transaction is left as it is
                if not retransmission and self.callbacks["final_reply"]:
                    self._fire("final_reply", tx, status, reply.reason, None if local else reply)
                self.core.send_to(tx.reply_dest, data, tx.listener, tx.conn)
                return
            if tx.final_status and not (tx.invite and 200 <= status < 300 and tx.final_status < 300):
                return
            first = tx.final_status == 0
            tx.final_status = status
            if first:
                name = _CLASS_STATS.get(status // 100)
                if name is not None:
                    counters[name] += 1
                else:
                    self.stats.inc(f"tm:{status // 100}xx_transactions")
                # as 1.6's wt_timer: the transaction stays this long after its final reply to
                # absorb retransmissions (and relay the 2xx ones), then it is deleted
                tx.timers.arm("wait", self.timers.wt_timer, self._end, tx)
            if not retransmission and self.callbacks["final_reply"]:
                self._fire("final_reply", tx, status, reply.reason, None if local else reply)
        tx.last_reply_status = max(tx.last_reply_status, status)
        if status >= 200 and tx.server.state == "terminated":
            # 2xx retransmission relayed end to end
            self.core.send_to(tx.reply_dest, data, tx.listener, tx.conn)
            return
        self._run_server(tx, tx.server.respond(status, data))

    # -- requests of our own (MI t_uac_dlg) ------------------------------------
    def send_request(self, method: str, ruri: str, headers: str, body: str = "",
                     next_hop: str | None = None) -> Response | None:
        """Send a new request as a UAC and wait for its final reply (None after a
        timeout). ``headers`` are 'Name: value' lines; From and To are required,
        Call-ID, CSeq, a From tag and Max-Forwards are added when missing.
        Raises ParseError for unusable input."""
        core = self.core
        dest = core.resolve(next_hop or ruri)
        listener = core.listener_for(dest.proto)
        if listener is None:
            raise ParseError(f"no {dest.proto} listener to send from")
        request = Request(method.upper(), ruri, [], body.encode("utf-8", "surrogateescape"))
        for line in headers.replace("\r\n", "\n").split("\n"):
            if line.strip():
                request.add_raw_header(line.strip())
        if not request.has("from") or not request.has("to"):
            raise ParseError("From and To headers are required")
        uid = str(next(self.counter))
        if request.from_.tag is None:
            request.set_header("from", f"{request.get('from')};tag={make_tag('uac', uid, str(core.start_time))}")
        if not request.has("call-id"):
            request.add_header("call-id", f"{make_tag('uac-callid', uid, str(core.start_time))}@{listener.advertised_host}")
        if not request.has("cseq"):
            request.add_header("cseq", f"1 {request.method}")
        if not request.has("max-forwards"):
            request.add_header("max-forwards", "70")
        branch_id = make_branch("uac", uid, request.call_id)
        request.add_header("via", core.outgoing_via(listener, branch_id), first=True)
        local = LocalRequest(self, request, dest, listener, branch_id)
        self.local_requests[branch_id] = local
        try:
            local.start()
            return local.result.get(timeout=self.timers.fr_inv_timer + self.timers.fr_timer + 5)
        except gevent.Timeout:
            return None
        finally:
            local.timers.clear()
            self.local_requests.pop(branch_id, None)

    # -- CANCEL --------------------------------------------------------------------
    def _relay_cancel(self, ctx: RouteContext, dest: str | None) -> int:
        request: Request = ctx.request
        tx = self.lookup(request, "INVITE")
        reply_ctx_tag = make_tag("cancel", request.call_id, request.via1.branch or "")
        reply = self.core.make_reply(ctx, 200, "canceling", to_tag=reply_ctx_tag)
        dest_addr = self.core.reply_destination(request, ctx.proto, ctx.src_ip, ctx.src_port)
        if tx is None:
            # RFC 3261 16.10: no matching transaction -> forward statelessly
            return self.core.forward(ctx, dest, script=False)
        self.core.send_to(dest_addr, reply.to_bytes(), ctx.listener, ctx.extra.get("conn"))
        if self.callbacks["request_relayed"]:
            self._fire("request_relayed", ctx, tx, 200, "canceling")
        with tx.lock:
            if tx.final_status >= 200:
                return 1
            tx.cancelled = True
            for branch in tx.branches:
                if not branch.done:
                    self._cancel_branch(branch)
        return 1

    def cancel_all(self, tx: ProxyTransaction) -> None:
        with tx.lock:
            for branch in tx.branches:
                if not branch.done:
                    self._cancel_branch(branch)

    def _cancel_branch(self, branch: ClientBranch) -> None:
        """Send a CANCEL for a pending INVITE branch (9.1): only once it got a
        provisional reply; before that, remember to do it when one comes."""
        if not branch.owner.invite or branch.cancel_sent or branch.done and branch.status >= 200 and branch.final:
            return
        if branch.status < 100:
            branch.cancel_wanted = True
            return
        branch.cancel_sent = True
        cancel = build_cancel(branch.request)
        client = ClientTransaction(False, branch.dest.proto != "udp", cancel.to_bytes(), timers=self.timers)
        branch.cancel_client = client
        branch.cancel_timers = TimerSet()
        self._run_cancel(branch, client.start())

    def _run_cancel(self, branch: ClientBranch, actions: list[Any]) -> None:
        timers = branch.cancel_timers
        assert timers is not None
        for action in actions:
            if isinstance(action, Send):
                self.core.send_to(branch.dest, action, branch.listener)
            elif isinstance(action, Arm):
                timers.arm(action.timer, action.delay, self._cancel_timer, branch)
            elif isinstance(action, Disarm):
                timers.disarm(action.timer)
            elif isinstance(action, Terminate):
                timers.clear()

    def _cancel_timer(self, branch: ClientBranch, name: str) -> None:
        with branch.owner.lock:
            if branch.cancel_client is not None:
                self._run_cancel(branch, branch.cancel_client.timer(name))


def _branch_of(via: Via) -> str:
    """``via.branch or ""`` for the hot path: Via.param() lower-cases the name it is asked for on each call."""
    for name, value in via.params:
        if name.lower() == "branch":
            return value or ""
    return ""


def _listener_by_name(core: Any, socket_text: Any) -> Any:
    if not socket_text:
        return None
    for listener in core.listeners:
        if listener.name == str(socket_text):
            return listener
    return None
