#!/usr/bin/env python3
"""Instructions (or microseconds) per operation, in process: a stable A/B for the hot path.

The SIPp benchmark (bench/run.py) is the figure we report, but on a shared,
noisy VM its CPU-per-operation moves by +-10 % from run to run, which hides
most single optimisations. This tool drives a :class:`Core` in process with
the same configurations and messages as the benchmark, sending through a
transport that only keeps the last datagram, and counts:

- ``--mode instructions`` (default): machine instructions per operation under
  ``valgrind --tool=callgrind``. It runs the scenario twice (N and 2N
  operations) and reports the difference divided by N, so start-up and
  warm-up cancel out. Instruction counts repeat exactly for the same code,
  whatever else the machine is doing.
- ``--mode time``: process CPU microseconds per operation, for a quick look.

Scenarios (one operation each):

- ``register``: a REGISTER of a new user to bench/bench.cfg and its 200;
- ``register-refresh``: a REGISTER that refreshes a known binding and its 200
  (2000 users registered first, then registering again with new Call-IDs, as
  bench/run.py's SIPp does once it has cycled through its 20,000 users; more
  users than parse_uri's cache holds, as there);
- ``call``: INVITE/100/180/200/ACK/BYE/200 through bench/bench.cfg's
  record-routing proxy to a registered callee (the UAS side answers with
  replies cut from the forwarded requests by plain byte operations, which
  cost little next to the proxy's work);
- ``auth-sqlite``: REGISTER, 401, REGISTER with digest credentials, 200,
  against bench/bench_auth_db.cfg on a SQLite subscriber table.

Not measured here: the event loop and socket costs of a real server (see
bench/run.py for those). Usage::

    bench/instructions.py register call        # instructions per operation
    bench/instructions.py --mode time register
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
PORT = 25999
UAC_PORT = 26030
UAS_PORT = 26020
SCENARIOS = ("register", "register-refresh", "call", "auth-sqlite")
SDP = ("v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
       "t=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


# ---------------------------------------------------------------------------
# the in-process driver (runs in the child process, maybe under valgrind)


class LastDatagram:
    """A transport that keeps what was sent, per destination port."""

    def __init__(self) -> None:
        self.sent: dict[int, bytes] = {}
        self.last = b""

    def send(self, data: bytes, ip: str, port: int, conn: object = None) -> bool:
        self.sent[port] = data
        self.last = data
        return True


def make_core(config: str, **values: str):  # type: ignore[no-untyped-def]
    from opensipsg.core import Core
    from opensipsg.script.parser import parse_config

    text = (BENCH_DIR / config).read_text()
    for key, value in {"port": str(PORT), **values}.items():
        text = text.replace("{" + key + "}", value)
    core = Core(parse_config(text, config))
    transport = LastDatagram()
    for listener in core.listeners:
        core.transports[listener.name] = transport
    return core, transport


def register_request(user: str, branch: str, cseq: int = 1, extra: str = "", port: int = 5091) -> bytes:
    return (f"REGISTER sip:127.0.0.1:{PORT} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{branch}\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:{user}@127.0.0.1>;tag={branch}\r\nTo: <sip:{user}@127.0.0.1>\r\n"
            f"Call-ID: {branch}@127.0.0.1\r\nCSeq: {cseq} REGISTER\r\n"
            f"Contact: <sip:{user}@127.0.0.1:{port};transport=udp>\r\n{extra}"
            f"Expires: 3600\r\nUser-Agent: sipp\r\nContent-Length: 0\r\n\r\n").encode()


def status_of(data: bytes) -> int:
    return int(data[8:11]) if data.startswith(b"SIP/2.0 ") else 0


class RegisterScenario:
    def __init__(self) -> None:
        self.core, self.transport = make_core("bench.cfg")
        self.listener = self.core.listeners[0]

    def prepare(self, count: int) -> list[bytes]:
        return [register_request(f"u{i:06d}", f"r{i}") for i in range(count)]

    def run(self, messages: list[bytes]) -> None:
        receive, listener, transport = self.core.receive, self.listener, self.transport
        for data in messages:
            receive(data, "127.0.0.1", 5091, listener, None)
            if status_of(transport.last) != 200:
                raise SystemExit(f"register: unexpected reply {transport.last[:60]!r}")


class RegisterRefreshScenario(RegisterScenario):
    USERS = 2000  # their To and Contact URIs are more than parse_uri's cache keeps (1024), as in bench/run.py

    def __init__(self) -> None:
        super().__init__()
        self.run([register_request(f"u{i:06d}", f"first{i}") for i in range(self.USERS)])

    def prepare(self, count: int) -> list[bytes]:
        return [register_request(f"u{i % self.USERS:06d}", f"r{i}") for i in range(count)]


def _reply_from(request: bytes, status: str, to_tag: str, contact: bool, sdp: bool) -> bytes:
    """A UAS reply cut from a forwarded request: its Via/Record-Route/From/To/Call-ID/CSeq lines."""
    head = request.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    keep = (b"via:", b"v:", b"record-route:", b"from:", b"f:", b"call-id:", b"i:", b"cseq:")
    lines = [f"SIP/2.0 {status}".encode()]
    for line in head[1:]:
        low = line[:14].lower()
        if low.startswith((b"to:", b"t:")):
            lines.append(line + b";tag=" + to_tag.encode())
        elif low.startswith(keep):
            lines.append(line)
    if contact:
        lines.append(f"Contact: <sip:benchuas@127.0.0.1:{UAS_PORT};transport=udp>".encode())
    body = SDP.encode() if sdp else b""
    if sdp:
        lines.append(b"Content-Type: application/sdp")
    lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class CallScenario:
    def __init__(self) -> None:
        self.core, self.transport = make_core("bench.cfg")
        self.listener = self.core.listeners[0]
        self.core.receive(register_request("benchuas", "uas", port=UAS_PORT), "127.0.0.1", UAS_PORT,
                          self.listener, None)
        if status_of(self.transport.last) != 200:
            raise SystemExit("call: the callee did not register")

    def prepare(self, count: int) -> list[tuple[bytes, bytes, bytes]]:
        calls = []
        for i in range(count):
            common = (f"From: <sip:sipp@127.0.0.1:{UAC_PORT}>;tag=c{i}\r\nCall-ID: c{i}@127.0.0.1\r\n")
            invite = (f"INVITE sip:benchuas@127.0.0.1:{PORT} SIP/2.0\r\n"
                      f"Via: SIP/2.0/UDP 127.0.0.1:{UAC_PORT};branch=z9hG4bK-c{i}-1\r\nMax-Forwards: 70\r\n"
                      f"{common}To: <sip:benchuas@127.0.0.1:{PORT}>\r\nCSeq: 1 INVITE\r\n"
                      f"Contact: <sip:sipp@127.0.0.1:{UAC_PORT};transport=udp>\r\n"
                      f"Content-Type: application/sdp\r\nContent-Length: {len(SDP)}\r\n\r\n{SDP}").encode()
            in_dialog = (f"sip:benchuas@127.0.0.1:{UAS_PORT};transport=udp SIP/2.0\r\n"
                         f"Via: SIP/2.0/UDP 127.0.0.1:{UAC_PORT};branch=z9hG4bK-c{i}-{{n}}\r\n"
                         f"Route: <sip:127.0.0.1:{PORT};lr>\r\nMax-Forwards: 70\r\n"
                         f"{common}To: <sip:benchuas@127.0.0.1:{PORT}>;tag=u{i}\r\n")
            ack = (f"ACK {in_dialog.format(n=2)}CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n").encode()
            bye = (f"BYE {in_dialog.format(n=3)}CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n").encode()
            calls.append((invite, ack, bye))
        return calls

    def run(self, calls: list[tuple[bytes, bytes, bytes]]) -> None:
        receive, listener, sent = self.core.receive, self.listener, self.transport.sent
        for i, (invite, ack, bye) in enumerate(calls):
            sent.clear()
            receive(invite, "127.0.0.1", UAC_PORT, listener, None)
            forwarded = sent.get(UAS_PORT)
            if forwarded is None or status_of(sent.get(UAC_PORT, b"")) != 100:
                raise SystemExit("call: the INVITE was not relayed")
            tag = f"u{i}"
            receive(_reply_from(forwarded, "180 Ringing", tag, True, False), "127.0.0.1", UAS_PORT, listener, None)
            receive(_reply_from(forwarded, "200 OK", tag, True, True), "127.0.0.1", UAS_PORT, listener, None)
            if status_of(sent[UAC_PORT]) != 200:
                raise SystemExit("call: the 200 was not relayed")
            del sent[UAS_PORT]
            receive(ack, "127.0.0.1", UAC_PORT, listener, None)
            if UAS_PORT not in sent:
                raise SystemExit("call: the ACK was not relayed")
            receive(bye, "127.0.0.1", UAC_PORT, listener, None)
            receive(_reply_from(sent[UAS_PORT], "200 OK", tag, False, False), "127.0.0.1", UAS_PORT,
                    listener, None)
            if not sent[UAC_PORT].startswith(b"SIP/2.0 200") or b"BYE" not in sent[UAC_PORT]:
                raise SystemExit("call: the 200 to BYE was not relayed")


class AuthSqliteScenario:
    NONCE = re.compile(rb'nonce="([^"]+)"')

    def __init__(self) -> None:
        from opensipsg.db import connect
        from opensipsg.db.schema import create_database
        from opensipsg.sip import digest

        self.digest = digest
        self.dir = tempfile.mkdtemp(prefix="opensipsg-instr-")
        path = os.path.join(self.dir, "auth.sqlite")
        db = connect(f"sqlite:///{path}")
        create_database(db, ["subscriber"])
        self.users = 3000
        for i in range(self.users):
            user = f"u{i:06d}"
            db.insert("subscriber", {"username": user, "domain": "127.0.0.1", "password": "pw",
                                     "ha1": digest.ha1(user, "127.0.0.1", "pw"), "ha1b": ""})
        db.close()
        self.core, self.transport = make_core("bench_auth_db.cfg", db_url=f"sqlite:///{path}")
        self.listener = self.core.listeners[0]

    def prepare(self, count: int) -> list[tuple[str, bytes, str]]:
        ops = []
        for i in range(count):
            user = f"u{i % self.users:06d}"
            ops.append((user, register_request(user, f"a{i}"), self.digest.ha1(user, "127.0.0.1", "pw")))
        return ops

    def run(self, ops: list[tuple[str, bytes, str]]) -> None:
        receive, listener, transport = self.core.receive, self.listener, self.transport
        for i, (user, first, ha1) in enumerate(ops):
            receive(first, "127.0.0.1", 5091, listener, None)
            found = self.NONCE.search(transport.last)
            if status_of(transport.last) != 401 or found is None:
                raise SystemExit(f"auth: expected a 401, got {transport.last[:60]!r}")
            nonce = found.group(1).decode()
            response = self.digest.response(ha1, nonce, "REGISTER", f"sip:127.0.0.1:{PORT}")
            credentials = (f'Authorization: Digest username="{user}", realm="127.0.0.1", nonce="{nonce}", '
                           f'uri="sip:127.0.0.1:{PORT}", response="{response}"\r\n')
            receive(register_request(user, f"a{i}b", 2, credentials), "127.0.0.1", 5091, listener, None)
            if status_of(transport.last) != 200:
                raise SystemExit(f"auth: expected a 200, got {transport.last[:60]!r}")

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def child(scenario_name: str, count: int, mode: str) -> None:
    """Run ``count`` operations after a warm-up; in time mode print microseconds per operation."""
    sys.path.insert(0, str(REPO_ROOT))
    from gevent import monkey

    monkey.patch_all()
    scenario = {"register": RegisterScenario, "register-refresh": RegisterRefreshScenario, "call": CallScenario,
                "auth-sqlite": AuthSqliteScenario}[scenario_name]()
    warm = scenario.prepare(200 + count)
    scenario.run(warm[:200])
    work = warm[200:]
    from opensipsg.runtime import settle_heap

    settle_heap()  # as the server does after start-up
    started = time.process_time()
    scenario.run(work)
    elapsed = time.process_time() - started
    if mode == "time":
        print(f"{elapsed / count * 1e6:.1f}")
    close = getattr(scenario, "close", None)
    if close is not None:
        close()


# ---------------------------------------------------------------------------
# the parent: runs the child (under valgrind) and does the arithmetic


def run_child(scenario: str, count: int, mode: str, python: str) -> str:
    argv = [python, str(Path(__file__).resolve()), "--child", scenario, "--count", str(count), "--mode", mode]
    if mode == "instructions":
        argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv]
    # a fixed hash seed: randomised string hashes move the count by about 1 % between runs
    env = dict(os.environ, PYTHONHASHSEED=os.environ.get("PYTHONHASHSEED", "0"))
    result = subprocess.run(argv, capture_output=True, text=True, cwd=REPO_ROOT, env=env)
    if result.returncode != 0:
        raise SystemExit(f"{scenario}: the run failed:\n{result.stdout}{result.stderr[-3000:]}")
    if mode == "instructions":
        found = re.search(r"Collected\s*:\s*(\d+)", result.stderr)
        if found is None:
            raise SystemExit(f"{scenario}: no instruction count in valgrind's output:\n{result.stderr[-2000:]}")
        return found.group(1)
    return result.stdout.strip().splitlines()[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", help=f"any of {', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--mode", choices=("instructions", "time"), default="instructions")
    parser.add_argument("--count", type=int, help="operations per run (default 500 instructions, 5000 time)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter to measure")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.count, args.mode)
        return 0
    unknown = [name for name in args.scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {unknown[0]!r}: choose from {', '.join(SCENARIOS)}")
    if args.mode == "instructions" and shutil.which("valgrind") is None:
        print("instructions: valgrind not found (apt-get install valgrind)", file=sys.stderr)
        return 2
    # byte-compile first: else the first (smaller) run also pays for writing .pyc files
    subprocess.run([args.python, "-m", "compileall", "-q", str(REPO_ROOT / "opensipsg")], check=False)
    for scenario in args.scenarios or SCENARIOS:
        if args.mode == "instructions":
            count = args.count or 500
            small = int(run_child(scenario, count, args.mode, args.python))
            large = int(run_child(scenario, 2 * count, args.mode, args.python))
            print(f"{scenario}: {(large - small) / count:,.0f} instructions per operation", flush=True)
        else:
            count = args.count or 5000
            print(f"{scenario}: {run_child(scenario, count, args.mode, args.python)} us CPU per operation "
                  f"(in process)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
