"""acc -- transaction accounting to syslog, a database and RADIUS (OpenSIPS 1.6).

Overview
    Transaction accounting as 1.6 does it: a request whose transaction
    carries an accounting flag is reported when its final reply goes
    upstream (2xx always; >= 300 only with ``failed_transaction_flag``);
    INVITEs with a missed-call flag are reported when a forwarding attempt
    fails (before the failure route runs; the flag is then cleared, so a
    failure route that wants the next serial-forking attempt reported sets it
    again); ``report_ack`` adds the end-to-end ACK, ``report_cancels`` the
    CANCEL. A call is an INVITE record (RADIUS Start) plus a BYE record
    (Stop); there are no CDRs in 1.6 acc -- :mod:`opensipsg.acc.cdr` pairs
    them (``cdr_interval``), and :meth:`AccModule.end_call` writes the Stop
    of a call whose BYE never came (for the dialog/RTP timeouts).

    Database and RADIUS records go through a durable on-disk spool
    (:mod:`opensipsg.acc.spool`): the SIP path only writes the record to a
    local SQLite file; a background greenlet delivers it in order, and keeps
    it while the server is down (1.6 only logged "accounting failed").

Dependencies
    tm (its callbacks); a database for db_url; aaa_radius optional (its
    shared RADIUS clients are used when it is loaded).

Parameters (1.6 names and defaults)
    log_flag, log_missed_flag (int, -1 = off); log_level (int, 2 = L_NOTICE);
    log_facility (str, LOG_DAEMON); log_extra (str) -- ``"name=$pv[/reply];..."``;
    log_fmt (str): accepted for older scripts, ignored (1.6 logs every core field).
    db_flag, db_missed_flag (int, -1); db_url (str, none: database accounting
    off); db_table_acc ("acc"); db_table_missed_calls ("missed_calls");
    db_extra (str); acc_method_column "method", acc_from_tag_column
    "from_tag", acc_to_tag_column "to_tag", acc_callid_column "callid",
    acc_sip_code_column "sip_code", acc_sip_reason_column "sip_reason",
    acc_time_column "time".
    aaa_url (str, none); aaa_flag, aaa_missed_flag (int, -1); aaa_extra (str,
    names are RADIUS dictionary attributes); service_type (int, -1 =
    Sip-Session, 15).
    failed_transaction_flag (int, -1); report_ack (0); report_cancels (0);
    early_media (0; 1 = a relayed 183 Session Progress is accounted too, with code 183);
    detect_direction (0); multi_leg_info (str, ``"name=$avp(x);..."``).
    Ours: spool_dir (str, /var/spool/opensipsg/acc), spool_retry (int,
    seconds, first back-off, 1), spool_max_backoff (int, seconds, 30),
    cdr_interval (int, seconds, 0 = no periodic CDR job).

Functions
    ``acc_log_request(comment)``, ``acc_db_request(comment, table)``,
    ``acc_aaa_request(comment)`` [request, failure, branch, local route]: a
    record for the current request now; a comment starting with 3 digits
    gives sip_code and (the rest, trimmed) sip_reason, else the whole comment
    is the reason. 1 when the record was written/spooled; -1 on error (backend
    not configured, record not encodable).

Differences from 1.6, on purpose
    * flags are read when the event happens (the transaction's flags as
      t_relay/the failure route left them), not only at transaction
      creation;
    * detect_direction compares an in-dialog request's From tag with the
      tags of the INVITE this process accounted (1.6 asks rr for the ftag
      parameter): after a restart the first requests of old calls are not
      swapped;
    * report_ack: the ACK record uses the ACK's own flags, code 200.

Python API
    ``core.module("acc").end_call(call_id, from_tag, to_tag, reason)``;
    ``core.module("acc").build_cdrs()``.
"""
from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Any

from ..acc import record as rec
from ..acc.backends import AAASender, DBSender, aaa_encoding_error
from ..acc.spool import Deliverer, Spool
from ..errors import ConfigError, OpensipsgError, ScriptError
from ..registry import B, F, L, Module, Param, R, RouteType, function, register_module
from ..script.context import RouteContext

