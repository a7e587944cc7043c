"""tick: start the runs that came due and deliver every due sequence step.

One tick, in order: stop if delivery is halted globally; finish the enrollments of
completed campaigns; start due scheduled runs (a due recurring series starts one
occurrence and moves on to its next fire); deliver approved and retry-due
messages; then, batch after batch, claim due enrollments (``FOR UPDATE SKIP LOCKED``
and a lease, so several processes can tick at once), write and review each step
outside any transaction, and in one short transaction gate them by daily limit and
credits, insert the messages (``queued`` before sending), advance the enrollments;
send; record. Campaign metrics and finished runs are updated at the end.

Where each part lives: the tick's state and enrollment moves in runs/tick_state.py,
what it does to runs as a whole (start, finish, complete) in runs/tick_runs.py, a
round's claim in runs/tick_claim.py, its writing in runs/compose.py, its commit in
runs/tick_commit.py, the sending in runs/delivery.py.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from campaign_gitops.config.project import ProjectConfig
from campaign_gitops.inbound.tokens import links_for
from campaign_gitops.runs import delivery, pending, policy
from campaign_gitops.runs.compose import write
from campaign_gitops.runs.settle import attention
from campaign_gitops.runs.tick_claim import claim
from campaign_gitops.runs.tick_commit import commit_outcomes
from campaign_gitops.runs.tick_runs import (
    client_halts,
    finish_completed_campaigns,
    start_due_runs,
    wrap_up,
)
from campaign_gitops.runs.tick_state import TickState
from campaign_gitops.state.db import Database

DEFAULT_BATCH = 1000
MAX_ROUNDS = 10_000


@dataclass(frozen=True, slots=True)
class TickResult:
    """What one tick did: messages by channel and status, runs started, and why it stopped."""

    now: dt.datetime
    counts: dict[str, dict[str, int]]
    started_runs: tuple[str, ...] = ()
    halted: str | None = None
    notes: tuple[str, ...] = ()
    # what needs a person after this tick, in the whole database: unknown messages to
    # settle, stuck ones (queued or sending past the lease)
    attention: dict[str, int] = field(default_factory=dict)

    def total(self, status: str) -> int:
        return sum(by_status.get(status, 0) for by_status in self.counts.values())

    def totals(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for by_status in self.counts.values():
            out.update(by_status)
        return out

    def as_json(self) -> dict[str, Any]:
        return {"now": self.now.isoformat(), "halted": self.halted,
                "started_runs": list(self.started_runs),
                "counts": {ch: dict(sorted(v.items())) for ch, v in sorted(self.counts.items())},
                "totals": dict(sorted(self.totals().items())),
                "attention": dict(self.attention),
                "notes": list(self.notes)}


def tick(db: Database, *, now: dt.datetime, config: ProjectConfig,
         batch_size: int = DEFAULT_BATCH, root: Path | None = None) -> TickResult:
    """Start due runs and deliver every due step (safe to run from several processes)."""
    with db.session() as session:
        halted = policy.halt_reason(session)
    if halted:
        return TickResult(now=now, counts={}, halted=halted, attention=_attention(db, now))
    worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    state = TickState(db, now, config, delivery.Transports(config, root), worker,
                      links_for(config))
    with db.session() as session:
        state.notes.extend(client_halts(session))
    try:
        finish_completed_campaigns(state)
        start_due_runs(state)
        pending.deliver_pending(state, batch_size)
        for _ in range(MAX_ROUNDS):
            if not _round(state, batch_size):
                break
        wrap_up(state)
    finally:
        state.transports.close()
    return TickResult(now=now, counts={ch: dict(c) for ch, c in state.counts.items()},
                      started_runs=tuple(state.started), notes=tuple(state.notes),
                      attention=_attention(db, now))


def _attention(db: Database, now: dt.datetime) -> dict[str, int]:
    with db.reading() as session:
        return attention(session, now, lease=policy.LEASE)


def _round(state: TickState, limit: int) -> bool:
    """Claim a batch, write and review its steps outside any transaction, commit, send."""
    claimed = claim(state, limit)
    if claimed is None:
        return False
    ready, to_write = claimed
    outcomes = ready + [write(state.plans[w.run_id], w, state.writer(state.plans[w.run_id]),
                              state.reviewer(state.plans[w.run_id])) for w in to_write]
    state.send_and_record(*commit_outcomes(state, outcomes))
    return True
