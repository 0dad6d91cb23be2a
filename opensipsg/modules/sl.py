"""sl: stateless replies.

Parameters: ``enable_stats`` (int, 1).
Functions:
- ``sl_send_reply(code, reason)`` [request, error route]: send a stateless reply;
  code and reason may hold pseudo-variables. 1 on success, -1 on failure.
- ``sl_reply_error()`` [request route]: reply with the status of the last internal
  error (e.g. a failed ``t_relay``), as 1.6 maps them.
ACKs to our stateless negative replies are absorbed before the script runs
(they carry the To-tag sl put in the reply).
Statistics: 1xx_replies .. 6xx_replies, sent_replies, sent_err_replies, received_ACKs.
"""
from __future__ import annotations

from typing import Any

from ..registry import E, Module, Param, R, function, register_module

# internal error codes (ser_error / t_relay return codes) -> the 1.6 reply
ERROR_REPLIES = {
    -5: (473, "Filtered destination"),
    -4: (476, "Unresolvable destination"),
    -6: (477, "Send failed"),
    -2: (400, "Bad Request"),
    -3: (500, "No destination"),
}


def value_of(value: Any, ctx: Any) -> Any:
    """A fixed-up argument's value: Formats are rendered, plain values returned."""
    render = getattr(value, "render", None)
    return render(ctx) if render is not None else value


def reply_code(value: Any, ctx: Any) -> int | None:
    """A reply code argument (int, or a Format holding one) checked to be 100..699."""
    code = value_of(value, ctx)
    try:
        code = int(str(code).strip())
    except ValueError:
        return None
    return code if 100 <= code <= 699 else None


@register_module
class SL(Module):
    name = "sl"
    params = {"enable_stats": Param(int, 1)}

    def init(self) -> None:
        stats = self.core.stats
        for name in ("1xx_replies", "2xx_replies", "3xx_replies", "4xx_replies", "5xx_replies",
                     "6xx_replies", "sent_replies", "sent_err_replies", "received_ACKs"):
            stats.register(f"sl:{name}")

    @function("sl_send_reply", "intfmt", "fmt", routes=R | E)
    def sl_send_reply(self, ctx: Any, code: Any, reason: Any) -> int:
        status = reply_code(code, ctx)
        if status is None:
            return -1
        return self.core.sl_send_reply(ctx, status, value_of(reason, ctx))

    @function("sl_reply_error", routes=R)
    def sl_reply_error(self, ctx: Any) -> int:
        error = ctx.extra.get("ser_error", -1)
        status, text = ERROR_REPLIES.get(error, (500, "Server error occurred"))
        return self.core.sl_send_reply(ctx, status, f"{text} (1/SL)")
