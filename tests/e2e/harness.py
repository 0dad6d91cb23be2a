"""End-to-end harness: run opensipsg and SIPp as real processes on 127.0.0.1.

Everything here is stdlib only, so ``bench/run.py`` can import it too.

Rules this module keeps (several test runs share the machine):
- only 127.0.0.1; ports are picked at run time with :func:`free_port`;
- every process started here is stopped *by its PID* (``stop()``, and an
  ``atexit`` safety net for anything a crashed test left behind);
- every wait is bounded (readiness, SIPp runs, stop grace periods).

Public surface:
- :func:`free_port` - a port free for UDP and TCP on 127.0.0.1.
- :func:`fill` - put ``{name}`` values into an opensips.cfg template without
  touching the script's own braces.
- :class:`Server` - one ``python -m opensipsg -f CFG -D -E -P PIDFILE``.
- :func:`run_sipp` / :func:`start_sipp` - SIPp in the foreground (bounded) or
  in the background (UAS), returning :class:`SippResult`.
- :func:`sip_request` - a one-off SIP request over UDP or TCP.
"""
from __future__ import annotations

import atexit
import csv
import io
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence

LOCALHOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[2]
SIPP_DIR = REPO_ROOT / "tests" / "data" / "sipp"

# Ports below the Linux ephemeral range (32768-60999), so the kernel does not
# hand "our" port to some outgoing socket between the check and the bind.
PORT_RANGE = (20000, 32000)

_CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------
# process bookkeeping


_live: dict[int, subprocess.Popen] = {}


def _register(proc: subprocess.Popen) -> None:
    _live[proc.pid] = proc


