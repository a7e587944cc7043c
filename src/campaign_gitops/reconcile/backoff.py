"""Per-resource retry delays: a failed apply waits the next delay of a settings tuple.

Like kopf's backoff: the n-th consecutive failure of a resource waits ``delays[n-1]``
(the last delay repeats), a success resets it. Pure: the caller passes ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_DELAYS: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 120.0, 300.0)


@dataclass(frozen=True, slots=True)
class Retry:
    """One resource's failure streak: how many in a row, the last error, when to retry."""

    attempts: int
    error: str
    retry_at: float


@dataclass(slots=True)
class Backoff:
    delays: tuple[float, ...] = DEFAULT_DELAYS
    _state: dict[str, Retry] = field(default_factory=dict)

    def delay(self, attempts: int) -> float:
        """The wait after the ``attempts``-th consecutive failure (1-based)."""
        if not self.delays:
            return 0.0
        return self.delays[min(attempts, len(self.delays)) - 1]

    def failed(self, key: str, error: str, now: float) -> Retry:
        attempts = self._state[key].attempts + 1 if key in self._state else 1
        retry = Retry(attempts, error, now + self.delay(attempts))
        self._state[key] = retry
        return retry

    def succeeded(self, key: str) -> None:
        self._state.pop(key, None)

    def waiting(self, key: str, now: float) -> Retry | None:
        """The pending retry of ``key`` when it is not due yet, else None."""
        retry = self._state.get(key)
        return retry if retry is not None and retry.retry_at > now else None

    def pending(self) -> dict[str, Retry]:
        return dict(self._state)

    def next_due(self) -> float | None:
        """The earliest retry time, so the loop can wake up for it."""
        return min((r.retry_at for r in self._state.values()), default=None)
