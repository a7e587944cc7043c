"""What a plan is made of: the action of each change, why a ``noop`` leaves a resource
alone, the frozen ``Change`` and ``Plan``, the options and preflight errors a plan is
built with, and the sync word each resource's changes add up to. Data only:
``plan.py`` computes plans, ``render.py`` shows them, ``apply.py`` executes them.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from campaign_gitops.config.bundle import Key
from campaign_gitops.config.project import ProjectConfig
from campaign_gitops.findings import Finding
from campaign_gitops.jsondiff import FieldDiff
from campaign_gitops.reconcile.sync import (
    ORPHAN,
    OUT_OF_SYNC,
    SUSPENDED,
    SYNCED,
    UNKNOWN,
)


class Action(StrEnum):
    """What a change does. ``CANCEL`` cancels a run that has not started; the SPEC's JSON
    shows it as a ``run`` tagged ``cancel`` (``render.py``)."""

    CREATE = "create"
    UPDATE = "update"
    TRANSITION = "transition"
    RUN = "run"
    CANCEL = "cancel"
    ARCHIVE = "archive"
    NOOP = "noop"
    ERROR = "error"


def spec_action(action: Action) -> str:
    """The action's name in the SPEC's JSON and the apply log: a cancel is a ``run``."""
    return Action.RUN.value if action == Action.CANCEL else action.value


class LeftAlone(StrEnum):
    """Why a ``noop`` change leaves a resource alone."""

    HELD = "held"            # its file failed to load: kept at its last applied state
    UNKNOWN = "unknown"      # in the database, and its file failed to load
    ORPHAN = "orphan"        # in the database, no file defines it any more
    SUSPENDED = "suspended"
    PROTECTED = "protected"  # an orphan that prune keeps: its row is protected
    FROZEN = "frozen"        # an activation or run start held by a freeze window
    CANCELLED = "cancelled"  # a declared run whose name was cancelled earlier


CHANGING = frozenset({Action.CREATE, Action.UPDATE, Action.TRANSITION, Action.RUN,
                      Action.CANCEL, Action.ARCHIVE})
ACTIVATABLE = frozenset({"active", "trialing"})
MASS_PRUNE_FLOOR = 3  # a prune of this many or fewer is never a mass prune


@dataclass(frozen=True, slots=True)
class Change:
    """One step of a plan. ``from_``/``to``: a campaign's statuses (transition, archive),
    the old and new name (a rename), the run's name (``to`` for a run, ``from_`` for a
    cancel)."""

    action: Action
    key: Key
    from_: str | None = None
    to: str | None = None
    fields: tuple[FieldDiff, ...] = ()
    reason: str = ""
    rules: tuple[str, ...] = ()
    left_alone: LeftAlone | None = None  # a noop: why
    # an error: the action it replaced; a frozen noop: the action the window holds back
    instead_of: Action | None = None
    # a run it would start: what it will send (reconcile/forecast.py; JSON-ready)
    forecast: Mapping[str, Any] | None = None

    @property
    def resource(self) -> str:
        return str(self.key)

    @property
    def run_name(self) -> str | None:
        """The run a run or cancel change is about."""
        return self.from_ if self.action == Action.CANCEL else self.to


@dataclass(frozen=True, slots=True)
class Plan:
    changes: tuple[Change, ...]
    base_serial: int = 0
    file_hashes: Mapping[str, str] = field(default_factory=dict)
    prune: bool = False
    failed_files: tuple[str, ...] = ()  # held back: they failed to load

    def count(self) -> Counter[Action]:
        return Counter(c.action for c in self.changes)

    @property
    def has_changes(self) -> bool:
        return any(c.action in CHANGING for c in self.changes)

    @property
    def has_errors(self) -> bool:
        return any(c.action == Action.ERROR for c in self.changes)

    def for_key(self, key: Key) -> list[Change]:
        return [c for c in self.changes if c.key == key]


@dataclass(frozen=True, slots=True)
class PlanOptions:
    prune: bool = False
    allow_mass_prune: bool = False  # past config.prune_max_share (--allow-mass-prune)
    now: dt.datetime | None = None  # for freeze windows; None: no window applies
    config: ProjectConfig = field(default_factory=ProjectConfig)


SYNC_OF_LEFT_ALONE = {LeftAlone.ORPHAN: ORPHAN, LeftAlone.PROTECTED: ORPHAN,
                      LeftAlone.UNKNOWN: UNKNOWN, LeftAlone.HELD: UNKNOWN,
                      LeftAlone.SUSPENDED: SUSPENDED, LeftAlone.FROZEN: OUT_OF_SYNC}
# the worst state wins when a plan says several things about one resource
_SYNC_RANK = {SYNCED: 0, SUSPENDED: 1, OUT_OF_SYNC: 2, UNKNOWN: 3, ORPHAN: 4}


def sync_states(plan: Plan) -> dict[str, str]:
    """``client/Kind/name`` -> Orphan, Unknown, OutOfSync or Suspended for every resource
    the plan mentions; a resource it does not mention is Synced."""
    states: dict[str, str] = {}
    for change in plan.changes:
        if change.action == Action.ARCHIVE:
            state = ORPHAN
        elif change.action == Action.NOOP:
            state = (SYNC_OF_LEFT_ALONE.get(change.left_alone, SYNCED)
                     if change.left_alone is not None else SYNCED)
        else:
            state = OUT_OF_SYNC
        old = states.get(change.resource, SYNCED)
        states[change.resource] = max(old, state, key=_SYNC_RANK.__getitem__)
    return states


# ---------------------------------------------------------------- preflight errors


@dataclass(frozen=True, slots=True)
class PlanErrors:
    """The preflight errors that block changes, computed by the caller
    (``reconcile/blockers.py``): by resource (``client/Kind/name``), and by campaign and
    run type for each run the plan would start."""

    resources: Mapping[str, Sequence[Finding]] = field(default_factory=dict)
    runs: Mapping[tuple[Key, str], Sequence[Finding]] = field(default_factory=dict)


