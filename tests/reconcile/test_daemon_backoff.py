"""Per-resource backoff and the debouncer: pure, driven by the ``now`` they are given."""

from __future__ import annotations

from campaign_gitops.reconcile.backoff import Backoff
from campaign_gitops.reconcile.debounce import Debouncer


def test_backoff_grows_along_the_tuple_and_repeats_the_last() -> None:
    backoff = Backoff(delays=(1.0, 5.0, 30.0))
    waits = [backoff.failed("acme/Campaign/q1", "boom", now=100.0).retry_at - 100.0
             for _ in range(5)]
    assert waits == [1.0, 5.0, 30.0, 30.0, 30.0]


def test_backoff_holds_until_due_and_resets_on_success() -> None:
    backoff = Backoff(delays=(10.0,))
    backoff.failed("a", "boom", now=0.0)
    retry = backoff.waiting("a", now=9.9)
    assert retry is not None and (retry.retry_at, retry.attempts) == (10.0, 1)
    assert backoff.waiting("a", now=10.0) is None
    assert backoff.waiting("b", now=0.0) is None
    assert backoff.next_due() == 10.0
    backoff.succeeded("a")
    assert backoff.pending() == {}
    assert backoff.failed("a", "again", now=50.0).attempts == 1


def test_debounce_waits_for_quiet() -> None:
    d = Debouncer(quiet=0.25, max_wait=1.0)
    assert d.due_at() is None and not d.ready(0.0)
    d.add(["a.yaml"], now=0.0)
    d.add(["b.yaml"], now=0.5)
    assert not d.ready(0.7)
    assert d.ready(0.75)
    assert d.take() == {"a.yaml", "b.yaml"}
    assert d.due_at() is None


def test_debounce_caps_an_endless_burst() -> None:
    d = Debouncer(quiet=0.25, max_wait=1.5)
    for i in range(20):
        d.add([f"{i}.yaml"], now=i * 0.125)
    assert d.due_at() == 1.5
    assert d.ready(1.5)
    assert len(d.take()) == 20


def test_debounce_ignores_empty_batches() -> None:
    d = Debouncer()
    d.add([], now=0.0)
    assert d.due_at() is None
