"""The one retry policy shared by delivery and tick's write retries."""

from __future__ import annotations

import datetime as dt

from campaign_gitops.runs.policy import BACKOFF, MAX_ATTEMPTS, retry_at

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def test_each_failure_waits_longer_until_the_attempts_run_out() -> None:
    waits = [retry_at(n, NOW) for n in range(1, MAX_ATTEMPTS + 2)]
    assert waits[:len(BACKOFF)] == [NOW + b for b in BACKOFF]
    assert sorted(waits[:len(BACKOFF)]) == waits[:len(BACKOFF)]  # type: ignore[type-var]
    assert waits[len(BACKOFF):] == [None, None]