def _forget(proc: subprocess.Popen) -> None:
    _live.pop(proc.pid, None)


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, grace: float = 5.0) -> Optional[int]:
    """Stop one process by its PID: ``sig``, wait ``grace`` s, then SIGKILL.

    Returns the exit status. Popen.wait() reaps the child, so no zombie stays.
    """
    try:
        if proc.poll() is None:
            try:
                os.kill(proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                try:
                    os.kill(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=10)
        return proc.returncode
    finally:
        _forget(proc)


@atexit.register
def _kill_leftovers() -> None:  # safety net; normal paths stop their own processes
    for proc in list(_live.values()):
        stop_process(proc, signal.SIGKILL, grace=2.0)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------
# ports


def _port_is_free(port: int, kind: str) -> bool:
    socks = []
    try:
        if kind in ("udp", "both"):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(s)
            s.bind((LOCALHOST, port))
        if kind in ("tcp", "both"):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind((LOCALHOST, port))
        return True
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()


def free_port(kind: str = "both", exclude: Iterable[int] = (), tries: int = 200) -> int:
    """A port on 127.0.0.1 that is free right now for ``kind`` ('udp', 'tcp' or 'both').

    Chosen at random in :data:`PORT_RANGE` to make collisions between parallel
    test runs unlikely (nothing can make them impossible after we let go).
    """
    if kind not in ("udp", "tcp", "both"):
        raise ValueError(f"free_port: bad kind {kind!r}")
    exclude = set(exclude)
    for _ in range(tries):
        port = random.randint(*PORT_RANGE)
        if port in exclude:
            continue
        if _port_is_free(port, kind):
            return port
    raise RuntimeError(f"free_port: no free {kind} port found after {tries} tries")


MEDIA_PORT_RANGE = (16000, 19996)  # below PORT_RANGE: SIPp media never meets a SIP port


def free_media_port(tries: int = 200) -> int:
    """A base for SIPp's ``-mp``: SIPp binds the port and its neighbours (audio, video,
    RTCP), so pick a 4-aligned block of UDP ports that are all free right now, in a
    range no SIP port is taken from."""
    low, high = MEDIA_PORT_RANGE
    for _ in range(tries):
        base = random.randint(low // 4, high // 4) * 4
        if all(_port_is_free(base + i, "udp") for i in range(4)):
            return base
    raise RuntimeError(f"free_media_port: no free block found after {tries} tries")


def port_is_bound(port: int, proto: str = "udp", host: str = LOCALHOST) -> bool:
    """True if some socket is bound to host:port (UDP) / listening on it (TCP).

    Reads /proc/net/{udp,tcp}, so it never disturbs the owner of the port.
    """
    want_addr = "%08X" % int.from_bytes(socket.inet_aton(host), "little")
    want = f"{want_addr}:{port:04X}"
    any_addr = f"00000000:{port:04X}"
    table = "/proc/net/udp" if proto == "udp" else "/proc/net/tcp"
    try:
        with open(table) as fh:
            next(fh)
            for line in fh:
                parts = line.split()
                if parts[1] in (want, any_addr) and (proto == "udp" or parts[3] == "0A"):
                    return True
    except OSError:
        pass
    return False


def wait_bound(port: int, proto: str = "udp", timeout: float = 5.0, proc: Optional[subprocess.Popen] = None) -> None:
    """Wait until ``port`` is bound (bounded), failing early if ``proc`` died."""
    deadline = time.monotonic() + timeout
    while not port_is_bound(port, proto):
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.pid} exited with {proc.returncode} before binding {proto}/{port}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing bound {proto}/{port} within {timeout} s")
        time.sleep(0.02)


# --------------------------------------------------------------------------
# config templates


def fill(template: str, **values: object) -> str:
    """Replace ``{name}`` for the given names only; the script's braces stay."""
    def sub(m: re.Match) -> str:
        name = m.group(1)
        return str(values[name]) if name in values else m.group(0)
    return re.sub(r"\{(\w+)\}", sub, template)


_LISTEN_RE = re.compile(r"^\s*listen\s*=\s*(udp|tcp):([0-9.]+):(\d+)", re.M | re.I)


def listen_ports(cfg_text: str) -> dict[str, int]:
    """{'udp': port, 'tcp': port} from the first listen= line of each protocol."""
    found: dict[str, int] = {}
    for proto, _host, port in _LISTEN_RE.findall(cfg_text):
        found.setdefault(proto.lower(), int(port))
    return found


# --------------------------------------------------------------------------
# a tiny SIP client


def _crlf(text: str) -> str:
    return re.sub(r"\r?\n", "\r\n", text)


def _split_message(data: bytes) -> tuple[bytes, bytes]:
    head, sep, body = data.partition(b"\r\n\r\n")
    return head, body


def _header(head: str, name: str, compact: str = "") -> Optional[str]:
    names = {name.lower()} | ({compact.lower()} if compact else set())
    for line in head.split("\r\n")[1:]:
        hname, sep, value = line.partition(":")
        if sep and hname.strip().lower() in names:
            return value.strip()
    return None


def _status_code(reply: str) -> Optional[int]:
    m = re.match(r"SIP/2\.0\s+(\d{3})", reply)
    return int(m.group(1)) if m else None


def prepare_request(text: str, proto: str, local_port: int, branch: str) -> bytes:
    """Normalise a request: CRLF line ends, a top Via if none, correct Content-Length.

    SIPp-style placeholders are filled: [local_ip] [local_port] [transport]
    [branch] [call_id].
    """
    text = text.replace("[local_ip]", LOCALHOST).replace("[local_port]", str(local_port))
    text = text.replace("[transport]", proto.upper()).replace("[branch]", branch)
    text = text.replace("[call_id]", uuid.uuid4().hex + "@" + LOCALHOST)
    text = _crlf(text.lstrip("\r\n"))
    if "\r\n\r\n" in text:
        head, body = text.split("\r\n\r\n", 1)
    else:
        head, body = text.rstrip("\r\n"), ""
    lines = [ln for ln in head.split("\r\n") if ln]
    lines = [ln for ln in lines if ln.partition(":")[0].strip().lower() not in ("content-length", "l")]
    has_via = any(ln.partition(":")[0].strip().lower() in ("via", "v") for ln in lines[1:])
    if not has_via:
        lines.insert(1, f"Via: SIP/2.0/{proto.upper()} {LOCALHOST}:{local_port};branch={branch};rport")
    body_bytes = body.encode()
    lines.append(f"Content-Length: {len(body_bytes)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body_bytes


def _ack_for(request: bytes, reply: str) -> bytes:
    """ACK for a non-2xx final reply to an INVITE (RFC 3261 17.1.1.3)."""
    head = request.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
    lines = head.split("\r\n")
    ruri = lines[0].split()[1]
    rhead = reply.split("\r\n\r\n", 1)[0]
    top_via = _header(head, "Via", "v")
    cseq = (_header(head, "CSeq") or "1 INVITE").split()[0]
    out = [f"ACK {ruri} SIP/2.0", f"Via: {top_via}", "Max-Forwards: 70"]
    for name, compact in (("From", "f"), ("Call-ID", "i")):
        value = _header(head, name, compact)
        if value is not None:
            out.append(f"{name}: {value}")
    to = _header(rhead, "To", "t") or _header(head, "To", "t")
    out.append(f"To: {to}")
    route = _header(head, "Route")
    if route:
        out.append(f"Route: {route}")
    out += [f"CSeq: {cseq} ACK", "Content-Length: 0"]
    return ("\r\n".join(out) + "\r\n\r\n").encode()


def _recv_tcp_message(sock: socket.socket, buf: bytearray) -> Optional[bytes]:
    """One Content-Length framed message from a TCP stream (None on EOF)."""
    while True:
        idx = buf.find(b"\r\n\r\n")
        if idx >= 0:
            head = bytes(buf[:idx]).decode(errors="replace")
            m = re.search(r"^(?:content-length|l)\s*:\s*(\d+)", head, re.I | re.M)
            length = int(m.group(1)) if m else 0
            total = idx + 4 + length
            if len(buf) >= total:
                msg = bytes(buf[:total])
                del buf[:total]
                return msg
        chunk = sock.recv(65535)
        if not chunk:
            return None
        buf.extend(chunk)


def sip_request(host: str, port: int, text: str | bytes, proto: str = "udp", timeout: float = 2.0,
                raw: bool = False, final_only: bool = True, send_ack: bool = True) -> tuple[Optional[int], str]:
    """Send one SIP request and return ``(status_code, reply_text)`` of the reply.

    ``text`` is a request; line ends may be plain LF. Unless ``raw``, a top Via
    naming our socket is added when the text has no Via, SIPp-like placeholders
    ([local_ip] [local_port] [branch] [transport] [call_id]) are filled, and
    Content-Length is recomputed. ``raw=True`` sends ``text`` byte-for-byte
    (for malformed-input tests). Provisional replies are skipped unless
    ``final_only`` is false. A non-2xx final reply to an INVITE is ACKed.
    UDP requests are retransmitted (500 ms, doubling) until ``timeout``.
    Returns ``(None, '')`` if nothing (final) arrived within ``timeout``.
    """
    proto = proto.lower()
    if proto not in ("udp", "tcp"):
        raise ValueError(f"sip_request: bad proto {proto!r}")
    branch = "z9hG4bK" + uuid.uuid4().hex[:16]
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    deadline = time.monotonic() + timeout
    last: tuple[Optional[int], str] = (None, "")
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((LOCALHOST, 0))
        local_port = sock.getsockname()[1]
        if raw:
            data = text if isinstance(text, bytes) else text.encode()
        else:
            data = prepare_request(text.decode() if isinstance(text, bytes) else text, proto, local_port, branch)
        is_invite = data[:7] == b"INVITE "
        buf = bytearray()
        if proto == "tcp":
            sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                sock.connect((host, port))
                sock.sendall(data)
            except OSError:
                return last
        else:
            sock.sendto(data, (host, port))
        retrans = 0.5
        next_send = time.monotonic() + retrans
        while True:
            now = time.monotonic()
            if now >= deadline:
                return last
            wait = deadline - now
            if proto == "udp" and not raw:
                wait = min(wait, max(0.0, next_send - now))
            sock.settimeout(max(0.01, wait))
            try:
                if proto == "udp":
                    reply_bytes, _ = sock.recvfrom(65535)
                else:
                    reply_bytes = _recv_tcp_message(sock, buf)
                    if reply_bytes is None:
                        return last
            except socket.timeout:
                if proto == "udp" and not raw and time.monotonic() >= next_send and last[0] is None:
                    sock.sendto(data, (host, port))
                    retrans = min(retrans * 2, 4.0)
                    next_send = time.monotonic() + retrans
                continue
            except ConnectionRefusedError:  # ICMP port unreachable on loopback
                return last
            reply = reply_bytes.decode(errors="replace")
            code = _status_code(reply)
            if code is None:
                continue  # a request or garbage: not ours to answer here
            last = (code, reply)
            if code < 200 and final_only:
                next_send = deadline  # provisional: stop retransmitting
                continue
            if is_invite and code >= 300 and send_ack and not raw:
                ack = _ack_for(data, reply)
                if proto == "udp":
                    sock.sendto(ack, (host, port))
                else:
                    sock.sendall(ack)
            return last


def options_request(host: str, port: int, proto: str = "udp") -> str:
    call_id = uuid.uuid4().hex
    return (f"OPTIONS sip:{host}:{port} SIP/2.0\n"
            "Max-Forwards: 70\n"
            f"From: <sip:harness@{LOCALHOST}>;tag={call_id[:8]}\n"
            f"To: <sip:{host}:{port}>\n"
            f"Call-ID: {call_id}@{LOCALHOST}\n"
            "CSeq: 1 OPTIONS\n"
            f"Contact: <sip:harness@{LOCALHOST}:[local_port]>\n"
            "Accept: application/sdp\n\n")


# --------------------------------------------------------------------------
# the server under test


def server_python() -> str:
    """The interpreter that runs opensipsg: $OPENSIPSG_PYTHON, the repo venv, or ours."""
    env = os.environ.get("OPENSIPSG_PYTHON")
    if env:
        return env
    venv = REPO_ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


class ServerError(RuntimeError):
    pass


class Server:
    """One opensipsg process running ``cfg_text`` (placeholders already filled).

    ``Server(cfg, workdir).start()`` writes ``opensips.cfg`` into ``workdir``
    (a fresh temp dir if None), runs ``python -m opensipsg -f CFG -D -E -P PID``
    with stdout+stderr to ``opensipsg.log``, and waits until an OPTIONS over UDP
    gets any reply. ``prefix`` is put before the command (e.g. ``['taskset',
    '-c', '1']``; taskset execs, so the PID stays the server's).
    """

    def __init__(self, cfg_text: str, workdir: Optional[Path | str] = None, *, port: Optional[int] = None,
                 prefix: Sequence[str] = (), extra_args: Sequence[str] = (), env: Optional[dict] = None,
                 ready_timeout: float = 15.0, python: Optional[str] = None):
        self.cfg_text = cfg_text
        ports = listen_ports(cfg_text)
        self.udp_port = port or ports.get("udp")
        self.tcp_port = ports.get("tcp")
        if self.udp_port is None:
            raise ServerError("config has no listen=udp:127.0.0.1:PORT line and no port= was given")
        self._own_dir = workdir is None
        if workdir is None:
            import tempfile
            workdir = tempfile.mkdtemp(prefix="opensipsg-e2e-")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.cfg_path = self.workdir / "opensips.cfg"
        self.pid_path = self.workdir / "opensipsg.pid"
        self.log_path = self.workdir / "opensipsg.log"
        self.prefix = list(prefix)
        self.extra_args = list(extra_args)
        self.env = env
        self.ready_timeout = ready_timeout
        self.python = python or server_python()
        self.proc: Optional[subprocess.Popen] = None
        self.returncode: Optional[int] = None

    # -- life cycle
    @property
    def command(self) -> list[str]:
        return [*self.prefix, self.python, "-m", "opensipsg", "-f", str(self.cfg_path), "-D", "-E",
                "-P", str(self.pid_path), *self.extra_args]

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise ServerError("server not started")
        return self.proc.pid

    def start(self) -> "Server":
        if self.proc is not None:
            raise ServerError("server already started")
        self.cfg_path.write_text(self.cfg_text)
        env = dict(os.environ if self.env is None else self.env)
        env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env.setdefault("PYTHONUNBUFFERED", "1")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.command, cwd=self.workdir, env=env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT)
        _register(self.proc)
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while True:
            if self.proc.poll() is not None:
                raise ServerError(f"opensipsg exited with {self.proc.returncode} before it was ready; "
                                  f"log tail:\n{_tail(self.log_path)}")
            code, _ = sip_request(LOCALHOST, self.udp_port, options_request(LOCALHOST, self.udp_port),
                                  timeout=0.3, final_only=False)
            if code is not None:
                return
            if time.monotonic() > deadline:
                raise ServerError(f"opensipsg (pid {self.proc.pid}) did not answer OPTIONS on udp/{self.udp_port} "
                                  f"within {self.ready_timeout} s; log tail:\n{_tail(self.log_path)}")
            time.sleep(0.05)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace: float = 5.0) -> Optional[int]:
        """SIGTERM by PID, SIGKILL after ``grace`` s; returns the exit status."""
        if self.proc is None:
            return None
        self.returncode = stop_process(self.proc, signal.SIGTERM, grace)
        return self.returncode

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- observation
    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines)

    def cpu_seconds(self) -> float:
        """utime+stime of the server process, from /proc/PID/stat."""
        return cpu_seconds(self.pid)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        stat = fh.read()
    fields = stat[stat.rindex(")") + 2:].split()  # fields[0] is field 3 (state)
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15
    return (utime + stime) / _CLK_TCK


