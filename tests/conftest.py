"""Shared fixtures. The end-to-end ones come from tests/e2e/harness.py.

- ``tmp_workdir``: a fresh directory for configs, logs, SIPp files.
- ``sipp``: path of the sipp binary; skips the test when SIPp is missing,
  except under CI (``CI=true``), where a missing SIPp fails the test loudly.
- ``server_factory(cfg_text, **kw) -> Server``: starts opensipsg (ready when it
  answers OPTIONS) and stops every server it started, by PID, at test end,
  even when the test failed; the log is attached to the test report.
- ``sipp_factory(args, **kw) -> SippProcess``: background SIPp (a UAS),
  stopped by PID at test end.
"""
from __future__ import annotations

import os

import pytest

pytest_plugins = ["tests.mariadb", "tests.freeradius"]

# opensipsctl (in-process and as a subprocess) must not read this machine's
# /etc/opensipsg/opensipsctlrc: tests give it their own rc file with -c
os.environ["OPENSIPSCTL_SYSTEM_RC"] = ""

from tests.e2e import harness


def _under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture
def tmp_workdir(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    return work


@pytest.fixture
def sipp():
    path = harness.sipp_path()
    if path is None:
        message = "sipp not installed (Debian package sip-tester)"
        if _under_ci():
            pytest.fail(message + "; CI=true, so this is an error, not a skip", pytrace=False)
        pytest.skip(message)
    return path


@pytest.fixture
def server_factory(request, tmp_workdir):
    started: list[harness.Server] = []

    def start(cfg_text: str, **kwargs) -> harness.Server:
        kwargs.setdefault("workdir", tmp_workdir / f"server{len(started) + 1}")
        server = harness.Server(cfg_text, **kwargs)
        started.append(server)  # before start(): a failed start is still cleaned up
        return server.start()

    yield start
    for number, server in enumerate(started, 1):
        try:
            server.stop()
        finally:
            request.node.add_report_section("teardown", f"opensipsg log {number} (pid "
                                            f"{server.proc.pid if server.proc else '-'})", server.log_tail(200))


@pytest.fixture
def sipp_factory(sipp, tmp_workdir):
    started: list[harness.SippProcess] = []

    def start(args, **kwargs) -> harness.SippProcess:
        kwargs.setdefault("cwd", tmp_workdir)
        handle = harness.start_sipp(args, **kwargs)
        started.append(handle)
        return handle

    yield start
    for handle in started:
        handle.stop()
