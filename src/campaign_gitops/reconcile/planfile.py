"""Saved plans: ``plan --out FILE`` then ``apply FILE``, refused when stale.

A saved plan records the apply log serial it was computed from and the content hash
of every resource file. ``apply FILE`` refuses it when the database has moved on
(another apply, ``client set``, ``halt``) or a file changed, saying which and how to
re-plan. The file is JSON; each change is the SPEC's JSON of ``plan --format json``
(``render.change_dict``), plus ``instead_of`` (what a noop or an error stands in for),
read back into the typed ``Change`` here. Files saved before ``instead_of`` existed
read the same: an error's ``tag`` is the action it replaced.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from types import MappingProxyType
from typing import Any

from campaign_gitops.config.bundle import Key
from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.jsondiff import FieldDiff
from campaign_gitops.reconcile.plan import Action, Change, LeftAlone, Plan
from campaign_gitops.reconcile.render import CANCEL_TAG, change_dict

FORMAT = "campaign-gitops-plan/1"
REPLAN = "re-plan: campaign-gitops plan --out FILE, review it, then campaign-gitops apply FILE"


class StalePlanError(CampaignGitopsError):
    """A saved plan that no longer describes the database or the files."""

    exit_code = 1


def save_plan(plan: Plan, path: Path) -> None:
    data = {
        "format": FORMAT,
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "base_serial": plan.base_serial,
        "prune": plan.prune,
        "file_hashes": dict(plan.file_hashes),
        "failed_files": list(plan.failed_files),
        "changes": [_saved(c) for c in plan.changes],
    }
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False, default=str) + "\n",
                    encoding="utf-8")


def _saved(change: Change) -> dict[str, Any]:
    data = change_dict(change)
    if change.instead_of is not None:
        data["instead_of"] = change.instead_of.value
    return data


def _change(data: dict[str, Any]) -> Change:
    """A saved change back into a ``Change``; an unknown action or tag is a ValueError."""
    fields = tuple(FieldDiff(p, v.get("old"), v.get("new"))
                   for p, v in (data.get("fields") or {}).items())
    tag = data.get("tag") or ""
    action = Action(data["action"])
    if action == Action.RUN and tag == CANCEL_TAG:
        action = Action.CANCEL
    instead_of = data.get("instead_of") or (tag if action == Action.ERROR else None)
    return Change(action=action, key=Key.parse(data["resource"]),
                  from_=data.get("from"), to=data.get("to"), fields=fields,
                  reason=data.get("reason", ""), rules=tuple(data.get("rules") or ()),
                  left_alone=LeftAlone(tag) if action == Action.NOOP and tag else None,
                  instead_of=Action(instead_of) if instead_of else None)


def load_plan(path: Path) -> Plan:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise CampaignGitopsError(f"cannot read the plan file {path}: {exc}",
                                  "pass the file written by plan --out") from exc
    except json.JSONDecodeError as exc:
        raise CampaignGitopsError(f"{path} is not a saved plan (invalid JSON: {exc.msg})",
                                  "pass the file written by plan --out") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CampaignGitopsError(f"{path} is not a saved plan of this version",
                                  "write it again with campaign-gitops plan --out FILE")
    try:
        changes = tuple(_change(c) for c in data["changes"])
        return Plan(changes=changes, base_serial=int(data["base_serial"]),
                    file_hashes=MappingProxyType(dict(data["file_hashes"])),
                    prune=bool(data.get("prune")),
                    failed_files=tuple(data.get("failed_files") or ()))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CampaignGitopsError(f"{path} is damaged: {exc}",
                                  "write it again with campaign-gitops plan --out FILE") from exc


def staleness(plan: Plan, current_serial: int, current_hashes: dict[str, str]) -> str | None:
    """Why the saved plan is stale, or None when it still applies."""
    if current_serial != plan.base_serial:
        return (f"the database changed since the plan was made (apply log serial "
                f"{plan.base_serial}, now {current_serial})")
    saved = dict(plan.file_hashes)
    changed = sorted(f for f in saved.keys() & current_hashes.keys()
                     if saved[f] != current_hashes[f])
    added = sorted(current_hashes.keys() - saved.keys())
    removed = sorted(saved.keys() - current_hashes.keys())
    parts = []
    for label, names in (("changed", changed), ("added", added), ("removed", removed)):
        if names:
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5
                                            else "")
            parts.append(f"{label}: {shown}")
    if parts:
        return "files changed since the plan was made (" + "; ".join(parts) + ")"
    return None


def check_fresh(plan: Plan, current_serial: int, current_hashes: dict[str, str]) -> None:
    problem = staleness(plan, current_serial, current_hashes)
    if problem is not None:
        raise StalePlanError(f"stale plan: {problem}", REPLAN)