# --------------------------------------------------------------------------
# SIPp


class SippMissing(RuntimeError):
    pass


def sipp_path() -> Optional[str]:
    return shutil.which("sipp")


def parse_stat_csv(text: str) -> dict[str, str]:
    """Last row of a ``-trace_stat -stf`` file (';'-separated, header row first)."""
    rows = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    if not rows:
        return {}
    return {k: (v or "") for k, v in rows[-1].items() if k}


def _stat_int(stats: dict[str, str], key: str) -> int:
    try:
        return int(stats.get(key, "") or 0)
    except ValueError:
        return 0


def _stat_duration(value: str) -> float:
    """SIPp's 'HH:MM:SS:mmmmmm' (or 'HH:MM:SS') elapsed time in seconds."""
    parts = (value or "").strip().split(":")
    try:
        if len(parts) == 4:
            h, m, s, us = (int(p) for p in parts)
            return h * 3600 + m * 60 + s + us / 1e6
        if len(parts) == 3:
            h, m, s = parts
            return int(h) * 3600 + int(m) * 60 + float(s)
    except ValueError:
        pass
    return 0.0


@dataclass
class SippResult:
    args: list[str]
    rc: Optional[int]
    screen: str
    stats: dict[str, str]
    errors: str
    timed_out: bool = False
    wall_seconds: float = 0.0
    workdir: Optional[Path] = None

    @property
    def successful(self) -> int:
        return _stat_int(self.stats, "SuccessfulCall(C)")

    @property
    def failed(self) -> int:
        return _stat_int(self.stats, "FailedCall(C)")

    @property
    def created(self) -> int:
        return _stat_int(self.stats, "TotalCallCreated")

    @property
    def elapsed(self) -> float:
        """SIPp's own ElapsedTime(C), in seconds."""
        return _stat_duration(self.stats.get("ElapsedTime(C)", ""))

    @property
    def ok(self) -> bool:
        return self.rc == 0 and not self.timed_out

    def describe(self) -> str:
        """Everything useful for an assertion message."""
        return (f"sipp rc={self.rc} timed_out={self.timed_out} ok={self.successful} failed={self.failed}\n"
                f"args: {' '.join(self.args)}\n--- errors ---\n{self.errors[-3000:]}\n"
                f"--- screen ---\n{self.screen[-4000:]}")


