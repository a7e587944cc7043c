"""The daemon's inbound-mail poll: every ``--inbound-interval`` seconds each mailbox of
``inbound.mailboxes`` is read once (inbound/imap.py). A mailbox that fails (login,
network) is retried with backoff (the reconcile loop's delays, per mailbox) and shows in
``/readyz`` (``mailboxes``: ok, error, attempts; not ready while one fails) and
``/metrics`` (``campaign_gitops_mailbox_failures{mailbox}``,
``campaign_gitops_inbound_mails_total{mailbox,kind}``,
``campaign_gitops_inbound_unmatched{mailbox}``). Runs on every replica: recording is
idempotent per Message-ID. Never raises out of its thread.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from campaign_gitops.config.project import MailboxConfig
from campaign_gitops.inbound.imap import FetchReport, MailboxError
from campaign_gitops.inbound.tokens import Signer
from campaign_gitops.reconcile.backoff import DEFAULT_DELAYS, Backoff
from campaign_gitops.reconcile.events import EventLog
from campaign_gitops.reconcile.health import Health, Metrics
from campaign_gitops.runs.inbound import fetch_mailbox
from campaign_gitops.state.db import Database


@dataclass
class InboundPoller:
    db: Database
    boxes: list[MailboxConfig]
    interval: float = 60.0
    signer: Signer | None = None
    health: Health = field(default_factory=Health)
    metrics: Metrics = field(default_factory=Metrics)
    log: EventLog = field(default_factory=EventLog)
    backoff: Backoff = field(default_factory=lambda: Backoff(DEFAULT_DELAYS))
    fetch: Callable[..., FetchReport] = fetch_mailbox
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    _due: dict[str, float] = field(default_factory=dict)
    _state: dict[str, dict[str, Any]] = field(default_factory=dict)

    def poll_once(self, clock: float, now: dt.datetime) -> None:
        """Read every mailbox that is due at ``clock`` (monotonic); ``now`` stamps records."""
        for box in self.boxes:
            if self._due.get(box.name, 0.0) > clock:
                continue
            try:
                report = self.fetch(self.db, box, now=now, signer=self.signer)
            except MailboxError as exc:
                self._failed(box.name, exc.message, clock)
                continue
            except Exception as exc:  # a bug or a database outage: report, retry later
                self._failed(box.name, f"{type(exc).__name__}: {exc}", clock)
                continue
            self._succeeded(box.name, report, clock)

    def _failed(self, name: str, error: str, clock: float) -> None:
        retry = self.backoff.failed(name, error, clock)
        self._due[name] = retry.retry_at
        self.metrics.mailbox_failures.labels(name).set(retry.attempts)
        self._state[name] = {"ok": False, "error": error, "attempts": retry.attempts}
        self.health.update(mailboxes=dict(self._state))
        self.log("inbound-failed", error, level="error", mailbox=name, attempt=retry.attempts,
                 retry_in=f"{retry.retry_at - clock:.0f}s")

    def _succeeded(self, name: str, report: FetchReport, clock: float) -> None:
        recovered = not self._state.get(name, {"ok": True})["ok"]
        self.backoff.succeeded(name)
        self._due[name] = clock + self.interval
        m = self.metrics
        m.mailbox_failures.labels(name).set(0)
        m.inbound_unmatched.labels(name).set(report.unmatched)
        for kind, n in report.kinds.items():
            m.inbound_mails.labels(name, kind).inc(n)
        self._state[name] = {"ok": True, "error": None, "attempts": 0,
                             "unmatched": report.unmatched}
        self.health.update(mailboxes=dict(self._state))
        if recovered:
            self.log("inbound-ok", "the mailbox answers again", mailbox=name)
        if report.recorded or report.duplicates:
            self.log("inbound", f"recorded {report.recorded} mail(s)", **report.as_json())

    def next_due(self) -> float:
        return min(self._due.values(), default=0.0)

    def run(self) -> None:
        while not self.stop.is_set():
            self.poll_once(time.monotonic(), dt.datetime.now(dt.UTC))
            self.stop.wait(max(0.05, self.next_due() - time.monotonic()))

    def start(self) -> InboundPoller:
        self.thread = threading.Thread(target=self.run, name="inbound", daemon=True)
        self.thread.start()
        return self

    def close(self, timeout: float = 10.0) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout)
