"""The 1.6 core MI commands (mi/mi_core.c, statistics.c): uptime, version, pwd,
arg, which, ps, kill, debug, get_statistics, reset_statistics.

Handlers take the Core and the argument values and return an MIReply.
"""
from __future__ import annotations

import logging
import os
import platform
import signal
import sys
import time
from typing import Any

from .. import SERVER_NAME, __version__
from ..registry import core_mi
from .dispatch import available
from .tree import MI_BAD_PARM, MI_MISSING_PARM, MIReply, error, ok

# OpenSIPS debug levels -> logging levels (as the daemon maps them)
_LEVELS = {-3: logging.CRITICAL, -2: logging.CRITICAL, -1: logging.ERROR, 0: logging.WARNING,
           1: logging.WARNING, 2: logging.INFO, 3: logging.INFO, 4: logging.DEBUG}


def server_version() -> str:
    """What follows ``Server: `` in 1.6's SERVER_HDR: ``NAME (VERSION (ARCH/OS))``."""
    return f"{SERVER_NAME} ({__version__} ({platform.machine() or 'unknown'}/{sys.platform}))"


@core_mi("uptime")
def mi_uptime(core: Any, args: list[str]) -> MIReply:
    now = time.time()
    reply = MIReply()
    reply.add("Now", time.ctime(now))
    reply.add("Up since", time.ctime(core.start_time))
    reply.add("Up time", f"{int(now - core.start_time)} [sec]")
    return reply


@core_mi("version")
def mi_version(core: Any, args: list[str]) -> MIReply:
    reply = MIReply()
    reply.add("Server", server_version())
    return reply


@core_mi("pwd")
def mi_pwd(core: Any, args: list[str]) -> MIReply:
    reply = MIReply()
    reply.add("WD", os.getcwd())
    return reply


@core_mi("arg")
def mi_arg(core: Any, args: list[str]) -> MIReply:
    return ok(*sys.argv)


@core_mi("which")
def mi_which(core: Any, args: list[str]) -> MIReply:
    return ok(*available(core))


def processes(core: Any) -> list[str]:
    """1.6's process table, as descriptions. opensipsg is one process serving
    everything in greenlets, so every entry carries the same PID; the list says
    which jobs run (1.6 types: attendant, SIP receiver, timer, MI FIFO, TCP ...)."""
    types = ["attendant"]
    listeners = list(getattr(core, "listeners", []) or [])
    for listener in listeners:
        if listener.proto == "udp":
            types.append(f"SIP receiver {listener.name}")
    types.append("time_keeper")
    types.append("timer")
    modules = getattr(core, "modules", {}) or {}
    if "mi_fifo" in modules:
        types.append("MI FIFO")
    if "mi_json" in modules:
        types.append("MI JSON")
    if any(l.proto == "tcp" for l in listeners):
        types.append("TCP receiver")
        types.append("TCP main")
    return types


@core_mi("ps")
def mi_ps(core: Any, args: list[str]) -> MIReply:
    reply = MIReply()
    pid = os.getpid()
    for index, kind in enumerate(processes(core)):
        node = reply.add("Process", "")
        node.attr("ID", index).attr("PID", pid).attr("Type", kind)
    return reply


@core_mi("kill")
def mi_kill(core: Any, args: list[str]) -> MIReply:
    # 1.6 sends SIGTERM to its process group; we send it to ourselves: the
    # daemon's signal handler stops the Core after this reply has gone out.
    os.kill(os.getpid(), signal.SIGTERM)
    return MIReply()


@core_mi("debug")
def mi_debug(core: Any, args: list[str]) -> MIReply:
    level = int(getattr(core.params, "debug", 0))
    if args:
        try:
            level = int(args[0])
        except ValueError:
            return error(400, MI_BAD_PARM)
        core.params.debug = level
        logging.getLogger().setLevel(_LEVELS.get(max(-3, min(4, level)), logging.DEBUG))
    reply = MIReply()
    reply.add("DEBUG", level)
    return reply


@core_mi("get_statistics")
def mi_get_statistics(core: Any, args: list[str]) -> MIReply:
    if not args:
        return error(400, MI_MISSING_PARM)
    reply = MIReply()
    seen: set[str] = set()
    for selector in args:
        if not selector:
            continue
        if selector != "all" and selector.endswith(":") and len(selector) < 2:
            continue
        for name, value in core.stats.items(selector):
            if name in seen:
                continue
            seen.add(name)
            reply.add(None, f"{name} = {value}")
    if not reply.children:
        return error(404, "Statistics Not Found")
    return reply


@core_mi("reset_statistics")
def mi_reset_statistics(core: Any, args: list[str]) -> MIReply:
    if not args:
        return error(400, MI_MISSING_PARM)
    found = False
    for name in args:
        if not name or name.endswith(":") or name == "all":
            continue  # 1.6 resets single statistics only
        matches = core.stats.items(name)
        if not matches:
            continue
        found = True
        for full_name, _ in matches:
            core.stats.reset(full_name)  # non-resettable ones are left alone
    if not found:
        return error(404, "Statistics Not Found")
    return MIReply()
