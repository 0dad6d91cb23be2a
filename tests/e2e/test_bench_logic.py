"""bench/run.py's pure parts: stats parsing, the sustained-rate rule, rate stepping.

The SIPp statistics come from real runs recorded in tests/data/sipp/:
sample_stat_ok.csv (uac_rr.xml against uas_rr.xml, 40 calls at 20/s, -d 100,
2.73 s wall) and sample_stat_failed.csv (4 calls to a closed port).
"""
from __future__ import annotations

import importlib.util
import sys

import pytest

from tests.e2e import harness

_spec = importlib.util.spec_from_file_location("bench_run", harness.REPO_ROOT / "bench" / "run.py")
bench = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("bench_run", bench)  # dataclasses look their module up there
_spec.loader.exec_module(bench)


def recorded(name: str, wall: float, rc: int) -> harness.SippResult:
    text = (harness.SIPP_DIR / name).read_text()
    return harness.SippResult(args=[], rc=rc, screen="", stats=harness.parse_stat_csv(text), errors="",
                              wall_seconds=wall)


def step(rate=100, planned=1000, ok=1000, failed=0, wall=10.2, tail=0.0, cpu=1.0, **kw):
    return bench.Step(kind="call", rate=rate, planned=planned, successful=ok, failed=failed, wall_seconds=wall,
                      tail_seconds=tail, cpu_seconds=cpu, **kw)


def test_recorded_good_run_is_sustained():
    result = recorded("sample_stat_ok.csv", wall=2.727, rc=0)
    assert (result.successful, result.failed, result.created) == (40, 0, 40)
    s = bench.Step.from_result("call", 20, 40, result, tail_seconds=0.7, cpu_seconds=0.2)
    assert s.unfinished == 0 and s.failure_ratio == 0.0
    assert s.achieved_rate == pytest.approx(40 / 2.027)
    assert s.cpu_ms_per_op == pytest.approx(5.0)
    assert s.verdict() == (True, "sustained")


def test_recorded_failed_run_is_not_sustained():
    result = recorded("sample_stat_failed.csv", wall=1.42, rc=1)
    assert (result.successful, result.failed) == (0, 4)
    s = bench.Step.from_result("call", 10, 4, result, tail_seconds=0.7, cpu_seconds=0.0)
    assert s.failure_ratio == 1.0 and s.cpu_ms_per_op is None
    ok, why = s.verdict()
    assert not ok and "4 of 4" in why


def test_failure_bound_is_strictly_below_a_tenth_of_a_percent():
    assert step(planned=1000, ok=1000).passed
    assert not step(planned=1000, ok=999, failed=1).passed            # exactly 0.1 %
    assert step(planned=1001, ok=1000, failed=1, wall=10.21).passed   # 0.0999 %
    unfinished = step(planned=1000, ok=998, failed=0)                  # never finished count as failed
    assert unfinished.unfinished == 2 and not unfinished.passed


def test_rate_not_offered_is_not_sustained():
    slow = step(rate=100, planned=1000, ok=1000, wall=12.0, tail=0.5)  # 87/s offered
    ok, why = slow.verdict()
    assert not ok and "offered only 87/s" in why
    assert not step(timed_out=True).passed


def test_rate_ladder():
    assert bench.rate_ladder(100, 1.5, 1000) == [100, 150, 225, 338, 506, 759]
    assert bench.rate_ladder(10, 2, 160) == [10, 20, 40, 80, 160]
    assert bench.rate_ladder(1, 1.2, 4) == [1, 2, 3, 4]  # rounding never repeats a rate
    with pytest.raises(ValueError):
        bench.rate_ladder(10, 1.0, 100)


def test_find_max_sustained_stops_at_first_failure():
    good = recorded("sample_stat_ok.csv", wall=2.727, rc=0)
    bad = recorded("sample_stat_failed.csv", wall=1.42, rc=1)
    ran = []

    def run(rate):
        ran.append(rate)
        if rate <= 40:
            return bench.Step.from_result("call", rate, 40, good, tail_seconds=0.7 + 2 - 40 / rate, cpu_seconds=0.1)
        return bench.Step.from_result("call", rate, 4, bad, tail_seconds=0.7, cpu_seconds=0.1)

    lines = []
    best, steps = bench.find_max_sustained([10, 20, 40, 80, 160], run, lines.append)
    assert ran == [10, 20, 40, 80]
    assert best.rate == 40 and [s.rate for s in steps] == ran
    assert "-> sustained" in lines[0] and "failed or unfinished" in lines[-1]
    assert bench.find_max_sustained([80], run)[0] is None


