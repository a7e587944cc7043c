"""The rule registry: ``@rule`` registers a small check with its id, kinds and severities.

A rule never knows its own severity: it yields *hits* (``(message, path)``,
``(message, path, hint)`` or a ``Hit``) for one resource, and the engine attaches the
location, the severity for the requested action and the resource key.

Severities are given per action (``lint``, ``test_run``, ``run``, ``schedule``) as a
``Severity``, ``None`` (not checked for that action) or a ``Conditional`` that decides
from the resource (PF004: "warning if the campaign is active, else error"). A rule may
give one kind its own cells (``by_kind``): PF017 checks a Campaign's declared schedule
runs only under ``schedule``, its Schedules in every column.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

from campaign_gitops.config.bundle import Entry
from campaign_gitops.config.models import KINDS, RUN_TYPES
from campaign_gitops.findings import Location, Severity

if TYPE_CHECKING:
    from campaign_gitops.preflight.context import RuleContext

ACTIONS = ("lint", *RUN_TYPES)  # the columns of a rule's severities (SPEC 4)
ALL_KINDS = KINDS


class Hit(NamedTuple):
    """What a rule reports: a message at a JSON path of the resource.

    ``value`` points at the value instead of the key; ``location`` overrides the path's
    location (a placeholder inside a template body); ``entry`` names the resource the
    location belongs to when it is not the one being checked (a campaign's template).
    """

    message: str
    path: tuple[str | int, ...] = ()
    hint: str = ""
    value: bool = False
    location: Location | None = None
    entry: Entry | None = None


@dataclass(frozen=True, slots=True)
class Conditional:
    """A severity decided per resource, with the label ``--list-rules`` shows."""

    label: str
    decide: Callable[[Entry], Severity]


SeverityCell: TypeAlias = Severity | Conditional | None
RuleFn: TypeAlias = Callable[[Entry, "RuleContext"], Iterable[Hit | tuple[Any, ...]]]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    kinds: tuple[str, ...]
    severities: Mapping[str, SeverityCell]
    description: str
    check: RuleFn = field(compare=False)
    by_kind: Mapping[str, Mapping[str, SeverityCell]] = field(default_factory=dict,
                                                              compare=False)

    def cells(self, kind: str) -> Mapping[str, SeverityCell]:
        """The severities per action for resources of ``kind``."""
        return self.by_kind.get(kind, self.severities)

    def severity(self, action: str, entry: Entry) -> Severity | None:
        cell = self.cells(entry.key.kind).get(action)
        if isinstance(cell, Conditional):
            return cell.decide(entry)
        return cell

    def severity_label(self, action: str) -> str:
        """``error``, ``warning``, ``—`` (not checked) or the conditional's label."""
        cell = self.severities.get(action)
        if cell is None:
            return "—"
        return cell.label if isinstance(cell, Conditional) else str(cell)

    @property
    def doc(self) -> str:
        """The rule's long documentation: its function's docstring."""
        return (self.check.__doc__ or self.description).strip()


E, W = Severity.ERROR, Severity.WARNING


def always(severity: Severity) -> dict[str, SeverityCell]:
    return dict.fromkeys(ACTIONS, severity)


def rule(id: str, kinds: Iterable[str], severities: Mapping[str, SeverityCell], *,
         description: str, by_kind: Mapping[str, Mapping[str, SeverityCell]] | None = None,
         ) -> Callable[[RuleFn], Rule]:
    """Turn a check function into a Rule (listed explicitly in ``rules/__init__.py``).

    ``by_kind``: other severities for the resources of one kind (``--list-rules``
    shows ``severities``; the rule's docstring says what differs).
    """
    kinds = tuple(kinds)
    for cells in (severities, *(by_kind or {}).values()):
        unknown = set(cells) - set(ACTIONS)
        if unknown:
            raise ValueError(f"{id}: unknown actions {sorted(unknown)}")
    if set(by_kind or ()) - set(kinds):
        raise ValueError(f"{id}: by_kind names a kind the rule does not check")
    per_kind = {kind: {a: cells.get(a) for a in ACTIONS}
                for kind, cells in (by_kind or {}).items()}

    def wrap(fn: RuleFn) -> Rule:
        return Rule(id, kinds, {a: severities.get(a) for a in ACTIONS}, description, fn,
                    per_kind)

    return wrap


def meta_rule(id: str, severities: Mapping[str, SeverityCell], description: str,
              doc: str) -> Rule:
    """A rule whose findings come from elsewhere (the loader, the engine)."""
    def check(entry: Entry, ctx: RuleContext) -> Iterable[Hit]:
        return ()

    check.__doc__ = doc
    return Rule(id, (), {a: severities.get(a) for a in ACTIONS}, description, check)

