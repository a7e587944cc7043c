"""Plan -> text, json or markdown. Renderers only format; they never compute.

``RENDERERS`` maps each format to one function and feeds the CLI's ``--format``
choices. The JSON shape (SPEC section 5)::

    {"changes": [{"action", "resource", "from", "to", "fields": {path: {"old", "new"}},
                  "reason", "rules", "tag"}],
     "summary": {"create", "update", "transition", "run", "archive", "noop", "error"},
     "base_serial": N}

The typed ``Change`` becomes that shape here and only here: a cancel is a ``run`` tagged
``cancel`` (counted with the runs); ``tag`` is a noop's reason (``LeftAlone``) or the
action an error replaced.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import click

from campaign_gitops.reconcile.forecast import forecast_line, forecast_markdown
from campaign_gitops.reconcile.plan import Action, Change, Plan, spec_action

SYMBOLS = {Action.CREATE: "+", Action.UPDATE: "~", Action.TRANSITION: "->", Action.RUN: "▶",
           Action.CANCEL: "▶", Action.ARCHIVE: "-", Action.ERROR: "!", Action.NOOP: "#"}
COLOURS = {Action.CREATE: "green", Action.UPDATE: "yellow", Action.TRANSITION: "cyan",
           Action.RUN: "blue", Action.CANCEL: "blue", Action.ARCHIVE: "red",
           Action.ERROR: "red", Action.NOOP: "bright_black"}
# The SPEC's actions (section 5): a cancel is shown as a run tagged ``cancel``.
SPEC_ACTIONS = ("create", "update", "transition", "run", "archive", "noop", "error")
CANCEL_TAG = "cancel"
MAX_VALUE = 80


def tag(change: Change) -> str:
    """The SPEC's ``tag``: a noop's reason, the action an error replaced, ``cancel``."""
    if change.action == Action.CANCEL:
        return CANCEL_TAG
    if change.left_alone is not None:
        return change.left_alone.value
    if change.action == Action.ERROR and change.instead_of is not None:
        return spec_action(change.instead_of)
    return ""


def change_dict(change: Change) -> dict[str, Any]:
    return {
        "action": spec_action(change.action),
        "resource": change.resource,
        "from": change.from_,
        "to": change.to,
        "fields": {f.path: {"old": f.old, "new": f.new} for f in change.fields},
        "reason": change.reason,
        "rules": list(change.rules),
        "tag": tag(change),
        **({"forecast": dict(change.forecast)} if change.forecast is not None else {}),
    }


def summary(plan: Plan) -> dict[str, int]:
    """Changes by the SPEC's action (cancels count as runs)."""
    counts = Counter(spec_action(c.action) for c in plan.changes)
    return {action: counts.get(action, 0) for action in SPEC_ACTIONS}


def plan_dict(plan: Plan) -> dict[str, Any]:
    return {"changes": [change_dict(c) for c in plan.changes], "summary": summary(plan),
            "base_serial": plan.base_serial, "failed_files": list(plan.failed_files)}


def summary_line(plan: Plan) -> str:
    s = summary(plan)
    return (f"Plan: {s['create']} to create, {s['update']} to update, "
            f"{_count(s['transition'], 'transition')}, {_count(s['run'], 'run')}, "
            f"{s['archive']} to archive, {_count(s['error'], 'error')}{_held(plan)}.")


def _held(plan: Plan) -> str:
    n = len(plan.failed_files)
    return f"; {n} file{'' if n == 1 else 's'} held back" if n else ""


