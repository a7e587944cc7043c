"""The daemon's loop: watch, debounce, reconcile as leader, resync, tick, shut down cleanly.

One thread watches the files (or ``.git`` for the git source) with watchfiles and
queues changed paths; the main loop debounces them and runs ``reconcile_once`` while
it holds the lead, a full resync every ``interval`` seconds and retries when a
resource's backoff is due. Ticks run in a thread of their own on their own interval,
on every replica (tick claims its work safely). A stop request (SIGTERM/SIGINT) lets
the change in flight finish, releases the lock and ends the loop.
"""

from __future__ import annotations

import datetime as dt
import gc
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from campaign_gitops.config.discovery import YAML_SUFFIXES
from campaign_gitops.reconcile.daemon import Reconciler, ReconcileResult, describe_error
from campaign_gitops.reconcile.debounce import Debouncer
from campaign_gitops.reconcile.leader import FileLeader, PgLeader
from campaign_gitops.reconcile.sources import GitSource, git_dir
from campaign_gitops.redact import redact_text
from campaign_gitops.runs.policy import LEASE
from campaign_gitops.runs.settle import attention
from campaign_gitops.state import tables as t

_WAKE = "\0wake"


@dataclass(frozen=True, slots=True)
class LoopOptions:
    interval: float = 60.0  # full resync
    tick_interval: float = 60.0  # 0: no tick
    debounce: float = 0.05  # quiet time that ends a burst of file events
    max_wait: float = 1.0  # a burst never delays a reconcile longer than this
    leader_retry: float = 1.0  # how often a follower tries to take the lead
    probe_every: float = 1.0  # how often the loop asks the database for SELECT 1


