"""Grouping bursts of file events: reconcile once the burst has been quiet for a while.

An editor saving a file emits several events; a ``git checkout`` emits hundreds. The
debouncer collects paths and says when to act: after ``quiet`` seconds without a new
event, or ``max_wait`` after the first one at the latest. Pure: the caller passes ``now``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(slots=True)
class Debouncer:
    quiet: float = 0.05
    max_wait: float = 1.0
    _paths: set[str] = field(default_factory=set)
    _first: float | None = None
    _last: float | None = None

    def add(self, paths: Iterable[str], now: float) -> None:
        added = False
        for path in paths:
            self._paths.add(path)
            added = True
        if not added:
            return
        if self._first is None:
            self._first = now
        self._last = now

    def due_at(self) -> float | None:
        """When the collected burst should be handled; None when nothing is pending."""
        if self._first is None or self._last is None:
            return None
        return min(self._last + self.quiet, self._first + self.max_wait)

    def ready(self, now: float) -> bool:
        due = self.due_at()
        return due is not None and now >= due

    def take(self) -> set[str]:
        paths, self._paths = self._paths, set()
        self._first = self._last = None
        return paths