log = logging.getLogger("opensipsg.acc")

DEFAULT_SPOOL_DIR = "/var/spool/opensipsg/acc"
DIRECTION_MEMORY = 20000  # calls remembered for detect_direction

# reason phrases of replies tm generates itself (no reply message)
LOCAL_REASONS = {408: "Request Timeout", 487: "Request Terminated", 500: "Server Internal Error"}


def _comment_fixup(args: tuple[Any, ...], binder: Any) -> tuple[Any, ...]:
    values = [binder.arg_text(arg) for arg in args]
    code, reason = rec.parse_comment(values[0])
    if len(values) > 1:
        if not values[1].strip():
            binder.error(args[1], "acc_db_request: empty table name")
        return (code, reason, values[1].strip())
    return (code, reason)


class _Extra:
    """One bound extra: its name, PV and whether it is evaluated on the reply."""

    __slots__ = ("name", "pv", "on_reply", "avp_key")

    def __init__(self, name: str, pv: Any, on_reply: bool, avp_key: Any = None) -> None:
        self.name = name
        self.pv = pv
        self.on_reply = on_reply
        self.avp_key = avp_key


def _value_text(value: Any) -> str | None:
    if value is None:
        return None
    return str(value)


@register_module
class AccModule(Module):
    name = "acc"
    depends = ("tm",)
    params = {
        "early_media": Param(int, 0),
        "failed_transaction_flag": Param(int, -1),
        "report_ack": Param(int, 0),
        "report_cancels": Param(int, 0),
        "detect_direction": Param(int, 0),
        "multi_leg_info": Param(str, ""),
        "log_flag": Param(int, -1),
        "log_missed_flag": Param(int, -1),
        "log_level": Param(int, 2),
        "log_facility": Param(str, "LOG_DAEMON"),
        "log_fmt": Param(str, ""),
        "log_extra": Param(str, ""),
        "db_flag": Param(int, -1),
        "db_missed_flag": Param(int, -1),
        "db_url": Param(str, ""),
        "db_table_acc": Param(str, "acc"),
        "db_table_missed_calls": Param(str, "missed_calls"),
        "db_extra": Param(str, ""),
        **{name: Param(str, default) for name, default in rec.DEFAULT_COLUMNS.items()},
        "aaa_url": Param(str, ""),
        "aaa_flag": Param(int, -1),
        "aaa_missed_flag": Param(int, -1),
        "aaa_extra": Param(str, ""),
        "service_type": Param(int, -1),
        "spool_dir": Param(str, DEFAULT_SPOOL_DIR),
        "spool_retry": Param(int, 1),
        "spool_max_backoff": Param(int, 30),
        "cdr_interval": Param(int, 0),
    }

    def __init__(self, core: Any) -> None:
        super().__init__(core)
        self.clock = time.time
        self.db: Any = None
        self.aaa: Any = None
        self.spool: Spool | None = None
        self.deliverers: dict[str, Deliverer] = {}
        self.extras: dict[str, list[_Extra]] = {"log": [], "db": [], "aaa": []}
        self.legs: list[_Extra] = []
        self.columns: dict[str, str] = {}
        self.logger = logging.getLogger("opensipsg.acc")
        self.level = logging.INFO
        self.dialogs: OrderedDict[str, tuple[str, str]] = OrderedDict()  # call-id -> (caller tag, callee tag)
        self._cdr_greenlet: Any = None

    # -- start-up ------------------------------------------------------------------------
    def _param_pos(self, pname: str) -> Any:
        for mp in getattr(self.core.config, "modparams", ()):
            if mp.param == pname and "acc" in mp.module_regex:
                return mp.pos
        return None

    def _fail(self, pname: str, message: str) -> ScriptError:
        pos = self._param_pos(pname)
        text = f"acc: modparam {pname}: {message}"
        if pos is None:
            return ScriptError(text)
        return ScriptError(text, pos.file, pos.line, pos.col)

    def _bind_extras(self, pname: str, text: str, legs: bool = False) -> list[_Extra]:
        from ..script.compiler import Binder
        from ..script.parser import parse_pv
        from ..script.pvars import avp_key

        try:
            specs = rec.parse_extra(text)
        except rec.ExtraSyntaxError as exc:
            raise self._fail(pname, str(exc)) from None
        if not specs:
            return []
        binder = Binder(self.core.config, self.core, self.core.modules)
        pos = self._param_pos(pname)
        bound = []
        for spec in specs:
            try:
                ref = parse_pv(spec.pv_text, pos) if pos is not None else parse_pv(spec.pv_text, _NoPos)
                pv = binder.pv_ref(ref)
            except ScriptError as exc:
                raise self._fail(pname, f"{spec.name}={spec.pv_text}: {exc.message}") from None
            key = None
            if legs:
                if ref.name != "avp" or not isinstance(ref.param, str):
                    raise self._fail(pname, f"{spec.name}={spec.pv_text}: leg values must be AVPs ($avp(name))")
                try:
                    key = avp_key(ref.param, binder.avp_aliases)
                except ValueError as exc:
                    raise self._fail(pname, str(exc)) from None
            bound.append(_Extra(spec.name, pv, spec.on_reply, key))
        return bound

    def init(self) -> None:
        from ..script.core_functions import LEVELS

        self.level = LEVELS.get(max(-3, min(4, self.log_level)), logging.DEBUG)
        for pname in ("log_flag", "log_missed_flag", "db_flag", "db_missed_flag", "aaa_flag",
                      "aaa_missed_flag", "failed_transaction_flag"):
            value = getattr(self, pname)
            if not -1 <= value <= 31:
                raise self._fail(pname, f"flag {value} out of range (0..31, or -1 for none)")
        if self.log_fmt:
            log.warning("acc: modparam log_fmt is ignored (1.6 logs every core field)")
        self.columns = {name: getattr(self, name) for name in rec.DEFAULT_COLUMNS}
        self.extras["log"] = self._bind_extras("log_extra", self.log_extra)
        self.extras["db"] = self._bind_extras("db_extra", self.db_extra)
        self.extras["aaa"] = self._bind_extras("aaa_extra", self.aaa_extra)
        self.legs = self._bind_extras("multi_leg_info", self.multi_leg_info, legs=True)
        if self.db_url:
            from ..db import check_identifier

            for name in [*self.columns.values(), self.db_table_acc, self.db_table_missed_calls,
                         *(e.name for e in self.extras["db"]), *(e.name for e in self.legs)]:
                try:
                    check_identifier(name)
                except OpensipsgError as exc:
                    raise self._fail("db_extra", str(exc)) from None
            self.db = self.core.database(self.db_url)
        elif self.db_flag >= 0 or self.db_missed_flag >= 0:
            # 1.6: db_flag without db_url leaves database accounting inactive (the stock cfg does this)
            log.warning("acc: db_flag/db_missed_flag set but no db_url: database accounting is inactive")
        if self.aaa_url:
            from .aaa_radius import shared_client

            self.aaa = shared_client(self.core, self.aaa_url, "acc")
            names = ["Acct-Status-Type=Start", "Acct-Status-Type=Stop", "Acct-Status-Type=Alive",
                     "Acct-Status-Type=Failed", "Service-Type=Sip-Session", "Sip-Method",
                     "Sip-Response-Code", "Event-Timestamp", "Sip-From-Tag", "Sip-To-Tag",
                     "Acct-Session-Id", *(e.name for e in self.extras["aaa"]), *(e.name for e in self.legs)]
            try:
                self.aaa.check_attributes(names, "acc")
            except OpensipsgError as exc:
                raise ConfigError(str(exc)) from None
        elif self.aaa_flag >= 0 or self.aaa_missed_flag >= 0:
            log.warning("acc: aaa_flag/aaa_missed_flag set but no aaa_url: RADIUS accounting is inactive")
        tm = self.core.tm
        tm.register("final_reply", self._on_final_reply)
        if self.early_media:
            tm.register("provisional_reply", self._on_provisional_reply)
        tm.register("failure", self._on_failure)
        if self.report_cancels:
            tm.register("request_relayed", self._on_cancel)
        if self.report_ack:
            tm.register("e2e_ack", self._on_ack)

    def _open_spool(self) -> Spool:
        if self.spool is None:
            try:
                self.spool = Spool(self.spool_dir)
            except OSError as exc:
                raise ConfigError(f"acc: cannot use spool_dir {self.spool_dir}: {exc.strerror or exc}") from None
            if self.db is not None:
                self.deliverers["db"] = Deliverer(self.spool, "db", DBSender(self.db),
                                                  float(self.spool_retry), float(self.spool_max_backoff))
            if self.aaa is not None:
                self.deliverers["aaa"] = Deliverer(self.spool, "aaa", AAASender(self.aaa, self.clock),
                                                   float(self.spool_retry), float(self.spool_max_backoff))
        return self.spool

    def start(self) -> None:
        if self.db is not None or self.aaa is not None:
            self._open_spool()
            for deliverer in self.deliverers.values():
                deliverer.start()
            pending = self.spool.count() if self.spool else 0
            if pending:
                log.info("acc: %d spooled record(s) from an earlier run to deliver", pending)
        if self.cdr_interval > 0 and self.db is not None:
            import gevent

            self._cdr_greenlet = gevent.spawn(self._cdr_loop)

    def stop(self) -> None:
        if self._cdr_greenlet is not None:
            self._cdr_greenlet.kill(block=False)
            self._cdr_greenlet = None
        for deliverer in self.deliverers.values():
            deliverer.stop()
        if self.spool is not None:
            self.spool.close()
            self.spool = None
            self.deliverers = {}

    def _cdr_loop(self) -> None:
        import gevent

        while True:
            gevent.sleep(self.cdr_interval)
            try:
                self.build_cdrs()
            except Exception:
                log.exception("acc: building CDRs failed")

    # -- flags --------------------------------------------------------------------------------
    @staticmethod
    def _on(flags: int, flag: int) -> bool:
        return flag >= 0 and bool(flags & (1 << flag))

    def _acc_on(self, flags: int) -> bool:
        return any(self._on(flags, f) for f in (self.log_flag, self.db_flag, self.aaa_flag))

    def _mc_on(self, flags: int) -> bool:
        return any(self._on(flags, f) for f in (self.log_missed_flag, self.db_missed_flag, self.aaa_missed_flag))

    # -- evaluating extras ------------------------------------------------------------------------
    def _request_context(self, tx: Any, branch_uri: str | None) -> RouteContext:
        ctx = RouteContext(self.core, tx.request, RouteType.FAILURE, transaction=tx,
                           src_ip=tx.src_ip, src_port=tx.src_port, proto=tx.proto, listener=tx.listener)
        ctx.flags = tx.flags
        ctx.avps = tx.avps
        if branch_uri:
            ctx.new_uri = branch_uri
        return ctx

    def _evaluate(self, extras: list[_Extra], req_ctx: Any, reply_ctx: Any) -> tuple[tuple[str, str | None], ...]:
        out = []
        for extra in extras:
            ctx = reply_ctx if extra.on_reply else req_ctx
            value = None
            if ctx is not None:
                try:
                    value = extra.pv.get(ctx)
                except Exception:  # a PV that cannot be evaluated is NULL, as in 1.6
                    value = None
            out.append((extra.name, _value_text(value)))
        return tuple(out)

    def _legs(self, req_ctx: Any) -> tuple[tuple[tuple[str, str | None], ...], ...]:
        if not self.legs or req_ctx is None:
            return ()
        columns = [req_ctx.avps.get_all(extra.avp_key) for extra in self.legs]
        count = max((len(values) for values in columns), default=0)
        legs = []
        for index in range(count):
            legs.append(tuple((extra.name, _value_text(values[index] if index < len(values) else None))
                              for extra, values in zip(self.legs, columns)))
        return tuple(legs)

    # -- building records -----------------------------------------------------------------------------
    def _tags(self, request: Any, reply: Any) -> tuple[str, str, bool]:
        """(from_tag, to_tag, in_dialog); the To tag from the reply, or the request's
        for local replies (1.6 get_rpl_to); swapped for upstream requests with detect_direction."""
        from_tag = _safe_tag(request, "from")
        request_to = _safe_tag(request, "to")
        to_tag = _safe_tag(reply, "to") if reply is not None else request_to
        in_dialog = bool(request_to)
        if self.detect_direction and in_dialog:
            known = self.dialogs.get(request.call_id)
            if known is not None and from_tag == known[1] and from_tag != known[0]:
                from_tag, to_tag = to_tag, from_tag
        return from_tag, to_tag, in_dialog

    def _remember_dialog(self, record: rec.AccRecord) -> None:
        if not self.detect_direction:
            return
        if record.method == "INVITE" and not record.in_dialog and record.code[:1] == "2":
            self.dialogs[record.call_id] = (record.from_tag, record.to_tag)
            while len(self.dialogs) > DIRECTION_MEMORY:
                self.dialogs.popitem(last=False)
        elif record.method == "BYE":
            self.dialogs.pop(record.call_id, None)

    def _core_record(self, request: Any, code: str, reason: str, reply: Any, now: float,
                     extras: tuple = (), legs: tuple = ()) -> rec.AccRecord:
        from_tag, to_tag, in_dialog = self._tags(request, reply)
        return rec.AccRecord(request.method, from_tag, to_tag, request.call_id, code, reason, int(now),
                             extras, legs, in_dialog)

    def _emit(self, which: dict[str, bool], request: Any, code: str, reason: str, reply: Any,
              req_ctx: Any, reply_ctx: Any, log_prefix: str, db_table: str) -> int:
        """Build and send one record to the backends set in ``which``; 1 ok, -1 a failure."""
        now = self.clock()
        result = 1
        legs = self._legs(req_ctx)
        base = self._core_record(request, code, reason, reply, now, (), legs)
        self._remember_dialog(base)
        if which.get("log"):
            record = _with_extras(base, self._evaluate(self.extras["log"], req_ctx, reply_ctx))
            self.logger.log(self.level, "%s", rec.log_line(log_prefix, record))
        # a backend whose flag is set but whose url is not stays quiet (1.6; warned at start-up)
        if which.get("aaa") and self.aaa is not None:
            record = _with_extras(base, self._evaluate(self.extras["aaa"], req_ctx, reply_ctx))
            if self.send_aaa(record) < 0:
                result = -1
        if which.get("db") and self.db is not None:
            record = _with_extras(base, self._evaluate(self.extras["db"], req_ctx, reply_ctx))
            if self.send_db(record, db_table) < 0:
                result = -1
        return result

    # -- backends -----------------------------------------------------------------------------------
    def send_db(self, record: rec.AccRecord, table: str) -> int:
        if self.db is None:
            log.error("acc: database accounting is not configured (db_url)")
            return -1
        from ..db import time_to_db

        spool = self._open_spool()
        for row in rec.db_rows(record, self.columns, time_to_db(record.timestamp)):
            spool.enqueue("db", {"table": table, "row": row}, float(record.timestamp))
        self._wake("db")
        return 1

    def send_aaa(self, record: rec.AccRecord) -> int:
        if self.aaa is None:
            log.error("acc: RADIUS accounting is not configured (aaa_url)")
            return -1
        service = rec.SERVICE_SIP_SESSION if self.service_type < 0 else self.service_type
        attrs = rec.aaa_attributes(record, service)
        error = aaa_encoding_error(self.aaa, attrs)
        if error:
            log.error("acc: RADIUS accounting request failed for status %d: %s", attrs[0][1], error)
            return -1
        self._open_spool().enqueue("aaa", {"attrs": [list(a) for a in attrs]}, float(record.timestamp))
        self._wake("aaa")
        return 1

    def _wake(self, backend: str) -> None:
        deliverer = self.deliverers.get(backend)
        if deliverer is not None:
            deliverer.wake()

    # -- tm callbacks --------------------------------------------------------------------------------
    def _reply_context(self, tx: Any, reply: Any) -> Any:
        if reply is None:
            return None
        ctx = RouteContext(self.core, reply, RouteType.ONREPLY, transaction=tx, request=tx.request)
        ctx.flags = tx.flags
        ctx.avps = tx.avps
        return ctx

    @staticmethod
    def _branch_uri(tx: Any, winning: Any = None) -> str | None:
        """The R-URI extras see: the winning branch's, or the last branch's for missed calls."""
        if winning is not None:
            for branch in tx.branches:
                if branch.final is winning:
                    return branch.branch.uri
        return tx.branches[-1].branch.uri if tx.branches else None

    def _on_final_reply(self, tx: Any, status: int, reason: str, reply: Any) -> None:
        flags = tx.flags
        if tx.invite and status >= 300 and self._mc_on(flags):
            self._missed(tx, status, reason, reply)
            flags = tx.flags
        if status >= 300 and not self._on(flags, self.failed_transaction_flag):
            return
        if not self._acc_on(flags):
            return
        winner = _original_reply(tx, reply)
        req_ctx = self._request_context(tx, self._branch_uri(tx, winner))
        which = {"log": self._on(flags, self.log_flag), "db": self._on(flags, self.db_flag),
                 "aaa": self._on(flags, self.aaa_flag)}
        self._emit(which, tx.request, str(status), reason, reply, req_ctx, self._reply_context(tx, reply),
                   rec.ACC_ANSWERED, self.db_table_acc)

    def _on_provisional_reply(self, tx: Any, status: int, reason: str, reply: Any) -> None:
        """early_media: a relayed 183 (Session Progress, early media) is accounted as
        the final replies are, with its own code (1.6's acc_onreply for 183)."""
        if status != 183 or not tx.invite or not self._acc_on(tx.flags):
            return
        req_ctx = self._request_context(tx, self._branch_uri(tx, reply))
        which = {"log": self._on(tx.flags, self.log_flag), "db": self._on(tx.flags, self.db_flag),
                 "aaa": self._on(tx.flags, self.aaa_flag)}
        self._emit(which, tx.request, str(status), reason, reply, req_ctx, self._reply_context(tx, reply),
                   rec.ACC_ANSWERED, self.db_table_acc)

    def _on_failure(self, tx: Any, status: int, reply: Any) -> None:
        if tx.invite and self._mc_on(tx.flags):
            reason = reply.reason if reply is not None else LOCAL_REASONS.get(status, "")
            self._missed(tx, status, reason, reply)

    def _missed(self, tx: Any, status: int, reason: str, reply: Any) -> None:
        flags = tx.flags
        which = {"log": self._on(flags, self.log_missed_flag), "db": self._on(flags, self.db_missed_flag),
                 "aaa": self._on(flags, self.aaa_missed_flag)}
        req_ctx = self._request_context(tx, self._branch_uri(tx))
        self._emit(which, tx.request, str(status), reason, reply, req_ctx, self._reply_context(tx, reply),
                   rec.ACC_MISSED, self.db_table_missed_calls)
        # report only the first failed attempt; the failure route may set the flag again
        for flag in (self.log_missed_flag, self.db_missed_flag, self.aaa_missed_flag):
            if flag >= 0:
                flags &= ~(1 << flag)
        tx.flags = flags

    def _on_cancel(self, ctx: Any, tx: Any, status: int, reason: str) -> None:
        flags = ctx.flags
        if not self._acc_on(flags):
            return
        which = {"log": self._on(flags, self.log_flag), "db": self._on(flags, self.db_flag),
                 "aaa": self._on(flags, self.aaa_flag)}
        self._emit(which, ctx.request, str(status), reason, None, ctx, None, rec.ACC_ANSWERED,
                   self.db_table_acc)

    def _on_ack(self, ctx: Any) -> None:
        flags = ctx.flags
        if not self._acc_on(flags):
            return
        which = {"log": self._on(flags, self.log_flag), "db": self._on(flags, self.db_flag),
                 "aaa": self._on(flags, self.aaa_flag)}
        self._emit(which, ctx.request, "200", "OK", None, ctx, None, rec.ACC_ACKED, self.db_table_acc)

    # -- script functions -------------------------------------------------------------------------------
    @function("acc_log_request", "any", routes=R | F | B | L, fixup=_comment_fixup)
    def acc_log_request(self, ctx: Any, code: str, reason: str) -> int:
        if ctx.request is None:
            return -1
        return self._emit({"log": True}, ctx.request, code, reason, None, ctx, None, rec.ACC_REQUEST, "")

    @function("acc_db_request", "any", "any", routes=R | F | B | L, fixup=_comment_fixup)
    def acc_db_request(self, ctx: Any, code: str, reason: str, table: str) -> int:
        if ctx.request is None or self.db is None:
            if self.db is None:
                log.error("acc_db_request: no db_url")
            return -1
        return self._emit({"db": True}, ctx.request, code, reason, None, ctx, None, rec.ACC_REQUEST, table)

    @function("acc_aaa_request", "any", routes=R | F | B | L, fixup=_comment_fixup)
    def acc_aaa_request(self, ctx: Any, code: str, reason: str) -> int:
        if ctx.request is None or self.aaa is None:
            if self.aaa is None:
                log.error("acc_aaa_request: no aaa_url")
            return -1
        return self._emit({"aaa": True}, ctx.request, code, reason, None, ctx, None, rec.ACC_REQUEST, "")

    # -- calls that end without a BYE ----------------------------------------------------------------------
    def end_call(self, call_id: str, from_tag: str, to_tag: str, reason: str = "Call Ended") -> int:
        """Write the Stop of a call as if a BYE had been answered 200 (method BYE,
        code 200, sip_reason ``reason``), to every backend whose flag is configured
        (the original INVITE's flags are not known here). For the dialog and
        RTP-relay timeouts; the CDR job then pairs it with the Start. Returns how
        many backends took the record."""
        now = self.clock()
        record = rec.AccRecord("BYE", from_tag or "", to_tag or "", call_id, "200", reason, int(now),
                               in_dialog=True)
        self._remember_dialog(record)
        count = 0
        if self.log_flag >= 0:
            self.logger.log(self.level, "%s", rec.log_line(rec.ACC_ANSWERED, record))
            count += 1
        # extras cannot be evaluated without a message: their columns stay NULL
        if self.db is not None and self.db_flag >= 0:
            extras = tuple((e.name, None) for e in self.extras["db"])
            count += self.send_db(_with_extras(record, extras), self.db_table_acc) > 0
        if self.aaa is not None and self.aaa_flag >= 0:
            count += self.send_aaa(record) > 0
        return count

    def build_cdrs(self) -> int:
        """Pair the acc table's INVITE and BYE rows into cdrs now; the number of new CDRs."""
        if self.db is None:
            return 0
        from ..acc.cdr import build_cdrs

        return build_cdrs(self.db, self.db_table_acc, columns=self.columns, now=self.clock())


class _NoPosType:
    file = "<modparam>"
    line = 0
    col = 0


_NoPos: Any = _NoPosType()


def _with_extras(record: rec.AccRecord, extras: tuple) -> rec.AccRecord:
    if not extras:
        return record
    return rec.AccRecord(record.method, record.from_tag, record.to_tag, record.call_id, record.code,
                         record.reason, record.timestamp, extras, record.legs, record.in_dialog)


def _safe_tag(msg: Any, which: str) -> str:
    try:
        header = msg.from_ if which == "from" else msg.to
        return header.tag or ""
    except (OpensipsgError, AttributeError):
        return ""


def _original_reply(tx: Any, relayed: Any) -> Any:
    """The branch reply a relayed (copied) reply came from, matched by status and To tag."""
    if relayed is None:
        return None
    tag = _safe_tag(relayed, "to")
    for branch in tx.branches:
        final = branch.final
        if final is not None and final.status == relayed.status and _safe_tag(final, "to") == tag:
            return final
    return None
