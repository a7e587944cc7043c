"""Notices to people, off the reconcile loop: deduplicated, rate-limited, retried.

    notifier = Notifier.from_config(config.notifications, log=log)   # None receivers: off
    log.listeners.append(notifier.listen)        # the daemon's events feed it
    notifier.start(); ...; notifier.close()

The daemon's event log (``reconcile/events.py``) hands every event to ``listen``, which
only puts it on a queue. A dispatcher thread turns events into *conditions* — (event,
subject) pairs that are active, e.g. ``("file-failing", "campaigns/acme/c1.yaml")`` —
and notifies once when a condition appears and once more (``recovered``) when it
clears; a condition seen again on every pass is not news. Conditions that live in the
database (a paused run, a halt, low credits, messages waiting for review or in an
unknown delivery state) are read by ``conditions.scan`` after each tick, on the same
thread.

Each receiver has a thread and a bounded queue of its own: a slow or hanging receiver
delays nobody else, a failing one is retried with backoff, ``maxPerMinute`` spaces its
notices out. Sending is apprise (``json://``, ``slack://``, ``mailto://``, ...).
"""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from campaign_gitops.config.project import NotificationConfig

SEND_DELAYS: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0, 600.0)  # retries of one notice
QUEUE_LIMIT = 1000  # notices waiting per receiver; past it the oldest is dropped

FAILURE_EVENTS = ("file-failing", "apply-failed", "fetch-failed", "message-unknown", "halted",
                  "run-paused")


@dataclass(frozen=True, slots=True)
class Notice:
    event: str  # file-failing, ..., recovered
    subject: str  # what it is about: a file, a resource, a run, a client
    message: str
    cleared: str = ""  # for ``recovered``: the event that cleared

    @property
    def title(self) -> str:
        about = f"{self.cleared} " if self.cleared else ""
        return f"campaign-gitops: {self.event}: {about}{self.subject}"

    @property
    def kind(self) -> str:
        """apprise's notify type: failure, warning, success or info."""
        if self.event == "recovered":
            return "success"
        if self.event in FAILURE_EVENTS:
            return "failure"
        return "warning" if self.event == "credits-low" else "info"


def apprise_send(url: str, notice: Notice) -> bool:
    """One notice to one apprise URL; True when the receiver took it."""
    import apprise

    sender = apprise.Apprise()
    if not sender.add(url):
        return False
    return bool(sender.notify(body=notice.message or notice.title, title=notice.title,
                              notify_type=apprise.NotifyType(notice.kind)))


@dataclass
class RateLimit:
    """At most ``per_minute`` notices in any 60 s (a sliding window); pure: pass ``clock``."""

    per_minute: int
    sent: collections.deque[float] = field(default_factory=collections.deque)

    def wait(self, clock: float) -> float:
        """Seconds until one more may go (0: now)."""
        while self.sent and self.sent[0] <= clock - 60.0:
            self.sent.popleft()
        if len(self.sent) < self.per_minute:
            return 0.0
        return self.sent[0] + 60.0 - clock

    def took(self, clock: float) -> None:
        self.sent.append(clock)


@dataclass
class Receiver:
    """One configured receiver: its URL, its events, its queue and thread."""

    name: str
    url: str
    events: frozenset[str]
    limit: RateLimit
    send: Callable[[str, Notice], bool] = apprise_send
    delays: tuple[float, ...] = SEND_DELAYS
    log: Callable[..., None] = lambda *_a, **_k: None
    queue: queue.Queue[Notice] = field(default_factory=lambda: queue.Queue(QUEUE_LIMIT))
    stop: threading.Event = field(default_factory=threading.Event)
    delivered: list[Notice] = field(default_factory=list)  # what it took, newest last
    thread: threading.Thread | None = None

    def wants(self, notice: Notice) -> bool:
        if notice.event == "recovered":
            return "recovered" in self.events and notice.cleared in self.events
        return notice.event in self.events

    def put(self, notice: Notice) -> None:
        while True:
            try:
                self.queue.put_nowait(notice)
                return
            except queue.Full:
                try:
                    dropped = self.queue.get_nowait()
                except queue.Empty:
                    continue
                self.log("notify-dropped", f"queue full; dropped {dropped.title}", level="warn",
                         receiver=self.name)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                notice = self.queue.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                self._deliver(notice)
            except Exception as exc:  # never let a receiver's thread die
                with contextlib.suppress(Exception):
                    self.log("notify-error", f"{type(exc).__name__}: {exc}", level="error",
                             receiver=self.name)

    def _deliver(self, notice: Notice) -> None:
        attempt = 0
        while not self.stop.is_set():
            pause = self.limit.wait(time.monotonic())
            if pause > 0:
                self.stop.wait(pause)
                continue
            self.limit.took(time.monotonic())
            try:
                ok = self.send(self.url, notice)
                error = "" if ok else "the receiver refused it or did not answer"
            except Exception as exc:  # a broken plugin: retried like a refusal
                ok, error = False, f"{type(exc).__name__}: {exc}"
            if ok:
                self.delivered.append(notice)
                self.log("notified", notice.title, receiver=self.name, notice=notice.event)
                return
            attempt += 1
            if attempt > len(self.delays):
                self.log("notify-failed", f"gave up on {notice.title}: {error}", level="error",
                         receiver=self.name, attempts=attempt)
                return
            delay = self.delays[attempt - 1]
            self.log("notify-failed", f"{notice.title}: {error}", level="warn",
                     receiver=self.name, attempt=attempt, retry_in=f"{delay:.0f}s")
            self.stop.wait(delay)

    def start(self) -> None:
        self.thread = threading.Thread(target=self.run, name=f"notify-{self.name}",
                                       daemon=True)
        self.thread.start()


