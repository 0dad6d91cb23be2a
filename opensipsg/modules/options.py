"""options -- answer OPTIONS requests sent to the server itself (OpenSIPS 1.6).

Overview
    options_reply() answers an OPTIONS request whose R-URI has no user part
    (a keep-alive or capability query addressed to this server) with
    ``200 OK`` carrying Accept, Accept-Encoding, Accept-Language and
    Supported headers built from the parameters.

Dependencies
    The core reply function (``signaling`` semantics).

Parameters
    accept (str, "*/*"), accept_encoding (str, ""), accept_language (str,
    "en"), support (str, "").

Functions
    options_reply()  [request]
        0 (the script stops) once the reply is sent, as in 1.6; -1 for a
        request that is not OPTIONS or has a user in the R-URI, or when the
        reply cannot be sent.
"""
from __future__ import annotations

import logging
from typing import Any

from ..errors import ParseError
from ..registry import Module, Param, R, function, register_module

log = logging.getLogger(__name__)


@register_module
class OptionsModule(Module):
    name = "options"
    params = {
        "accept": Param(str, "*/*"),
        "accept_encoding": Param(str, ""),
        "accept_language": Param(str, "en"),
        "support": Param(str, ""),
    }

    def reply_headers(self) -> list[str]:
        return [
            f"Accept: {self.accept}",
            f"Accept-Encoding: {self.accept_encoding}",
            f"Accept-Language: {self.accept_language}",
            f"Supported: {self.support}",
        ]

    @function("options_reply", routes=R)
    def options_reply(self, ctx: Any) -> int:
        request = ctx.msg
        if getattr(request, "method", "").upper() != "OPTIONS":
            log.error("options_reply: called for a non-OPTIONS request")
            return -1
        try:
            if ctx.parsed_ruri().user:
                log.error("options_reply: R-URI contains a user part")
                return -1
        except ParseError:
            return -1
        if self.core.send_reply(ctx, 200, "OK", self.reply_headers()) < 0:
            log.error("options_reply: failed to send 200")
            return -1
        return 0
