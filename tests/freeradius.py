"""pytest plugin: a real FreeRADIUS 3.x server running our raddb/ for the tests.

Fixture ``freeradius`` (session scope) -> :class:`FreeRadius`:

* a temporary copy of raddb/ whose listen sections use free 127.0.0.1 ports
  picked at run time;
* ``.auth_port``, ``.acct_port``, ``.secret`` (bytes), ``.secret_file``
  (mode 0600, for aaa_url), ``.detail_dir`` (where the detail files of
  accounting land), ``.pid``, ``.raddb`` (the copy), ``.log_path``;
* ``.aaa_url(timeout=1, retries=1)`` -> our direct aaa_url for this server;
* ``.stop()`` / ``.start()``: tests may stop the server mid-test; the next
  start uses the same ports. The fixture restarts it after each test that
  left it stopped (``freeradius_running``), and stops it by PID at the
  end of the session, even after failures.

Without freeradius on PATH the tests using it are skipped, except under CI
(``CI=true``), where that is an error.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
RADDB = REPO / "raddb"
SECRET = b"testing123-opensipsg"  # raddb/clients.conf


def _under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def freeradius_path() -> str | None:
    return shutil.which("freeradius") or shutil.which("radiusd")


def free_udp_port_pair() -> tuple[int, int]:
    """Two consecutive free UDP ports on 127.0.0.1 (auth, acct)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port >= 65535:
            continue
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a, \
                    socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            return port, port + 1
        except OSError:
            continue
    raise RuntimeError("no two consecutive free UDP ports")


def dead_udp_port() -> int:
    """A UDP port on 127.0.0.1 where nobody listens (at the time of asking)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class FreeRadius:
    """One FreeRADIUS process on a private copy of raddb/ (see module docstring)."""

    def __init__(self, workdir: Path, binary: str, source: Path = RADDB) -> None:
        self.binary = binary
        self.workdir = Path(workdir)
        self.raddb = self.workdir / "raddb"
        self.auth_port, self.acct_port = free_udp_port_pair()
        self.secret = SECRET
        self.secret_file = self.workdir / "radius.secret"
        self.log_path = self.workdir / "freeradius.out"
        self.proc: subprocess.Popen | None = None
        self._prepare(source)

    @property
    def detail_dir(self) -> Path:
        return self.raddb / "var" / "log" / "radacct"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def _prepare(self, source: Path) -> None:
        shutil.copytree(source, self.raddb, ignore=shutil.ignore_patterns("var", "*.md", ".gitignore"))
        site = self.raddb / "sites-enabled" / "opensipsg"
        text = site.read_text()
        text, n_auth = re.subn(r"(type = auth\s+ipaddr = 127\.0\.0\.1\s+port = )\d+", rf"\g<1>{self.auth_port}", text)
        text, n_acct = re.subn(r"(type = acct\s+ipaddr = 127\.0\.0\.1\s+port = )\d+", rf"\g<1>{self.acct_port}", text)
        if (n_auth, n_acct) != (1, 1):
            raise RuntimeError(f"{site}: cannot find the auth/acct listen sections")
        site.write_text(text)
        for sub in ("var/log/radacct", "var/run"):
            (self.raddb / sub).mkdir(parents=True, exist_ok=True)
        # FreeRADIUS refuses world-writable configuration (checkouts made with umask 000)
        for path in [self.raddb, *self.raddb.rglob("*")]:
            mode = path.stat().st_mode
            path.chmod(stat.S_IMODE(mode) & ~0o022)
        self.secret_file.write_bytes(self.secret + b"\n")
        self.secret_file.chmod(0o600)

    def aaa_url(self, timeout: float = 1.0, retries: int = 1, auth_port: int | None = None) -> str:
        return (f"radius://{self.secret_file}@127.0.0.1:{auth_port or self.auth_port}:{self.acct_port}"
                f"?timeout={timeout}&retries={retries}")

    def command(self) -> list[str]:
        """The server's command line: foreground, -X (single-threaded, a debug trace per request)."""
        return [self.binary, "-f", "-X", "-d", str(self.raddb)]

    def start(self, timeout: float = 10.0) -> "FreeRadius":
        if self.proc is not None and self.proc.poll() is None:
            return self
        out = open(self.log_path, "ab")  # a file, never a pipe nobody reads
        try:
            self.proc = subprocess.Popen(
                self.command(),
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.workdir,
            )
        finally:
            out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"freeradius exited with {self.proc.returncode}:\n{self.log_tail()}")
            if self._ready():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"freeradius not ready after {timeout}s:\n{self.log_tail()}")

    def _ready(self) -> bool:
        """Status-Server (with a Message-Authenticator) answered on the auth port."""
        from pyrad import packet
        from pyrad.client import Client, Timeout
        from pyrad.dictionary import Dictionary
        import io

        from opensipsg.aaa.dictionary import CLIENT_DICTIONARY

        client = Client(server="127.0.0.1", authport=self.auth_port, acctport=self.acct_port,
                        secret=self.secret, dict=Dictionary(io.StringIO(CLIENT_DICTIONARY)),
                        retries=1, timeout=0.2)
        try:
            pkt = client.CreateAuthPacket(code=packet.StatusServer)
            client.SendPacket(pkt)
            return True
        except (Timeout, OSError):
            return False
        finally:
            client._CloseSocket()

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 80) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def detail_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.detail_dir.rglob("detail-*")))


@pytest.fixture(scope="session")
def freeradius_binary() -> str:
    path = freeradius_path()
    if path is None:
        message = "freeradius not installed (Debian packages freeradius, freeradius-utils)"
        if _under_ci():
            pytest.fail(message + "; CI=true, so this is an error, not a skip", pytrace=False)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def freeradius(tmp_path_factory, freeradius_binary):
    server = FreeRadius(tmp_path_factory.mktemp("freeradius"), freeradius_binary)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def freeradius_running(freeradius):
    """The session server, started again after the test if the test stopped it."""
    freeradius.start()
    yield freeradius
    if not freeradius.running:
        freeradius.start()


@pytest.fixture
def freeradius_factory(tmp_path, freeradius_binary):
    """Extra FreeRADIUS servers (e.g. a second one for fail-over), stopped at test end."""
    started: list[FreeRadius] = []

    def make() -> FreeRadius:
        server = FreeRadius(tmp_path / f"freeradius{len(started) + 1}", freeradius_binary)
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.stop()
