"""cfgutils -- script helpers: random events, sleeping, shared variables (OpenSIPS 1.6).

Overview
    rand_event() is true with a configurable probability (e.g. to shed a
    share of the load); sleep()/usleep() pause the current message's
    greenlet without blocking the server; ``$shv(name)`` variables are shared
    by every message; ``$time(name)`` gives parts of the local time;
    ``$RANDOM`` a random number.

Dependencies
    None.

Parameters
    initial_probability (int, 10)  percent for rand_event().
    shvset (str, repeatable)       initial ``$shv``: "name=i:10" / "name=s:text".
    varset (str, repeatable)       initial ``$var``: same format.
    hash_file (str)                accepted; config hash MI commands are not
                                   implemented yet.

Functions (all routes)
    rand_event()          1 with the current probability, else -1.
    rand_set_prob("p")    set the probability (0..100); 1.
    rand_reset_prob()     back to initial_probability; 1.
    rand_get_prob()       returns the probability itself, as 1.6 does (so a
                          probability of 0 stops the script).
    sleep("s"), usleep("us")  pause (gevent.sleep); 1.
    pkg_status(), shm_status()  log memory status (nothing to show); 1.

Pseudo-variables
    $RANDOM, $shv(name) (read-write), $time(sec|min|hour|mday|mon|year|wday|
    yday|isdst).
"""
from __future__ import annotations

import logging
import random
from typing import Any

from ..registry import ALL_ROUTES, Module, Param, PVSpec, find_module, function, register_module

log = logging.getLogger(__name__)

RAND_MAX = 2**31 - 1


def parse_var_setting(text: str) -> tuple[str, int | str]:
    """'name=i:10' -> ('name', 10); 'name=s:hello' -> ('name', 'hello')."""
    name, sep, rest = text.partition("=")
    kind, sep2, value = rest.partition(":")
    name = name.strip()
    if not sep or not sep2 or not name or kind.strip().lower() not in ("i", "s"):
        raise ValueError(f"cfgutils: bad variable setting {text!r} (expected name=i:N or name=s:text)")
    if kind.strip().lower() == "i":
        return name, int(value.strip())
    return name, value


def _instance(core: Any) -> "CfgutilsModule":
    found = find_module(core, "cfgutils")
    if found is None:
        raise LookupError("cfgutils is not loaded")
    return found


def _get_shv(ctx: Any, name: str) -> int | str | None:
    return _instance(ctx.core).shared.get(name)


def _set_shv(ctx: Any, name: str, value: Any) -> None:
    _instance(ctx.core).shared[name] = 0 if value is None else value


@register_module
class CfgutilsModule(Module):
    name = "cfgutils"
    params = {
        "initial_probability": Param(int, 10),
        "hash_file": Param(str, ""),
        "shvset": Param(str, "", multi=True),
        "varset": Param(str, "", multi=True),
    }
    pseudo_variables = (
        PVSpec("RANDOM", lambda ctx, param: random.randint(0, RAND_MAX), module="cfgutils"),
        PVSpec("shv", lambda ctx, name: _get_shv(ctx, name), _set_shv, needs_param=True, module="cfgutils"),
    )

    def __init__(self, core: Any) -> None:
        super().__init__(core)
        self.shared: dict[str, int | str] = {}
        self.probability = 10
        self._random = random.Random()

    def init(self) -> None:
        if not 0 <= self.initial_probability <= 100:
            raise ValueError(f"cfgutils: invalid initial_probability {self.initial_probability}")
        self.probability = self.initial_probability
        for setting in self.shvset:
            name, value = parse_var_setting(setting)
            self.shared[name] = value
        for setting in self.varset:
            name, value = parse_var_setting(setting)
            self.core.script_vars[name] = value

    @function("rand_event", routes=ALL_ROUTES)
    def rand_event(self, ctx: Any) -> int:
        if self.probability <= 0:
            return -1
        if self.probability >= 100:
            return 1
        return 1 if self._random.random() < self.probability / 100 else -1

    @function("rand_set_prob", "int", routes=ALL_ROUTES)
    def rand_set_prob(self, ctx: Any, probability: int) -> int:
        if not 0 <= probability <= 100:
            log.error("rand_set_prob: invalid probability %d", probability)
            return -1
        self.probability = probability
        return 1

    @function("rand_reset_prob", routes=ALL_ROUTES)
    def rand_reset_prob(self, ctx: Any) -> int:
        self.probability = self.initial_probability
        return 1

    @function("rand_get_prob", routes=ALL_ROUTES)
    def rand_get_prob(self, ctx: Any) -> int:
        log.info("actual probability: %d percent", self.probability)
        return self.probability

    @function("sleep", "int", routes=ALL_ROUTES)
    def sleep(self, ctx: Any, seconds: int) -> int:
        import gevent

        gevent.sleep(seconds)
        return 1

    @function("usleep", "int", routes=ALL_ROUTES)
    def usleep(self, ctx: Any, microseconds: int) -> int:
        import gevent

        gevent.sleep(microseconds / 1_000_000)
        return 1

    @function("pkg_status", routes=ALL_ROUTES)
    def pkg_status(self, ctx: Any) -> int:
        log.info("pkg_status: no private memory pool in opensipsg")
        return 1

    @function("shm_status", routes=ALL_ROUTES)
    def shm_status(self, ctx: Any) -> int:
        log.info("shm_status: no shared memory pool in opensipsg")
        return 1