@dataclass
class Runner:
    reconciler: Reconciler
    leader: PgLeader | FileLeader
    options: LoopOptions = field(default_factory=LoopOptions)
    tick: Callable[[dt.datetime], Any] | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    events: queue.Queue[str] = field(default_factory=queue.Queue)
    failures: int = 0
    failed_in_a_row: int = 0  # passes that failed as a whole, since the last one that did not
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))

    @property
    def log(self) -> Any:
        return self.reconciler.log

    def __post_init__(self) -> None:
        self._probed: float | None = None
        self.reconciler.keep_going = self._keep_going
        self.reconciler.apply_guard = self.leader.guard

    def _keep_going(self) -> bool:
        """Between two changes: not stopping, and still the leader — the lease renewed
        when due (a long pass keeps it), and valid by the local clock right now."""
        if self.stop.is_set():
            return False
        return self.leader.still_held() and self.leader.may_apply()

    def request_stop(self, reason: str = "") -> None:
        if not self.stop.is_set():
            self.log("stopping", reason)
        self.stop.set()
        self.events.put(_WAKE)

    # -------------------------------------------------- once

    def once(self) -> int:
        """``--once``: take the lead, reconcile fully, tick, exit 1 when anything failed."""
        if not self.leader.try_acquire():
            self.log("follower", "another daemon holds the lead; nothing reconciled")
            return 1
        try:
            result = self.reconciler.reconcile_once(None)
        finally:
            self.leader.release()
        ok = result.ok
        if self.tick is not None:
            ok = self._tick() and ok
        return 0 if ok else 1

    # -------------------------------------------------- forever

    def serve(self) -> int:
        watcher = threading.Thread(target=self._watch, name="watch", daemon=True)
        watcher.start()
        ticker = None
        if self.tick is not None and self.options.tick_interval > 0:
            ticker = threading.Thread(target=self._tick_loop, name="tick", daemon=True)
            ticker.start()
        try:
            self._loop()
        finally:
            self.stop.set()
            self.leader.release()
            self.reconciler.metrics.leader.set(0)
            self.log("released", "leader lease released")
            if ticker is not None:
                ticker.join(timeout=30)
        return 0

    def _loop(self) -> None:
        o = self.options
        debouncer = Debouncer(quiet=o.debounce, max_wait=o.max_wait)
        is_leader = False
        next_full = 0.0
        next_try = 0.0
        while not self.stop.is_set():
            clock = time.monotonic()
            self._probe(clock)
            if is_leader and not self.leader.still_held():
                is_leader = False
                self._role("follower", "lost the lead (lease not renewed in time, or "
                                       "another daemon holds it)")
            if not is_leader and clock >= next_try:
                next_try = clock + o.leader_retry
                if self.leader.try_acquire():
                    is_leader = True
                    next_full = clock
                    self._took_lead()
                elif self.reconciler.health.role != "follower":
                    self._role("follower", "another daemon holds the lead")
            if is_leader:
                if clock >= next_full:
                    debouncer.take()
                    with settled_heap():
                        done = self._pass(None)
                    self._message_metrics()
                    next_full = time.monotonic() + (o.interval if done is not None
                                                    else self._pass_retry_in())
                elif debouncer.ready(clock):
                    if self._pass(debouncer.take()) is None:  # its paths are lost: resync
                        next_full = min(next_full, time.monotonic() + self._pass_retry_in())
                elif self._retry_due(clock) and self._pass(set()) is None:
                    next_full = min(next_full, time.monotonic() + self._pass_retry_in())
            self._wait(debouncer, is_leader, next_full, next_try)

    def _pass_retry_in(self) -> float:
        """After a pass that failed as a whole (the database away, git failing): a full
        pass again after the backoff's delay for that many failures in a row (1 s, 2 s,
        4 s, …), never later than the resync interval. The changes a failed pass took
        are applied by it; nothing waits for the next interval."""
        return min(self.options.interval, self.reconciler.backoff.delay(self.failed_in_a_row))

    def _wait(self, debouncer: Debouncer, is_leader: bool, next_full: float,
              next_try: float) -> None:
        clock = time.monotonic()
        deadlines = [next_full if is_leader else next_try]
        if is_leader:
            deadlines.append(clock + 1.0)  # re-check the lock connection every second
            due = debouncer.due_at()
            if due is not None:
                deadlines.append(due)
            retry = self.reconciler.backoff.next_due()
            if retry is not None:
                deadlines.append(retry)
        timeout = max(0.0, min(deadlines) - clock)
        try:
            item = self.events.get(timeout=timeout)
        except queue.Empty:
            return
        batch = [item]
        while True:
            try:
                batch.append(self.events.get_nowait())
            except queue.Empty:
                break
        now = time.monotonic()
        debouncer.add((p for p in batch if p != _WAKE), now)

    def _probe(self, clock: float) -> None:
        """``SELECT 1`` (a read transaction: no write lock on SQLite), at most once per
        ``probe_every``: /readyz is ready only while the database answers."""
        if self._probed is not None and clock - self._probed < self.options.probe_every:
            return
        self._probed = clock
        health = self.reconciler.health
        try:
            with self.reconciler.db.reading() as session:
                session.execute(text("SELECT 1"))
        except Exception as exc:  # down, refused, auth: not ready until it answers again
            error = redact_text(describe_error(exc))
            if health.db_error is None:
                self.log("database-unreachable", error, level="error")
            health.update(db_error=error)
            return
        if health.db_error is not None:
            self.log("database-reachable", "the database answers again")
        health.update(db_answered=clock, db_error=None)

    def _retry_due(self, clock: float) -> bool:
        due = self.reconciler.backoff.next_due()
        return due is not None and due <= clock

    def _pass(self, paths: set[str] | None) -> ReconcileResult | None:
        try:
            result = self.reconciler.reconcile_once(paths)
        except Exception as exc:  # the database is down, git failed: log, keep serving
            self.failures += 1
            self.failed_in_a_row += 1
            self.reconciler.health.update(last_ok=False)
            self.reconciler.metrics.reconciles.labels("failed").inc()
            self.log("reconcile-failed", describe_error(exc), level="error",
                     retry_in=f"{self._pass_retry_in():.0f}s")
            return None
        self.failed_in_a_row = 0
        return result

    def _took_lead(self) -> None:
        takeover = getattr(self.leader, "takeover", None)
        if takeover is None:
            self._role("leader", "took the lead")
            return
        came = f" from {takeover.previous} ({takeover.why})" if takeover.previous else ""
        ended = (f"; ended stale backend(s) {', '.join(map(str, takeover.terminated))}"
                 if takeover.terminated else "")
        self._role("leader", f"took the lead (term {takeover.term}){came}{ended}",
                   term=takeover.term, previous=takeover.previous, why=takeover.why)

    def _role(self, role: str, message: str, **fields: Any) -> None:
        self.reconciler.health.update(role=role)
        self.reconciler.metrics.leader.set(1 if role == "leader" else 0)
        self.log(role, message, **fields)

    # -------------------------------------------------- watching

    def _watch(self) -> None:
        from watchfiles import DefaultFilter, watch

        source = self.reconciler.source
        if isinstance(source, GitSource):
            target: Path = git_dir(source.root)
            watch_filter: Any = git_ref_filter
        else:
            target = source.resources_dir
            watch_filter = _WorktreeFilter(DefaultFilter())
        try:
            for changes in watch(target, watch_filter=watch_filter, stop_event=self.stop,
                                 step=10, debounce=200, rust_timeout=500,
                                 yield_on_timeout=False, raise_interrupt=False):
                for _change, path in changes:
                    self.events.put(path)
        except Exception as exc:  # the folder vanished: resync on the interval instead
            if not self.stop.is_set():
                self.log("watch-failed", str(exc), level="error")

    # -------------------------------------------------- tick

    def _tick_loop(self) -> None:
        while not self.stop.wait(self.options.tick_interval):
            self._tick()

    def _tick(self) -> bool:
        assert self.tick is not None
        now = self.clock()
        try:
            outcome = self.tick(now)
        except Exception as exc:  # a failed tick is retried on the next interval
            self.log("tick-failed", describe_error(exc), level="error")
            return False
        self.log("ticked", _describe(outcome))
        self._message_metrics()
        return True

    def _message_metrics(self) -> None:
        db = self.reconciler.db
        try:
            with db.session() as session:
                rows = session.execute(select(t.Message.channel, t.Message.status,
                                              func.count()).group_by(
                    t.Message.channel, t.Message.status)).all()
                needs = attention(session, self.clock(), lease=LEASE)
        except Exception:  # metrics are best effort
            return
        for channel, status, count in rows:
            self.reconciler.metrics.messages.labels(channel, status).set(count)
        for kind, count in needs.items():
            self.reconciler.metrics.messages_attention.labels(kind).set(count)


