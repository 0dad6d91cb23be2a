"""tm: stateful transactions (see opensipsg.tm for the machinery).

Parameters (1.6 names and defaults): fr_timer 30 (s), fr_inv_timer 120 (s),
wt_timer 5, delete_timer 2, T1_timer 500 (ms), T2_timer 4000 (ms),
restart_fr_on_each_reply 1, fr_timer_avp / fr_inv_timer_avp ("NULL": an AVP
whose value overrides the timer per transaction), onreply_avp_mode 0, and the
accepted-for-compatibility ruri_matching, via1_matching, unix_tx_timeout,
tw_append, pass_provisional_replies, syn_branch, disable_6xx_block,
enable_stats, minor_branch_flag.

Functions:
- ``t_relay([dest][, flags])`` [R,F]: relay statefully to the R-URI and branches
  ($du wins); a numeric single argument is flags (0x01 no automatic 100 Trying,
  0x02 no internal negative reply). 1 ok; -1 error, -2 bad message, -3 no
  destination, -4 bad destination, -6 send failed; 0 for a retransmission.
- ``t_newtran()`` [R], ``t_reply(code, reason)`` [R,F].
- ``t_check_trans()`` [R,B]: 0 and the last reply re-sent for a retransmission;
  true for a CANCEL whose INVITE we have; -1 otherwise.
- ``t_check_status(re)`` [R,F,O,B]; ``t_was_cancelled()`` [F,O];
  ``t_on_failure(r)``, ``t_on_reply(r)``, ``t_on_branch(r)`` [R,F,O,B];
  ``t_flush_flags()`` [R,B]; ``t_local_replied("all"|"last")`` [R,F,O,B].
Pseudo-variables: $T_reply_code, $T_branch_idx, $T_ruri.
MI: ``t_uac_dlg method ruri next_hop socket headers [body]`` sends a request of
our own ("." for an empty next hop / socket) and answers with the final reply's
status line and headers (what ``opensipsctl ping`` uses).
"""
from __future__ import annotations

from typing import Any

from ..errors import ParseError
from ..mi.tree import MIReply
from ..registry import B, F, Module, O, Param, PVSpec, R, function, mi_command, register_module
from ..sip.transaction import Timers
from .sl import reply_code, value_of


def _relay_fixup(args: tuple[Any, ...], binder: Any) -> tuple[Any, ...]:
    """t_relay's one-argument form is flags when numeric, else a static destination."""
    dest: str | None = None
    flags = 0
    texts = [str(arg.value) for arg in args]
    if len(texts) == 1:
        if _is_number(texts[0]):
            flags = int(texts[0], 0)
        else:
            dest = texts[0]
    elif len(texts) == 2:
        dest = texts[0]
        if not _is_number(texts[1]):
            binder.error(args[1], "t_relay flags must be a number")
        flags = int(texts[1], 0)
    return (dest, flags)


def _is_number(text: str) -> bool:
    try:
        int(text, 0)
        return True
    except ValueError:
        return False


def _avp_key(spec: str) -> tuple[str, Any] | None:
    """'$avp(i:24)' / 'i:24' / '$avp(s:name)' -> an AVP key; None for 'NULL' or ''."""
    spec = spec.strip()
    if not spec or spec.upper() == "NULL":
        return None
    if spec.startswith("$avp(") and spec.endswith(")"):
        spec = spec[5:-1]
    kind, sep, name = spec.partition(":")
    if sep and kind[:1] == "i" and name.isdigit():
        return ("i", int(name))
    if sep and kind[:1] == "s":
        return ("s", name)
    return ("s", spec)


def _reply_code_pv(ctx: Any, param: Any) -> int:
    if ctx.msg is not None and not ctx.msg.is_request:
        return ctx.msg.status
    if ctx.reply_code:
        return ctx.reply_code
    tx = ctx.transaction
    return tx.last_reply_status if tx is not None else 0


def _branch_idx_pv(ctx: Any, param: Any) -> int | None:
    return ctx.branch_index


def _t_ruri_pv(ctx: Any, param: Any) -> str | None:
    tx = ctx.transaction
    return tx.request.ruri if tx is not None else None


