"""A throwaway MariaDB server for tests (pytest plugin; see tests/conftest.py).

Usage::

    @pytest.mark.integration
    def test_something(mariadb):
        db = opensipsg.db.connect(mariadb.url)   # mysql://opensips:opensipsrw@127.0.0.1:PORT/opensips
        ...
        mariadb.stop()    # the server goes away mid-test
        mariadb.start()   # same datadir and port: data and the URL still valid
        with mariadb.root_connect() as root: ...   # pymysql as root over the unix socket

The server is session-scoped: one mariadbd per test run, datadir in a temporary
directory (on /dev/shm when usable), 127.0.0.1 on a free port chosen at run
time, database ``opensips`` and user ``opensips``/``opensipsrw`` (``'%'``
host). Tests share it, so each should use its own tables or clean up.
It is always stopped by PID at session end, even after failures. When mariadbd
is missing the tests skip, except under CI (``CI=true``) where they fail.
The recipe and its pitfalls: /work/shared/reference/recipes.md section 1.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Any

import pytest

DATABASE = "opensips"
USER = "opensips"
PASSWORD = "opensipsrw"


def _under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tmp_base() -> str:
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK):
        try:
            return tempfile.mkdtemp(prefix="opensipsg-mdb-", dir=shm)
        except OSError:
            pass
    return tempfile.mkdtemp(prefix="opensipsg-mdb-")


def _alive(pid: int) -> bool:
    """Running and not a zombie (zombies linger ~1 s here before PID 1 reaps them)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class MariaDB:
    """One mariadbd: ``url``, ``port``, ``pid``, ``stop()``, ``start()``, ``root_connect()``."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.datadir = os.path.join(base, "data")
        self.socket = os.path.join(base, "mysqld.sock")
        self.error_log = os.path.join(base, "mysqld.err")
        self.port = _free_port()
        self.host = "127.0.0.1"
        self.database = DATABASE
        self.user = USER
        self.password = PASSWORD
        self.url = f"mysql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{DATABASE}"
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def _common(self) -> list[str]:
        # --no-defaults must come first (recipes.md pitfalls)
        return ["--no-defaults", "--user=root", f"--datadir={self.datadir}", "--skip-name-resolve",
                "--innodb-log-file-size=8M", "--innodb-buffer-pool-size=32M"]

    def install(self) -> None:
        result = subprocess.run(
            ["mariadb-install-db", *self._common(), "--auth-root-authentication-method=socket", "--skip-test-db"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError("mariadb-install-db failed:\n" + result.stdout.decode(errors="replace")[-2000:])

    def start(self, timeout: float = 30.0) -> None:
        """Start (or restart) on the same datadir and port; returns when root can log in."""
        if self.proc is not None and self.proc.poll() is None:
            return
        for stale in (self.socket, os.path.join(self.base, "mysqld.pid")):
            if os.path.exists(stale):
                os.unlink(stale)
        self.proc = subprocess.Popen(
            ["mariadbd", *self._common(), f"--socket={self.socket}", f"--port={self.port}",
             "--bind-address=127.0.0.1", f"--pid-file={os.path.join(self.base, 'mysqld.pid')}",
             f"--log-error={self.error_log}", "--performance-schema=OFF", "--skip-log-bin",
             "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0",
             "--innodb-buffer-pool-dump-at-shutdown=0", "--innodb-buffer-pool-load-at-startup=0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while True:  # ready = a real login works (mariadb-admin ping is not enough)
            try:
                self.root_connect(connect_timeout=1).close()
                return
            except Exception:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("mariadbd did not start:\n" + self.log_tail()) from None
                time.sleep(0.05)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop by PID: SIGTERM, then SIGKILL after ``timeout`` seconds."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        deadline = time.monotonic() + 5
        while _alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def root_connect(self, **kwargs: Any) -> Any:
        """pymysql connection as root over the unix socket (autocommit)."""
        import pymysql

        kwargs.setdefault("connect_timeout", 5)
        return pymysql.connect(unix_socket=self.socket, user="root", autocommit=True, **kwargs)

    def create_account(self) -> None:
        with self.root_connect() as root, root.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
            cursor.execute(f"CREATE USER IF NOT EXISTS '{USER}'@'%' IDENTIFIED BY '{PASSWORD}'")
            cursor.execute(f"GRANT ALL ON {DATABASE}.* TO '{USER}'@'%'")

    def log_tail(self, size: int = 3000) -> str:
        try:
            with open(self.error_log, errors="replace") as log:
                return log.read()[-size:]
        except OSError:
            return "(no error log)"

    def __repr__(self) -> str:
        return f"<MariaDB pid={self.pid} port={self.port}>"


@pytest.fixture(scope="session")
def mariadb():
    if not shutil.which("mariadbd") or not shutil.which("mariadb-install-db"):
        message = "mariadb-server not installed (mariadbd, mariadb-install-db)"
        if _under_ci():
            pytest.fail(message + "; CI=true, so this is an error, not a skip", pytrace=False)
        pytest.skip(message)
    server = MariaDB(_tmp_base())
    try:
        server.install()
        server.start()
        server.create_account()
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.base, ignore_errors=True)
