"""The management interface (MI): the reply tree, the dispatcher, the 1.6 core
commands, usrloc's commands, and the FIFO/JSON formats.

``run(core, name, args) -> MIReply`` runs any available command;
``format_reply(reply)`` gives 1.6's FIFO text, ``reply.to_dict()`` the JSON shape.
Transports: modules/mi_fifo.py (1.6 FIFO) and modules/mi_json.py (JSON-RPC over HTTP).
"""
from __future__ import annotations

from . import core_cmds, usrloc_cmds  # noqa: F401 - registers the commands
from .dispatch import available, find, module_mi, run
from .fifo_format import format_reply, format_request, parse_reply, parse_request
from .tree import MINode, MIReply, as_reply

__all__ = [
    "MINode", "MIReply", "as_reply", "available", "find", "format_reply", "format_request",
    "module_mi", "parse_reply", "parse_request", "run",
]
