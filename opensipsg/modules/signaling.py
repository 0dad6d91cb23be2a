"""signaling: ``send_reply(code, reason)`` [request, error, failure routes] replies
statefully when a transaction exists (tm) and statelessly otherwise (sl).
auth and registrar reply through it. Returns 1 on success, -1 on failure."""
from __future__ import annotations

from typing import Any

from ..registry import E, F, Module, R, function, register_module
from .sl import reply_code, value_of


@register_module
class Signaling(Module):
    name = "signaling"

    @function("send_reply", "intfmt", "fmt", routes=R | E | F)
    def send_reply(self, ctx: Any, code: Any, reason: Any) -> int:
        status = reply_code(code, ctx)
        if status is None:
            return -1
        return self.core.send_reply(ctx, status, value_of(reason, ctx))