@contextmanager
def settled_heap() -> Iterator[None]:
    """Around a full pass: afterwards, collect once and freeze what survived.

    A full pass leaves the file cache, bundle and snapshot of the whole repo on the heap
    (hundreds of thousands of objects at 10,000 campaigns). Left to the collector, each
    later full collection walks them all — a pause of ~300 ms in the middle of an edit's
    incremental pass. Collected once here, between passes, and frozen (``gc.freeze``),
    they are out of the collector's way until the next full pass unfreezes them.
    """
    gc.unfreeze()
    try:
        yield
    finally:
        gc.collect()
        gc.freeze()


def git_ref_filter(_change: Any, path: str) -> bool:
    """Ref moves: HEAD, refs/, packed-refs (objects are written before the ref moves)."""
    name = path.replace("\\", "/")
    return ("/refs/" in name or name.endswith(("/HEAD", "/packed-refs"))) \
        and not name.endswith(".lock")


@dataclass(frozen=True, slots=True)
class _WorktreeFilter:
    """The events of an editor's save that can matter: a ``*.yaml``/``*.yml`` name
    (added, modified, or the target of a rename), a folder (moved in), or anything
    deleted (a folder moved out; the source ignores temp names it never read). Temp
    files being written (``sedXXXXXX``, ``.name.tmp``, ``name___jb_tmp___``, ``name~``)
    do not wake the loop; the rename that puts them in place does, as the target."""

    default: Any

    def __call__(self, change: Any, path: str) -> bool:
        from watchfiles import Change

        base = path.rstrip("/").rsplit("/", 1)[-1]
        if base.startswith(".") or not self.default(change, path):
            return False
        return (change == Change.deleted or base.endswith(YAML_SUFFIXES)
                or Path(path).is_dir())


def _describe(outcome: Any) -> str:
    """A tick's outcome in one line: totals by status, runs started, halt."""
    if outcome is None or not hasattr(outcome, "as_json"):
        return "" if outcome is None else str(outcome)
    data = outcome.as_json()
    parts = [f"{k}={v}" for k, v in data.get("totals", {}).items()]
    if data.get("started_runs"):
        parts.append("started " + ", ".join(data["started_runs"]))
    if data.get("halted"):
        parts.append(f"halted: {data['halted']}")
    return " ".join(parts) or "nothing due"