Scan = Callable[[], Mapping[str, Mapping[str, str]]]


@dataclass
class Notifier:
    """Events in, deduplicated notices out, to every receiver that wants them."""

    receivers: list[Receiver]
    scan: Scan | None = None  # the database's conditions, read after each tick
    active_only: Callable[[], bool] = lambda: True  # e.g. only the leader tells people
    log: Callable[..., None] = lambda *_a, **_k: None
    inbox: queue.Queue[tuple[str, str, dict[str, Any]] | None] = field(
        default_factory=queue.Queue)
    active: dict[tuple[str, str], str] = field(default_factory=dict)  # condition -> message
    _failing_now: dict[str, str] = field(default_factory=dict)
    thread: threading.Thread | None = None
    idle: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def from_config(cls, configs: Iterable[NotificationConfig], *,
                    env: Mapping[str, str] | None = None,
                    log: Callable[..., None] = lambda *_a, **_k: None,
                    send: Callable[[str, Notice], bool] = apprise_send,
                    delays: tuple[float, ...] = SEND_DELAYS, **kwargs: Any) -> Notifier:
        environ = os.environ if env is None else env
        receivers = []
        for c in configs:
            url = c.url or environ.get(c.url_env or "", "")
            if not url:
                log("notify-off", f"receiver {c.name}: {c.url_env} is not set", level="error",
                    receiver=c.name)
                continue
            receivers.append(Receiver(c.name, url, frozenset(c.events),
                                      RateLimit(c.max_per_minute), send=send, delays=delays,
                                      log=log))
        return cls(receivers, log=log, **kwargs)

    # -------------------------------------------------- input (any thread, never blocks)

    def listen(self, event: str, message: str, fields: Mapping[str, Any]) -> None:
        """The event log's listener: queue the event, nothing more."""
        self.inbox.put_nowait((event, message, dict(fields)))

    # -------------------------------------------------- conditions (dispatcher thread)

    def handle(self, event: str, message: str, fields: Mapping[str, Any]) -> None:
        if event == "file-failing":
            name = str(fields.get("file", "")).rsplit(":", 1)[0]
            self._failing_now.setdefault(name, f"{fields.get('file')}: {message}")
        elif event == "reconciled":
            self.sync("file-failing", self._failing_now)
            self._failing_now = {}
            if fields.get("mode") == "full" and not fields.get("errors"):
                self.sync("apply-failed", {})
        elif event == "apply-failed":
            self.raise_(event, str(fields.get("resource", "")), message)
        elif event == "applied":
            self.clear("apply-failed", str(fields.get("resource", "")))
        elif event == "fetch-failed":
            self.raise_(event, "repository", message)
        elif event in ("fetched", "fetch-ok"):
            self.clear("fetch-failed", "repository")
        elif event == "ticked" and self.scan is not None:
            self.rescan()

    def rescan(self) -> None:
        assert self.scan is not None
        try:
            found = self.scan()
        except Exception as exc:  # the database is away: the next tick tries again
            self.log("notify-scan-failed", f"{type(exc).__name__}: {exc}", level="warn")
            return
        for event, subjects in found.items():
            self.sync(event, subjects)

    def raise_(self, event: str, subject: str, message: str) -> None:
        if (event, subject) in self.active:
            return
        self.active[(event, subject)] = message
        self._emit(Notice(event, subject, message))

    def clear(self, event: str, subject: str) -> None:
        if self.active.pop((event, subject), None) is not None:
            self._emit(Notice("recovered", subject, f"{event} cleared: {subject}", event))

    def sync(self, event: str, subjects: Mapping[str, str]) -> None:
        """``subjects`` is every active condition of ``event`` now: raise new, clear gone."""
        for subject, message in subjects.items():
            self.raise_(event, subject, message)
        for ev, subject in [k for k in self.active if k[0] == event]:
            if subject not in subjects:
                self.clear(ev, subject)

    def _emit(self, notice: Notice) -> None:
        if not self.active_only():
            return
        for receiver in self.receivers:
            if receiver.wants(notice):
                receiver.put(notice)

    # -------------------------------------------------- threads

    def run(self) -> None:
        while True:
            try:
                item = self.inbox.get(timeout=0.5)
            except queue.Empty:
                self.idle.set()
                continue
            if item is None:
                return
            self.idle.clear()
            try:
                self.handle(*item)
            except Exception as exc:  # never let the dispatcher die
                self.log("notify-error", f"{type(exc).__name__}: {exc}", level="error")
            if self.inbox.empty():
                self.idle.set()

    def start(self) -> Notifier:
        for receiver in self.receivers:
            receiver.start()
        self.thread = threading.Thread(target=self.run, name="notify", daemon=True)
        self.thread.start()
        return self

    def close(self, timeout: float = 2.0) -> None:
        """Stop the threads; a notice still being sent to a hanging receiver is abandoned."""
        self.inbox.put(None)
        for receiver in self.receivers:
            receiver.stop.set()
        if self.thread is not None:
            self.thread.join(timeout)
        for receiver in self.receivers:
            if receiver.thread is not None:
                receiver.thread.join(timeout / max(1, len(self.receivers)))
