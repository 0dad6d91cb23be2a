"""maxfwd -- Max-Forwards processing (OpenSIPS 1.6).

Overview
    Checks and decrements the Max-Forwards header (RFC 3261 16.3 step 3,
    16.6 step 3), adding it when it is missing, and compares its value.

Dependencies
    None.

Parameters
    max_limit (int, 256)   values above this are lowered to it; 1..256.

Functions
    mf_process_maxfwd_header("max")  [request]
        no header: add ``Max-Forwards: max`` (at the top), return 2;
        value > 0: decrement it (values above max_limit become max_limit),
        return 1; value 0: return -1 (the script replies 483);
        unparsable value: -2.
    is_maxfwd_lt("n")  [request, failure, branch]
        1 if the value is lower than n, -1 if not, -2 if there is no
        header, -3 if it cannot be parsed.
"""
from __future__ import annotations

import logging
from typing import Any

from ..registry import B, F, Module, Param, R, function, register_module

log = logging.getLogger(__name__)

MAX_VALUE = 256


def _header_value(msg: Any) -> tuple[int, int | None]:
    """(index of the first Max-Forwards header or -1, its value or None when unparsable)."""
    # a plain scan: msg.find()'s generator costs more than the loop (runs for every request)
    for index, header in enumerate(msg.headers):
        if header.name == "max-forwards":
            text = header.value.strip()
            if not text.isdigit() or len(text) > 3 or int(text) > 255:
                return index, None
            return index, int(text)
    return -1, None


@register_module
class MaxfwdModule(Module):
    name = "maxfwd"
    params = {"max_limit": Param(int, MAX_VALUE)}

    def init(self) -> None:
        if not 1 <= self.max_limit <= MAX_VALUE:
            raise ValueError(f"maxfwd: invalid max_limit {self.max_limit} (1..{MAX_VALUE})")

    @function("mf_process_maxfwd_header", "int", routes=R)
    def mf_process_maxfwd_header(self, ctx: Any, max_value: int) -> int:
        msg = ctx.msg
        # _header_value's scan inline: this runs for every request
        index = -1
        value = None
        for position, header in enumerate(msg.headers):
            if header.name == "max-forwards":
                index = position
                text = header.value.strip()
                if text.isdigit() and len(text) <= 3:
                    value = int(text)
                    if value > 255:
                        value = None
                break
        if index < 0:
            if not 0 <= max_value <= MAX_VALUE:
                log.error("mf_process_maxfwd_header: invalid value %d", max_value)
                return -2
            msg.insert_header(0, "Max-Forwards", str(max_value))
            return 2
        if value is None:
            log.error("mf_process_maxfwd_header: bad Max-Forwards value")
            return -2
        if value == 0:
            return -1
        if value > self.max_limit:
            value = self.max_limit + 1
        msg.replace_header_at(index, str(value - 1))
        return 1

    @function("is_maxfwd_lt", "int", routes=R | F | B)
    def is_maxfwd_lt(self, ctx: Any, limit: int) -> int:
        index, value = _header_value(ctx.msg)
        if index < 0:
            return -2
        if value is None:
            return -3
        return 1 if value < limit else -1