_SIPP_SEQ = iter(range(1, 1 << 30))


def _has(args: Sequence[str], opt: str) -> bool:
    return opt in args


def sipp_command(args: Sequence[str], workdir: Path, name: str, timeout: float,
                 recv_timeout_ms: Optional[int] = 5000) -> tuple[list[str], dict[str, Path]]:
    """The full SIPp argv: the caller's args plus the options every run needs."""
    exe = sipp_path()
    if exe is None:
        raise SippMissing("sipp not found in PATH (Debian package sip-tester)")
    args = list(args)
    files = {"stat": workdir / f"{name}_stat.csv", "err": workdir / f"{name}_err.log",
             "screen": workdir / f"{name}.screen"}
    extra: list[str] = ["-nostdin"]
    if not _has(args, "-i"):
        extra += ["-i", LOCALHOST]
    if not _has(args, "-mi"):
        extra += ["-mi", LOCALHOST]
    if not _has(args, "-mp"):
        extra += ["-mp", str(free_media_port())]
    if not _has(args, "-timeout"):
        extra += ["-timeout", f"{max(1, int(timeout))}s", "-timeout_error"]
    if recv_timeout_ms and not _has(args, "-recv_timeout"):
        extra += ["-recv_timeout", str(int(recv_timeout_ms))]
    if not _has(args, "-default_behaviors"):
        extra += ["-default_behaviors", "-bye"]
    if not _has(args, "-stf"):
        extra += ["-trace_stat", "-stf", str(files["stat"])]
    else:
        files["stat"] = Path(args[args.index("-stf") + 1])
    if not _has(args, "-error_file"):
        extra += ["-trace_err", "-error_file", str(files["err"])]
    else:
        files["err"] = Path(args[args.index("-error_file") + 1])
    return [exe, *args, *extra], files


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


