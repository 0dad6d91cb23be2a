"""Dispatcher and core MI commands against a small fake Core (real Statistics)."""
from __future__ import annotations

import logging
import os
import time
from types import SimpleNamespace

import pytest

from opensipsg.mi import available, format_reply, run
from opensipsg.registry import Module, mi_command
from opensipsg.statistics import Statistics


class FakeDomain(Module):
    name = "domain"

    @mi_command("domain_dump")
    def dump(self, args):
        return ["Domain:: example.com"]

    @mi_command("domain_reload")
    def reload(self, args):
        error = Exception("no db")
        error.status, error.reason = 500, "command not activated"
        raise error

    @mi_command("broken")
    def broken(self, args):
        raise RuntimeError("bug")


@pytest.fixture
def core():
    stats = Statistics()
    for name in ("rcv_requests", "rcv_replies"):
        stats.register(name)
    stats.register("usrloc:registered_users", lambda: 2)
    stats.inc("rcv_requests", 5)
    core = SimpleNamespace(stats=stats, modules={}, params=SimpleNamespace(debug=2),
                           start_time=time.time() - 42, listeners=[])
    core.modules["domain"] = FakeDomain(core)
    return core


def test_unknown_command_is_1_6_worded(core):
    assert format_reply(run(core, "no_such_cmd", [])) == "500 command 'no_such_cmd' not available\n"


def test_which_lists_core_then_module_commands(core):
    names = [n.value for n in run(core, "which", []).children]
    assert names[:3] == ["uptime", "version", "pwd"]
    assert {"get_statistics", "reset_statistics", "ps", "kill", "debug", "arg"} <= set(names)
    assert names.index("domain_dump") > names.index("reset_statistics")
    assert "ul_dump" not in names  # usrloc is not loaded
    assert names == available(core)


def test_uptime_version_pwd(core):
    text = format_reply(run(core, "uptime", []))
    lines = text.splitlines()
    assert lines[0] == "200 OK"
    assert lines[1].startswith("Now:: ") and lines[2].startswith("Up since:: ")
    assert lines[3].startswith("Up time:: ") and lines[3].endswith(" [sec]")
    assert int(lines[3].split()[2]) >= 42
    assert format_reply(run(core, "version", [])).startswith("200 OK\nServer:: opensipsg (")
    assert format_reply(run(core, "pwd", [])) == f"200 OK\nWD:: {os.getcwd()}\n\n"


def test_ps_has_1_6_shape(core):
    text = format_reply(run(core, "ps", []))
    assert text.splitlines()[1] == f"Process::  ID=0 PID={os.getpid()} Type=attendant"


def test_get_statistics_selectors(core):
    def values(*args):
        reply = run(core, "get_statistics", list(args))
        return reply.code, [n.value for n in reply.children]

    code, lines = values("all")
    assert code == 200 and "core:rcv_requests = 5" in lines and "usrloc:registered_users = 2" in lines
    assert values("usrloc:") == (200, ["usrloc:registered_users = 2"])
    assert values("rcv_requests") == (200, ["core:rcv_requests = 5"])
    assert values("core:rcv_requests", "rcv_replies") == (200, ["core:rcv_requests = 5", "core:rcv_replies = 0"])
    assert run(core, "get_statistics", ["nothing_like_it"]).reason == "Statistics Not Found"
    assert format_reply(run(core, "get_statistics", [])) == "400 Too few or too many arguments\n\n"


def test_reset_statistics(core):
    assert run(core, "reset_statistics", ["rcv_requests", "registered_users"]).code == 200
    assert core.stats.get("rcv_requests") == 0
    assert core.stats.get("usrloc:registered_users") == 2  # not resettable: left alone
    assert run(core, "reset_statistics", ["nope"]).code == 404
    assert run(core, "reset_statistics", []).code == 400


def test_debug(core):
    root = logging.getLogger()
    level = root.level
    try:
        assert format_reply(run(core, "debug", [])) == "200 OK\nDEBUG:: 2\n\n"
        assert format_reply(run(core, "debug", ["4"])) == "200 OK\nDEBUG:: 4\n\n"
        assert core.params.debug == 4 and root.level == logging.DEBUG
        assert run(core, "debug", ["x"]).code == 400
    finally:
        root.setLevel(level)


def test_arg_lists_argv(core):
    assert run(core, "arg", []).children  # at least argv[0]


def test_module_commands_and_their_errors(core):
    assert format_reply(run(core, "domain_dump", [])) == "200 OK\nDomain:: example.com\n\n"
    assert format_reply(run(core, "domain_reload", [])) == "500 command not activated\n\n"
    assert format_reply(run(core, "broken", [])) == "500 command 'broken' failed\n"
