#!/usr/bin/env python3
"""opensipsg benchmark: highest sustained REGISTER and call rates, and CPU per operation.

Starts opensipsg on bench/bench.cfg pinned to one CPU (``taskset -c N``), drives
it with SIPp (pinned to the other CPUs), and steps the offered rate up until a
step is no longer sustained:

- sustained = fewer than 0.1 % of the planned operations failed or were left
  unfinished, and SIPp offered at least 90 % of the target rate;
- each step is one SIPp run of ``rate * step_seconds`` operations;
- server CPU per operation = utime+stime delta of the server over the step
  (/proc/PID/stat) divided by the successful operations.

(a) REGISTER: register.xml, distinct users from a generated CSV.
(b) calls: a SIPp UAS (uas_rr.xml) registered at the proxy, and uac_rr.xml
    calling it through the proxy: INVITE/100/180/200/ACK/BYE/200.

Results are appended to bench/RESULTS.md (only by running this script).
Run ``bench/run.py --help``; ``--quick`` is a short run. See bench/README.md.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.e2e import harness  # noqa: E402  (stdlib-only module)

MAX_FAILURE_RATIO = 0.001   # "< 0.1 % failed"
MIN_RATE_FRACTION = 0.90    # SIPp must have offered at least this share of the target rate
EXPIRES = 3600
CALLEE = "benchuas"
UAC_TIMEWAIT_MS = 600       # <timewait> at the end of uac_rr.xml


# --------------------------------------------------------------------------
# pure logic (tested in tests/e2e/test_bench_logic.py)


@dataclass
class Step:
    """One SIPp run at one offered rate."""
    kind: str               # "register" or "call"
    rate: int               # target operations per second
    planned: int            # -m
    successful: int
    failed: int
    wall_seconds: float     # the SIPp run, start to exit
    tail_seconds: float     # time an operation lasts after it is started (call length, timewait)
    cpu_seconds: float      # server utime+stime during the run
    rc: Optional[int] = None
    timed_out: bool = False

    @property
    def unfinished(self) -> int:
        return max(0, self.planned - self.successful - self.failed)

    @property
    def failure_ratio(self) -> float:
        """Failed plus never-finished operations, over the planned ones."""
        if self.planned <= 0:
            return 1.0
        return (self.planned - self.successful) / self.planned

    @property
    def achieved_rate(self) -> float:
        """Operations started per second: planned / (wall time - the last operation's own length)."""
        span = self.wall_seconds - self.tail_seconds
        if span <= 0:
            return float(self.planned)  # everything fit in the tail: not rate-limited
        return self.planned / span

    @property
    def cpu_ms_per_op(self) -> Optional[float]:
        if self.successful <= 0:
            return None
        return self.cpu_seconds * 1000.0 / self.successful

    def verdict(self, max_failure_ratio: float = MAX_FAILURE_RATIO,
                min_rate_fraction: float = MIN_RATE_FRACTION) -> tuple[bool, str]:
        if self.timed_out:
            return False, "SIPp run timed out"
        if self.failure_ratio >= max_failure_ratio:
            return False, (f"{self.planned - self.successful} of {self.planned} failed or unfinished "
                           f"({self.failure_ratio:.2%})")
        if self.achieved_rate < min_rate_fraction * self.rate:
            return False, f"offered only {self.achieved_rate:.0f}/s of {self.rate}/s"
        return True, "sustained"

    @property
    def passed(self) -> bool:
        return self.verdict()[0]

    @classmethod
    def from_result(cls, kind: str, rate: int, planned: int, result: "harness.SippResult",
                    tail_seconds: float, cpu_seconds: float) -> "Step":
        return cls(kind=kind, rate=rate, planned=planned, successful=result.successful, failed=result.failed,
                   wall_seconds=result.wall_seconds, tail_seconds=tail_seconds, cpu_seconds=cpu_seconds,
                   rc=result.rc, timed_out=result.timed_out)


def rate_ladder(start: int, factor: float, limit: int) -> list[int]:
    """Increasing integer rates start, start*factor, ... up to limit (inclusive)."""
    if start <= 0 or factor <= 1.0 or limit < start:
        raise ValueError("rate_ladder: need start > 0, factor > 1, limit >= start")
    rates = []
    rate = float(start)
    while round(rate) <= limit:
        value = int(round(rate))
        if not rates or value > rates[-1]:
            rates.append(value)
        rate *= factor
    return rates


def find_max_sustained(rates: Sequence[int], run_step: Callable[[int], Step],
                       log: Callable[[str], None] = lambda line: None) -> tuple[Optional[Step], list[Step]]:
    """Run the rates in order; stop at the first step that is not sustained.

    Returns (the highest sustained step or None, every step run).
    """
    best: Optional[Step] = None
    steps: list[Step] = []
    for rate in rates:
        step = run_step(rate)
        steps.append(step)
        ok, why = step.verdict()
        cpu = step.cpu_ms_per_op
        log(f"  {step.kind} {rate}/s: ok={step.successful} failed={step.failed} unfinished={step.unfinished} "
            f"offered={step.achieved_rate:.0f}/s cpu={'-' if cpu is None else f'{cpu:.3f} ms/op'} -> {why}")
        if not ok:
            break
        best = step
    return best, steps


def planned_ops(rate: int, step_seconds: float) -> int:
    return max(1, int(round(rate * step_seconds)))


# --------------------------------------------------------------------------
# machine facts


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def command_output(argv: Sequence[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=REPO_ROOT).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def sipp_version() -> str:
    for line in command_output(["sipp", "-v"]).splitlines():
        if "SIPp" in line:
            return line.strip()
    return "unknown"


def git_revision() -> str:
    rev = command_output(["git", "rev-parse", "--short", "HEAD"]) or "unknown"
    dirty = command_output(["git", "status", "--porcelain", "--untracked-files=no", "--", "opensipsg"])
    return rev + ("+dirty" if dirty else "")


# --------------------------------------------------------------------------
# the runs


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path):
        self.args = args
        self.workdir = workdir
        ncpu = os.cpu_count() or 1
        self.server_cpu = args.cpu if args.cpu is not None else ncpu - 1
        others = [c for c in sorted(os.sched_getaffinity(0)) if c != self.server_cpu]
        self.sipp_prefix = ["taskset", "-c", ",".join(map(str, others))] if others and shutil.which("taskset") else []
        self.server: Optional[harness.Server] = None

    def log(self, line: str) -> None:
        print(line, flush=True)

    def start_server(self) -> harness.Server:
        port = harness.free_port("both")
        cfg = harness.fill(Path(self.args.config).read_text(), port=port)
        prefix = ["taskset", "-c", str(self.server_cpu)] if shutil.which("taskset") else []
        self.server = harness.Server(cfg, self.workdir / "server", prefix=prefix)
        self.server.start()
        self.log(f"opensipsg pid {self.server.pid} on udp/127.0.0.1:{port}, CPU {self.server_cpu}; "
                 f"SIPp on {self.sipp_prefix[-1] if self.sipp_prefix else 'any CPU'}")
        return self.server

    def target(self) -> str:
        return f"{harness.LOCALHOST}:{self.server.udp_port}"

    def measured_run(self, kind: str, rate: int, sipp_args: list[str], tail_seconds: float) -> Step:
        planned = planned_ops(rate, self.args.step_seconds)
        timeout = self.args.step_seconds * 3 + tail_seconds + 30
        limit = max(100, int(rate * (tail_seconds + 5)))
        before = self.server.cpu_seconds()
        result = harness.run_sipp([self.target(), *sipp_args, "-m", str(planned), "-r", str(rate),
                                   "-l", str(limit)], self.workdir / f"{kind}_{rate}", timeout=timeout,
                                  recv_timeout_ms=10000, prefix=self.sipp_prefix)
        after = self.server.cpu_seconds()
        if not self.server.running():
            raise harness.ServerError(f"opensipsg died during the {kind} run at {rate}/s:\n"
                                      f"{self.server.log_tail()}")
        return Step.from_result(kind, rate, planned, result, tail_seconds, after - before)

    def registrations(self) -> tuple[Optional[Step], list[Step]]:
        users = harness.write_users_csv(self.workdir / "users.csv",
                                        (f"bench{n:06d}" for n in range(self.args.users)))
        self.log(f"REGISTER: {self.args.users} users, expires {EXPIRES}")
        args = ["-sf", harness.scenario("register.xml"), "-inf", str(users), "-key", "expires", str(EXPIRES)]
        rates = rate_ladder(self.args.reg_start, self.args.factor, self.args.reg_max)
        return find_max_sustained(rates, lambda r: self.measured_run("register", r, args, 0.0), self.log)

    def calls(self) -> tuple[Optional[Step], list[Step]]:
        uas_port = harness.free_port("both")
        callee = harness.write_users_csv(self.workdir / "callee.csv", [CALLEE])
        reg = harness.run_sipp([self.target(), "-sf", harness.scenario("register.xml"), "-inf", str(callee),
                                "-key", "expires", str(EXPIRES), "-m", "1", "-p", str(uas_port)],
                               self.workdir / "callee_register", timeout=15)
        if not reg.ok:
            raise RuntimeError("could not register the callee's contact:\n" + reg.describe())
        uas = harness.start_sipp(["-sf", harness.scenario("uas_rr.xml"), "-p", str(uas_port), "-l", "1000000"],
                                 self.workdir / "uas", timeout=24 * 3600, prefix=self.sipp_prefix)
        try:
            self.log(f"calls: UAS sipp pid {uas.pid} on udp/{uas_port} registered as {CALLEE}; "
                     f"call length {self.args.call_ms} ms")
            args = ["-sf", harness.scenario("uac_rr.xml"), "-s", CALLEE, "-d", str(self.args.call_ms)]
            tail = (self.args.call_ms + UAC_TIMEWAIT_MS) / 1000.0
            rates = rate_ladder(self.args.call_start, self.args.factor, self.args.call_max)
            return find_max_sustained(rates, lambda r: self.measured_run("call", r, args, tail), self.log)
        finally:
            uas.stop()


# --------------------------------------------------------------------------
# report


def format_report(args: argparse.Namespace, bench: Bench, python_version: str,
                  results: dict[str, tuple[Optional[Step], list[Step]]]) -> str:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## {now}: opensipsg {git_revision()}{' (--quick)' if args.quick else ''}",
        "",
        f"- machine: nproc {os.cpu_count()}, {cpu_model()}; server pinned to CPU {bench.server_cpu}, "
        f"SIPp on CPU {bench.sipp_prefix[-1] if bench.sipp_prefix else 'any'}",
        f"- python {python_version} (server), {sipp_version()}, {platform.system()} {platform.release()}",
        f"- config bench/bench.cfg; steps of {args.step_seconds:g} s, rate x{args.factor:g} per step; "
        f"sustained = < {MAX_FAILURE_RATIO:.1%} failed or unfinished and >= {MIN_RATE_FRACTION:.0%} of the "
        f"target rate offered; calls of {args.call_ms} ms (INVITE/100/180/200/ACK/BYE/200 through the proxy)",
        "",
        "| test | target /s | planned | ok | failed | unfinished | offered /s | server CPU ms/op | verdict |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for kind, (_best, steps) in results.items():
        for s in steps:
            cpu = "-" if s.cpu_ms_per_op is None else f"{s.cpu_ms_per_op:.3f}"
            lines.append(f"| {kind} | {s.rate} | {s.planned} | {s.successful} | {s.failed} | {s.unfinished} | "
                         f"{s.achieved_rate:.0f} | {cpu} | {s.verdict()[1]} |")
    lines.append("")
    names = {"register": ("REGISTER", "registration"), "call": ("call", "call")}
    for kind, (best, steps) in results.items():
        title, unit = names[kind]
        if best is None:
            lines.append(f"- **{title}: no sustained rate** (lowest step {steps[0].rate}/s failed)"
                         if steps else f"- **{title}: not run**")
        else:
            top = " (the highest step tried: raise --%s-max)" % ("reg" if kind == "register" else "call") \
                if best is steps[-1] else ""
            lines.append(f"- **highest sustained {title} rate: {best.rate}/s{top}; "
                         f"server CPU {best.cpu_ms_per_op:.3f} ms per {unit}**")
    return "\n".join(lines) + "\n"


def append_results(path: Path, report: str) -> None:
    if not path.exists():
        path.write_text("# opensipsg benchmark results\n\nWritten by `bench/run.py` (see bench/README.md); "
                        "newest last. Never edit figures by hand.\n\n")
    with open(path, "a") as fh:
        fh.write("\n" + report)


# --------------------------------------------------------------------------


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short run: 3 s steps, rate x2, small ladders")
    p.add_argument("--only", choices=["register", "call"], help="run one of the two tests")
    p.add_argument("--cpu", type=int, help="CPU for the server (default: the last one)")
    p.add_argument("--config", default=str(BENCH_DIR / "bench.cfg"), help="config template, {port} is filled (default bench/bench.cfg)")
    p.add_argument("--step-seconds", type=float, help="length of each rate step (default 10, quick 3)")
    p.add_argument("--factor", type=float, help="rate multiplier per step (default 1.5, quick 2)")
    p.add_argument("--reg-start", type=int, help="first REGISTER rate /s (default 100, quick 50)")
    p.add_argument("--reg-max", type=int, help="highest REGISTER rate tried (default 20000, quick 1600)")
    p.add_argument("--call-start", type=int, help="first call rate /s (default 20, quick 10)")
    p.add_argument("--call-max", type=int, help="highest call rate tried (default 5000, quick 320)")
    p.add_argument("--call-ms", type=int, default=100, help="call length (SIPp -d), ms (default 100)")
    p.add_argument("--users", type=int, help="distinct REGISTER users (default 20000, quick 2000)")
    p.add_argument("--results", default=str(BENCH_DIR / "RESULTS.md"), help="file the results are appended to (default bench/RESULTS.md)")
    p.add_argument("--no-write", action="store_true", help="print the report, do not append it")
    p.add_argument("--keep", action="store_true", help="keep the work directory (SIPp screens, server log)")
    args = p.parse_args(argv)
    defaults = {"step_seconds": (10.0, 3.0), "factor": (1.5, 2.0), "reg_start": (100, 50),
                "reg_max": (20000, 1600), "call_start": (20, 10), "call_max": (5000, 320),
                "users": (20000, 2000)}
    for name, (full, quick) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if harness.sipp_path() is None:
        print("bench: sipp not found (apt-get install sip-tester)", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="opensipsg-bench-"))
    bench = Bench(args, workdir)
    results: dict[str, tuple[Optional[Step], list[Step]]] = {}
    try:
        bench.start_server()
        python_version = command_output([bench.server.python, "-c", "import sys; print(sys.version.split()[0])"])
        if args.only in (None, "register"):
            results["register"] = bench.registrations()
        if args.only in (None, "call"):
            results["call"] = bench.calls()
    finally:
        if bench.server is not None:
            bench.server.stop()
        if args.keep:
            print(f"bench: work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    report = format_report(args, bench, python_version, results)
    print("\n" + report)
    if not args.no_write:
        append_results(Path(args.results), report)
        print(f"bench: appended to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