class SippProcess:
    """A SIPp running in the background (typically a UAS); stop()/wait() by PID."""

    def __init__(self, proc: subprocess.Popen, argv: list[str], files: dict[str, Path], workdir: Path,
                 port: Optional[int], timeout: float, started: float):
        self.proc, self.argv, self.files, self.workdir = proc, argv, files, workdir
        self.port, self.timeout, self._started = port, timeout, started
        self.result: Optional[SippResult] = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def _collect(self, timed_out: bool) -> SippResult:
        self.result = SippResult(args=self.argv, rc=self.proc.returncode, screen=_read(self.files["screen"]),
                                 stats=parse_stat_csv(_read(self.files["stat"])), errors=_read(self.files["err"]),
                                 timed_out=timed_out, wall_seconds=time.monotonic() - self._started,
                                 workdir=self.workdir)
        return self.result

    def wait(self, timeout: Optional[float] = None) -> SippResult:
        """Wait for a normal exit (bounded: default its -timeout + 10 s), else kill by PID."""
        limit = self.timeout + 10 if timeout is None else timeout
        try:
            self.proc.wait(timeout=limit)
            _forget(self.proc)
            return self._collect(False)
        except subprocess.TimeoutExpired:
            stop_process(self.proc, signal.SIGKILL, grace=5)
            return self._collect(True)

    def stop(self) -> SippResult:
        """Stop now: SIGTERM (SIPp writes its final stats), SIGKILL after 5 s."""
        if self.proc.poll() is None:
            stop_process(self.proc, signal.SIGTERM, grace=5)
        else:
            _forget(self.proc)
        return self._collect(False)

    def __enter__(self) -> "SippProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_sipp(args: Sequence[str], cwd: Path | str, timeout: float = 60.0, *, port: Optional[int] = None,
               proto: Optional[str] = None, recv_timeout_ms: Optional[int] = None, name: Optional[str] = None,
               prefix: Sequence[str] = (), wait_ready: bool = True) -> SippProcess:
    """Start SIPp in the background and wait until it has bound its port.

    If ``args`` has no ``-p``, a free port is picked and added (``handle.port``).
    ``proto`` ('udp' or 'tcp') says which socket to wait for; by default 'tcp'
    when ``args`` has ``-t t1``/``-t tn``, else 'udp'. ``recv_timeout_ms`` defaults to none for a UAS (it waits for
    calls); ``-timeout Xs -timeout_error`` still bounds it.
    """
    cwd = Path(cwd)
    cwd.mkdir(parents=True, exist_ok=True)
    args = list(args)
    if proto is None:
        proto = "tcp" if "-t" in args and args[args.index("-t") + 1].startswith("t") else "udp"
    if "-p" in args:
        port = int(args[args.index("-p") + 1])
    else:
        port = port or free_port("both")
        args += ["-p", str(port)]
    name = name or f"sipp{next(_SIPP_SEQ)}"
    argv, files = sipp_command(args, cwd, name, timeout, recv_timeout_ms)
    argv = [*prefix, *argv]
    with open(files["screen"], "wb") as screen:
        proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=screen, stderr=subprocess.STDOUT)
    _register(proc)
    handle = SippProcess(proc, argv, files, cwd, port, timeout, time.monotonic())
    if wait_ready:
        try:
            wait_bound(port, proto, timeout=10.0, proc=proc)
        except BaseException:
            handle.stop()
            raise
    return handle


