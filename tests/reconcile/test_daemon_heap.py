"""The daemon's full pass leaves a settled heap: collected once, then frozen, so later
collections during an edit's incremental pass do not walk the whole repo's objects
(a ~300 ms pause at 10,000 campaigns, measured by benchmarks/daemon_bench.py)."""

from __future__ import annotations

import gc
import weakref

from campaign_gitops.reconcile.runner import settled_heap


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


def test_a_full_pass_collects_then_freezes_and_the_next_one_unfreezes() -> None:
    gc.unfreeze()
    try:
        with settled_heap():
            assert gc.get_freeze_count() == 0
            kept = [_Node() for _ in range(100)]
            garbage = weakref.ref(_Node())  # unreachable at once, but for its cycle
        assert garbage() is None  # collected before freezing
        frozen = gc.get_freeze_count()
        assert frozen > len(kept)
        with settled_heap():
            assert gc.get_freeze_count() == 0  # the next full pass starts unfrozen
        assert gc.get_freeze_count() >= len(kept)
    finally:
        gc.unfreeze()
