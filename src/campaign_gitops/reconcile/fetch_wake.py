"""Waking every replica's fetch when one receives a push webhook: PostgreSQL
``LISTEN``/``NOTIFY`` on ``campaign_gitops_fetch`` (``reconcile --repo`` with replicas;
``remote.py`` holds the clone and the fetch loop).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from campaign_gitops.reconcile.events import EventLog

WAKE_CHANNEL = "campaign_gitops_fetch"


@dataclass
class PgWake:
    """A push webhook on any replica wakes every replica's fetch (PostgreSQL LISTEN/NOTIFY).

    The webhook reaches one replica (a load balancer picks it); it may be a follower,
    and only the leader applies. So the replica that got it also sends ``NOTIFY`` on
    ``campaign_gitops_fetch``, and each replica's listener thread wakes its own
    ``Follower``. The listener reconnects when the database goes away; without it the
    interval fetch still catches up.
    """

    url: str
    on_wake: Callable[[str], None]
    log: EventLog = field(default_factory=EventLog)
    me: str = field(default_factory=lambda: os.urandom(6).hex())
    stop: threading.Event = field(default_factory=threading.Event)
    listening: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def _connect(self) -> Any:
        import psycopg

        from campaign_gitops.reconcile.leader import KEEPALIVES, pg_conninfo

        return psycopg.connect(pg_conninfo(self.url), autocommit=True, connect_timeout=5,
                               application_name="campaign-gitops-fetch-wake", **KEEPALIVES)

    def notify(self, reason: str) -> None:
        """Tell the other replicas to fetch (from a thread: never blocks the caller)."""
        def send() -> None:
            try:
                with self._connect() as conn:
                    conn.execute("SELECT pg_notify(%s, %s)", (WAKE_CHANNEL,
                                                               f"{self.me}:{reason}"[:7000]))
            except Exception as exc:  # the others still fetch on their interval
                self.log("fetch-wake-failed", f"{type(exc).__name__}: {exc}", level="warn")

        threading.Thread(target=send, name="fetch-wake-notify", daemon=True).start()

    def run(self) -> None:
        delay = 1.0
        while not self.stop.is_set():
            try:
                with self._connect() as conn:
                    conn.execute(f"LISTEN {WAKE_CHANNEL}")
                    self.listening.set()
                    self.log("fetch-wake-listening", "a webhook on any replica fetches here too")
                    delay = 1.0
                    while not self.stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            sender, _, reason = note.payload.partition(":")
                            if sender != self.me:
                                self.on_wake(f"another replica: {reason}")
            except Exception as exc:  # the database is away: listen again later
                self.listening.clear()
                if not self.stop.is_set():
                    self.log("fetch-wake-failed", f"{type(exc).__name__}: {exc}",
                             level="warn", retry_in=f"{delay:.0f}s")
                self.stop.wait(delay)
                delay = min(delay * 2, 60.0)

    def start(self) -> PgWake:
        self.thread = threading.Thread(target=self.run, name="fetch-wake", daemon=True)
        self.thread.start()
        return self

    def close(self, timeout: float = 3.0) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout)