def run_sipp(args: Sequence[str], cwd: Path | str, timeout: float = 30.0, *, recv_timeout_ms: Optional[int] = 5000,
             name: Optional[str] = None, prefix: Sequence[str] = ()) -> SippResult:
    """Run SIPp in the foreground, bounded, and return its result.

    ``args`` must contain the target, the scenario (-sf/-sn) and ``-m N``. Added
    unless present: -p (a free port), -nostdin, -i/-mi 127.0.0.1, -mp (free port),
    ``-timeout <timeout>s -timeout_error``, -recv_timeout, -default_behaviors -bye,
    -trace_stat -stf, -trace_err -error_file. The process is killed by PID if it
    outlives ``timeout`` + 10 s.
    """
    if "-m" not in args:
        raise ValueError("run_sipp: pass -m N so the run ends by itself")
    cwd = Path(cwd)
    cwd.mkdir(parents=True, exist_ok=True)
    args = list(args)
    if "-p" not in args:  # SIPp would take 5060 if free: shared between parallel runs
        args += ["-p", str(free_port("both"))]
    name = name or f"sipp{next(_SIPP_SEQ)}"
    argv, files = sipp_command(args, cwd, name, timeout, recv_timeout_ms)
    argv = [*prefix, *argv]
    started = time.monotonic()
    with open(files["screen"], "wb") as screen:
        proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=screen, stderr=subprocess.STDOUT)
    _register(proc)
    handle = SippProcess(proc, argv, files, cwd, None, timeout, started)
    return handle.wait(timeout + 10)


def scenario(name: str) -> str:
    """Absolute path of a scenario file in tests/data/sipp/."""
    path = SIPP_DIR / name
    if not path.exists():
        raise FileNotFoundError(path)
    return str(path)


def write_users_csv(path: Path | str, users: Iterable[str], order: str = "SEQUENTIAL") -> Path:
    """A SIPp -inf file: first line the order, then one user per line (field0)."""
    path = Path(path)
    path.write_text(order + "\n" + "".join(f"{u}\n" for u in users))
    return path


def scenario_copy(name: str, dest_dir: Path | str, replace: dict[str, str]) -> str:
    """Write a copy of a scenario with literal text replaced; returns its path.

    For what SIPp cannot take from the command line, e.g. a status code to send
    (checked when the scenario loads): ``scenario_copy('uas_reject.xml', d,
    {'404 Not Found': '483 Too Many Hops'})``.
    """
    text = Path(scenario(name)).read_text()
    for old, new in replace.items():
        if old not in text:
            raise ValueError(f"scenario_copy: {old!r} not in {name}")
        text = text.replace(old, new)
    dest = Path(dest_dir) / (Path(name).stem + "_" + uuid.uuid4().hex[:6] + ".xml")
    dest.write_text(text)
    return str(dest)
