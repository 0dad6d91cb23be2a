import gc

from opensipsg import runtime


def test_settle_heap_freezes_and_raises_the_young_threshold(monkeypatch):
    before = gc.get_threshold()
    monkeypatch.delenv("OPENSIPSG_GC_THRESHOLDS", raising=False)
    try:
        runtime.settle_heap()
        assert gc.get_threshold() == runtime.GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
        monkeypatch.setenv("OPENSIPSG_GC_THRESHOLDS", "800,11,12")
        runtime.settle_heap()
        assert gc.get_threshold() == (800, 11, 12)
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