def no_changes_line(plan: Plan) -> str:
    """What the plan says when it has nothing to change (held files are not a match)."""
    if plan.failed_files:
        return ("No changes from the files that loaded; the held-back files failed to load, "
                "so the database may not match them.")
    return "No changes. The database matches the files."


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def value(v: Any) -> str:
    text = json.dumps(v, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_VALUE else text[:MAX_VALUE - 1] + "…"


# ---------------------------------------------------------------- text


def _headline(change: Change) -> str:
    action = change.action
    if action == Action.TRANSITION:
        return f"{change.resource}: {change.from_} → {change.to}"
    if action == Action.CANCEL:
        return f"{change.resource}: cancel run {change.from_} ({change.reason})"
    if action == Action.RUN:
        return f"{change.resource}: start run {change.to} ({change.reason})"
    if action == Action.ARCHIVE:
        return f"{change.resource}: archive ({change.reason})"
    if action == Action.ERROR:
        rules = f" [{', '.join(change.rules)}]" if change.rules else ""
        return f"{change.resource}: {change.reason}{rules}"
    if action == Action.NOOP:
        return f"{change.resource}: {change.reason}"
    note = f"  ({change.reason})" if change.reason else ""
    return f"{change.resource}{note}"


def _field_lines(change: Change) -> list[str]:
    if change.action == Action.CREATE:
        return [f"      {f.path}: {value(f.new)}" for f in change.fields]
    if change.action == Action.UPDATE:
        return [f"      {f.path}: {value(f.old)} → {value(f.new)}" for f in change.fields]
    return []


def render_text(plan: Plan, *, color: bool = False) -> str:
    def paint(text: str, action: Action) -> str:
        return (click.style(text, fg=COLOURS[action], bold=action == Action.ERROR) if color
                else text)

    lines: list[str] = []
    shown = [c for c in plan.changes if c.action != Action.NOOP]
    noops = [c for c in plan.changes if c.action == Action.NOOP]
    if shown:
        lines.append("campaign-gitops will perform the following actions:")
        lines.append("")
    for change in shown:
        symbol = SYMBOLS[change.action]
        lines.append(paint(f"  {symbol:>2} {_headline(change)}", change.action))
        lines.extend(_field_lines(change))
        if change.forecast is not None:
            lines.append(f"      {forecast_line(change.forecast)}")
    if noops:
        lines.append("")
        lines.append("Left alone:")
        lines.extend(paint(f"   # {_headline(c)}", Action.NOOP) for c in noops)
    if plan.failed_files:
        lines.append("")
        lines.append(paint("Held back (failed to load; `campaign-gitops lint` shows why):",
                           Action.ERROR))
        lines.extend(f"   {name}" for name in plan.failed_files)
    if not plan.has_changes and not plan.has_errors:
        lines.append("")
        lines.append(no_changes_line(plan))
    lines.append("")
    lines.append(summary_line(plan))
    return "\n".join(lines).lstrip("\n") + "\n"


# ---------------------------------------------------------------- json


def render_json(plan: Plan, *, color: bool = False) -> str:
    return json.dumps(plan_dict(plan), indent=2, ensure_ascii=False, default=str) + "\n"


# ---------------------------------------------------------------- markdown


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_details(change: Change) -> str:
    if change.action in (Action.CREATE, Action.UPDATE) and change.fields:
        parts = []
        for f in change.fields:
            old = "" if change.action == Action.CREATE else f"`{_md(value(f.old))}` → "
            parts.append(f"`{f.path}`: {old}`{_md(value(f.new))}`")
        extra = f" ({_md(change.reason)})" if change.reason else ""
        return "<br>".join(parts) + extra
    if change.action == Action.TRANSITION:
        return f"`{change.from_}` → `{change.to}`"
    if change.action == Action.CANCEL:
        return f"cancel run `{change.from_}` ({_md(change.reason)})"
    if change.action == Action.RUN:
        return f"run `{change.to}` ({_md(change.reason)})"
    rules = f" ({', '.join(change.rules)})" if change.rules else ""
    return _md(change.reason) + rules


def render_markdown(plan: Plan, *, color: bool = False) -> str:
    lines = ["### campaign-gitops plan", "", f"**{summary_line(plan)}**", ""]
    if plan.failed_files:
        names = ", ".join(f"`{n}`" for n in plan.failed_files)
        lines += [f"Held back (failed to load): {names}", ""]
    if not plan.changes:
        lines.append(no_changes_line(plan))
        return "\n".join(lines) + "\n"
    lines += ["| | resource | action | details |", "|---|---|---|---|"]
    for change in plan.changes:
        symbol = SYMBOLS[change.action].replace("-", "\\-").replace("~", "\\~")
        lines.append(f"| {symbol} | `{change.resource}` | {spec_action(change.action)} | "
                     f"{_md_details(change)} |")
    for change in plan.changes:
        if change.forecast is not None:
            lines += ["", *forecast_markdown(f"{change.resource} run {change.to}",
                                             change.forecast)]
    return "\n".join(lines) + "\n"


RENDERERS: dict[str, Callable[..., str]] = {
    "text": render_text,
    "json": render_json,
    "markdown": render_markdown,
}
