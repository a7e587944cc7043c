"""``tick``: deliver every due sequence step (``runs/tick.py`` does the work)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from campaign_gitops.cli.common import (
    Context,
    attention_lines,
    echo_as_json,
    format_option,
    parse_now,
    pass_context,
)


def _tick_text(result: Any, why: str = "") -> None:
    if result.halted:
        click.echo(f"tick {result.now.isoformat()}: nothing delivered, {result.halted}")
        return
    for started in result.started_runs:
        click.echo(f"started {started}")
    totals = result.as_json()["totals"]
    summary = ", ".join(f"{n} {s}" for s, n in totals.items()) or "nothing due"
    click.echo(f"tick {result.now.isoformat()}: {summary}" + (f": {why}" if why else ""))
    for channel, counts in sorted(result.counts.items()):
        click.echo(f"  {channel:<9} " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    for note in result.notes:
        click.echo(f"  note: {note}")
    attention_lines(result.attention)


def _tick_json(result: Any, why: str = "") -> None:
    echo_as_json(result)


FORMATS = {"text": _tick_text, "json": _tick_json}


@click.command("tick")
@click.option("--now", "now_text", metavar="ISO", help="Act as if it were this time "
              "(simulations, tests); default: now.")
@click.option("--batch-size", type=click.IntRange(1, 10000), default=1000, show_default=True,
              help="Enrollments claimed per transaction.")
@format_option(FORMATS)
@pass_context
def tick_command(ctx: Context, now_text: str | None, batch_size: int, fmt: str) -> int:
    """Deliver every due sequence step inside the sending windows and limits.

    \b
    Example:
      campaign-gitops tick
      campaign-gitops tick --now 2026-11-24T10:00:00+11:00 --format json   # a simulated time
    """
    from campaign_gitops.runs.tick import tick

    now = parse_now(now_text)
    db = ctx.open_db()
    try:
        result = tick(db, now=now, config=ctx.config, batch_size=batch_size,
                      root=ctx.project.root)
        why = "" if result.as_json()["totals"] else _why_nothing(db, now, bool(now_text))
    finally:
        db.dispose()
    FORMATS[fmt](result, why)
    return 0


def _why_nothing(db: Any, now: dt.datetime, simulated: bool) -> str:
    """Why a tick delivered nothing: no enrollment waits, or when the earliest is due."""
    from campaign_gitops.runs.queries import earliest_due

    with db.reading() as session:
        first, count = earliest_due(session)
    if first is None:
        return ("no active enrollment waits for a step (a run enrolls leads when it "
                "starts: apply a campaign with a run)")
    if first.tzinfo is None:
        first = first.replace(tzinfo=dt.UTC)
    if first <= now:
        return (f"{count} step(s) were due at {first.isoformat()} but none went out: "
                "windows, limits or holds (see the notes, `status`)")
    clock = (" (runs start on the real clock: a --now before that finds nothing)"
             if simulated else "")
    return f"the earliest due step is at {first.isoformat()} ({count} enrollment(s)){clock}"


def register(group: click.Group) -> None:
    group.add_command(tick_command)