def test_repeat_runs_the_highest_sustained_rate_again_and_takes_the_median():
    good = recorded("sample_stat_ok.csv", wall=2.727, rc=0)
    bad = recorded("sample_stat_failed.csv", wall=1.42, rc=1)
    cpu_at_40 = iter([0.5, 0.1, None, 0.3, 0.2])  # None: a repeat that fails
    ran = []

    def run(rate):
        ran.append(rate)
        if rate > 40:
            return bench.Step.from_result("call", rate, 4, bad, tail_seconds=0.7, cpu_seconds=0.1)
        cpu = next(cpu_at_40) if rate == 40 else 0.1
        if cpu is None:
            return bench.Step.from_result("call", rate, 4, bad, tail_seconds=0.7, cpu_seconds=0.1)
        return bench.Step.from_result("call", rate, 40, good, tail_seconds=0.7 + 2 - 40 / rate, cpu_seconds=cpu)

    lines = []
    best, steps = bench.find_max_sustained([20, 40, 80], run, lines.append, repeat=5)
    assert ran == [20, 40, 80, 40, 40, 40, 40]
    assert len(steps) == 7
    # sustained runs at 40/s cost 0.5, 0.1, 0.3, 0.2 s: the median (lower of the middle two) is 0.2 s
    assert best.rate == 40 and best.cpu_seconds == 0.2
    assert "median of 4 sustained runs" in lines[-1]
    assert len(bench.find_max_sustained([20], run)[1]) == 1  # repeat 1 (the default): no second run


def test_planned_ops_and_quick_defaults():
    assert bench.planned_ops(50, 3.0) == 150 and bench.planned_ops(1, 0.1) == 1
    quick = bench.parse_args(["--quick"])
    assert (quick.step_seconds, quick.factor, quick.reg_start, quick.call_start) == (3.0, 2.0, 50, 10)
    full = bench.parse_args(["--call-max", "77"])
    assert (full.step_seconds, full.call_max, full.reg_max) == (10.0, 77, 20000)


def _cpu_readings(*busy_per_second: float):
    """A fake clock and CPU counter: the process spends busy_per_second[i] in second i."""
    used = [0.0]
    seconds = iter(busy_per_second)
    def sleep(window):
        used[0] += next(seconds) * window
    return (lambda: used[0]), sleep


def test_a_step_waits_for_the_server_to_be_idle_again():
    read_cpu, sleep = _cpu_readings(0.5, 0.2, 0.05, 0.01, 0.9)
    assert bench.wait_until_idle(read_cpu, sleep, quiet=0.03) == (True, 4.0)
    assert read_cpu() == pytest.approx(0.76)  # stopped at the first quiet second


def test_waiting_for_idle_gives_up_after_max_wait():
    read_cpu, sleep = _cpu_readings(*[0.5] * 10)
    assert bench.wait_until_idle(read_cpu, sleep, quiet=0.03, max_wait=3.0) == (False, 3.0)
    defaults = bench.parse_args([])
    assert (defaults.settle_cpu, defaults.settle_max) == (0.03, 90.0)


def test_report_lists_every_step_and_the_best(tmp_path):
    args = bench.parse_args(["--quick"])

    class FakeBench:  # only what format_report reads
        server_cpu = 1
        sipp_prefix = ["taskset", "-c", "0"]

    passed = step(rate=50, planned=150, ok=150, wall=3.1, cpu=0.3)
    failed = step(rate=100, planned=300, ok=290, failed=10, wall=3.1, cpu=0.6)
    report = bench.format_report(args, FakeBench(), "3.x", {"call": (passed, [passed, failed])})
    assert "| call | 50 | 150 | 150 | 0 | 0 |" in report and "| call | 100 | 300 | 290 | 10 | 0 |" in report
    assert "highest sustained call rate: 50/s" in report and "2.000 ms per call" in report
    out = tmp_path / "RESULTS.md"
    bench.append_results(out, report)
    bench.append_results(out, report)
    text = out.read_text()
    assert text.startswith("# opensipsg benchmark results") and text.count("highest sustained call") == 2


def test_report_says_the_ladder_ended_only_when_no_higher_rate_was_tried():
    args = bench.parse_args(["--quick", "--repeat", "2"])

    class FakeBench:
        server_cpu = 1
        sipp_prefix = []

    low = step(rate=50, planned=150, ok=150, wall=3.1, cpu=0.3)
    failed = step(rate=100, planned=300, ok=290, failed=10, wall=3.1, cpu=0.6)
    repeated = step(rate=50, planned=150, ok=150, wall=3.1, cpu=0.25)  # the median run, run last
    report = bench.format_report(args, FakeBench(), "3.x", {"call": (repeated, [low, failed, repeated])})
    assert "raise --call-max" not in report and "run 2 times, its figure the median" in report
    report = bench.format_report(args, FakeBench(), "3.x", {"call": (repeated, [low, repeated])})
    assert "raise --call-max" in report
