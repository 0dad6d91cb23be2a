"""Process-wide settings of the running server (not of the library: tests leave them alone)."""
from __future__ import annotations

import gc
import os

# Collections of the youngest generation after this many net container allocations
# (CPython's default is 700). Handling one message allocates a few hundred objects that
# are freed by reference counting; with 700, a collection often lands in the middle of
# a message, walks its live objects and promotes them, and older generations follow.
# Cyclic garbage still goes, just in larger, rarer batches.
GC_THRESHOLDS = (50_000, 20, 100)


def settle_heap() -> None:
    """After start-up: what was loaded lives as long as the process, so the collector
    should not walk it again and again (gc.freeze), and young collections get rarer."""
    gc.collect()
    gc.freeze()
    thresholds = os.environ.get("OPENSIPSG_GC_THRESHOLDS")  # developers: A/B measurements
    gc.set_threshold(*(tuple(int(v) for v in thresholds.split(",")) if thresholds else GC_THRESHOLDS))
