"""A token bucket per key (client address, client name): the web's one rate limiter.

    limit = TokenBucket(capacity=10, per_second=10 / 60, clock=time.monotonic)
    wait = limit.take(request.client.host)    # 0.0: go on; else seconds until one more

Each key starts with ``capacity`` tokens and regains ``per_second`` of them up to that
capacity; a request takes one. The clock (seconds, monotonic) is an input. Full buckets
are forgotten when many keys are held, so the table stays small.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

MAX_KEYS = 10_000


class TokenBucket:
    """Thread-safe; ``take(key)`` returns 0.0 when allowed, else the seconds to wait."""

    def __init__(self, capacity: float, per_second: float, clock: Callable[[], float]) -> None:
        if capacity < 1 or per_second <= 0:
            raise ValueError("a token bucket needs capacity >= 1 and a positive rate")
        self.capacity = capacity
        self.per_second = per_second
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    @classmethod
    def per_minute(cls, count: int, clock: Callable[[], float]) -> TokenBucket:
        """``count`` at once, then ``count`` per minute."""
        return cls(count, count / 60.0, clock)

    def _level(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (self.capacity, now))
        return min(self.capacity, tokens + max(0.0, now - at) * self.per_second)

    def take(self, key: str) -> float:
        now = self._clock()
        with self._lock:
            tokens = self._level(key, now)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return (1.0 - tokens) / self.per_second
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > MAX_KEYS:
                self._forget_full(now)
            return 0.0

    def _forget_full(self, now: float) -> None:
        for key in [k for k in self._buckets if self._level(k, now) >= self.capacity]:
            del self._buckets[key]


def retry_after(wait: float) -> str:
    """A ``Retry-After`` header value (whole seconds, at least 1)."""
    return str(max(1, math.ceil(wait)))