@register_module
class TM(Module):
    name = "tm"
    params = {
        "fr_timer": Param(int, 30),
        "fr_inv_timer": Param(int, 120),
        "wt_timer": Param(int, 5),
        "delete_timer": Param(int, 2),
        "T1_timer": Param(int, 500),
        "T2_timer": Param(int, 4000),
        "ruri_matching": Param(int, 1),
        "via1_matching": Param(int, 1),
        "unix_tx_timeout": Param(int, 2),
        "restart_fr_on_each_reply": Param(int, 1),
        "fr_timer_avp": Param(str, "NULL"),
        "fr_inv_timer_avp": Param(str, "NULL"),
        "tw_append": Param(str, "", multi=True),
        "pass_provisional_replies": Param(int, 0),
        "syn_branch": Param(int, 1),
        "onreply_avp_mode": Param(int, 0),
        "disable_6xx_block": Param(int, 0),
        "enable_stats": Param(int, 1),
        "minor_branch_flag": Param(int, -1),
    }
    pseudo_variables = (
        PVSpec("T_reply_code", _reply_code_pv, module="tm"),
        PVSpec("T_branch_idx", _branch_idx_pv, module="tm"),
        PVSpec("T_ruri", _t_ruri_pv, module="tm"),
    )

    def init(self) -> None:
        layer = self.core.tm
        layer.configure(Timers(
            t1=self.T1_timer / 1000.0,
            t2=self.T2_timer / 1000.0,
            fr_timer=float(self.fr_timer),
            fr_inv_timer=float(self.fr_inv_timer),
            wt_timer=float(self.wt_timer),
            restart_fr_on_each_reply=bool(self.restart_fr_on_each_reply),
        ))
        layer.onreply_avp_mode = self.onreply_avp_mode
        layer.fr_timer_avp = _avp_key(self.fr_timer_avp)
        layer.fr_inv_timer_avp = _avp_key(self.fr_inv_timer_avp)

    @function("t_relay", "any", "any", optional=2, routes=R | F, fixup=_relay_fixup)
    def t_relay(self, ctx: Any, dest: str | None = None, flags: int = 0) -> int:
        return self.core.tm.relay(ctx, dest, flags)

    @function("t_newtran", routes=R)
    def t_newtran(self, ctx: Any) -> int:
        if ctx.request.method == "ACK":  # 1.6: no transaction for an ACK; 0 once absorbed
            return 0 if self.core.tm.absorb_ack(ctx.request) else 1
        tx, created = self.core.tm.new_transaction(ctx)
        if tx is None:
            return -1
        return 1 if created else 0

    @function("t_reply", "intfmt", "fmt", routes=R | F)
    def t_reply(self, ctx: Any, code: Any, reason: Any) -> int:
        status = reply_code(code, ctx)
        if status is None:
            return -1
        return self.core.tm.reply(ctx, status, value_of(reason, ctx))

    @function("t_check_trans", routes=R | B)
    def t_check_trans(self, ctx: Any) -> int:
        return self.core.tm.check_trans(ctx)

    @function("t_check_status", "regex", routes=R | F | O | B)
    def t_check_status(self, ctx: Any, pattern: Any) -> int:
        code = _reply_code_pv(ctx, None)
        if not code:
            return -1
        return 1 if pattern.search(str(code)) else -1

    @function("t_was_cancelled", routes=F | O)
    def t_was_cancelled(self, ctx: Any) -> int:
        tx = ctx.transaction
        return 1 if tx is not None and tx.cancelled else -1

    def _arm(self, ctx: Any, kind: str, route: str) -> int:
        ctx.armed[kind] = route
        tx = ctx.transaction
        if tx is not None and ctx.route_type != B:
            tx.armed[kind] = route
        return 1

    @function("t_on_failure", "route", routes=R | F | O | B)
    def t_on_failure(self, ctx: Any, route: str) -> int:
        return self._arm(ctx, "failure", route)

    @function("t_on_reply", "route", routes=R | F | O | B)
    def t_on_reply(self, ctx: Any, route: str) -> int:
        return self._arm(ctx, "onreply", route)

    @function("t_on_branch", "route", routes=R | F | O | B)
    def t_on_branch(self, ctx: Any, route: str) -> int:
        return self._arm(ctx, "branch", route)

    @function("t_flush_flags", routes=R | B)
    def t_flush_flags(self, ctx: Any) -> int:
        tx = ctx.transaction
        if tx is None:
            return -1
        tx.flags = ctx.flags
        return 1

    @function("t_local_replied", "str", routes=R | F | O | B)
    def t_local_replied(self, ctx: Any, which: str) -> int:
        tx = ctx.transaction
        if tx is None:
            return -1
        branches = [b for b in tx.branches if b.done]
        if which == "all":
            return 1 if branches and all(b.final is None for b in branches) else -1
        winner = ctx.extra.get("winning_reply", "none")
        return 1 if winner is None else -1

    @mi_command("t_uac_dlg")
    def mi_t_uac_dlg(self, args: list[str]) -> MIReply:
        if not 5 <= len(args) <= 6:
            return MIReply(code=400, reason="Too few or too many arguments")
        method, ruri, next_hop, _socket, headers = args[:5]
        body = args[5] if len(args) == 6 else ""
        try:
            reply = self.core.tm.send_request(method, ruri, "" if headers == "." else headers, body,
                                              None if next_hop == "." else next_hop)
        except ParseError as exc:
            return MIReply(code=400, reason=exc.reason)
        result = MIReply()
        if reply is None:
            result.add(value="408 Request Timeout")
            return result
        result.add(value=f"{reply.status} {reply.reason}")
        result.add(value="\r\n".join(h.raw for h in reply.headers) + "\r\n")
        return result
