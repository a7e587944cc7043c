"""Runs at work: ``tick``, ``leads import``, ``runs``, ``communications``, ``replies``, ``review``.

``runs`` is a group: ``runs`` alone (or ``runs list``) lists the runs, ``runs show RUN``
shows one, ``runs resume RUN`` resumes a run that paused itself. ``replies`` alone lists
replies; ``replies add`` and ``replies import`` record them. Every listing takes
``--format json`` (stable keys, see docs/reference/contract.md).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from sqlalchemy.orm import Session

from campaign_gitops.cli.common import (
    Context,
    attention_lines,
    now_option,
    parse_now,
    pass_context,
)
from campaign_gitops.config.models import CHANNELS
from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.runs.replies import KINDS as REPLY_KINDS
from campaign_gitops.runs.settle import OUTCOMES
from campaign_gitops.state.db import open_database
from campaign_gitops.state.queries import MESSAGE_STATUSES, RUN_STATUSES
from campaign_gitops.textsafe import printable

FORMATS = ("text", "json")
format_option = click.option("--format", "fmt", type=click.Choice(FORMATS), default="text",
                             show_default=True)


@contextmanager
def _session(ctx: Context, *, create: bool = True) -> Iterator[Session]:
    """A session on the database; reads pass ``create=False`` (none: exit 1, none made)."""
    db = open_database(ctx.db, create=create)
    try:
        with db.session() as session:
            yield session
    finally:
        db.dispose()


def _json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _table(rows: list[dict[str, Any]], columns: list[str], empty: str) -> None:
    """Aligned columns; long values are cut to 60 characters, but for the last column
    (a reason or a subject: what to do is often at its end), which is shown whole."""
    if not rows:
        click.echo(empty)
        return
    last = len(columns) - 1
    cells = [[_cell(_seconds(row.get(c)) if c.endswith("_at") else row.get(c),
                    whole=i == last) for i, c in enumerate(columns)] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))
               .rstrip())
    for r in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


def _seconds(value: Any) -> Any:
    """An ISO time to the second (tables only; JSON keeps the fraction)."""
    try:
        return dt.datetime.fromisoformat(value).isoformat(timespec="seconds")
    except (TypeError, ValueError):
        return value


def _cell(value: Any, *, whole: bool = False) -> str:
    if value is None:
        return "-"
    text = printable(value, one_line=True)
    return text if whole or len(text) <= 60 else text[:57] + "..."


# ---------------------------------------------------------------- listings


def _page_options(func: Any) -> Any:
    func = click.option("--before", type=click.IntRange(1), metavar="ID",
                        help="Only rows older than this id (the 'older:' hint of a "
                             "listing).")(func)
    return click.option("--limit", type=click.IntRange(1), default=50, show_default=True,
                        help="How many of the newest rows.")(func)


def _campaign_scope(session: Any, campaign: str | None, client: str | None
                    ) -> dict[str, str | None]:
    """``--campaign NAME|CLIENT/NAME`` and ``--client`` as the listing's filters; an
    unknown campaign is an error, not an empty list."""
    if not campaign:
        return {"client": client, "campaign": None}
    from campaign_gitops.runs.queries import check_campaign

    check_campaign(session, campaign)
    owner, _, name = campaign.rpartition("/")
    return {"client": owner or client, "campaign": name}


def _listing(rows: list[dict[str, Any]], older: int | None, key: str, fmt: str,
             columns: list[str], empty: str) -> None:
    if fmt == "json":
        _json({key: rows, "next_before": older})
        return
    _table(rows, columns, empty)
    if older is not None:
        click.echo(f"older: --before {older}")


# ---------------------------------------------------------------- tick


@click.command("tick")
@click.option("--now", "now_text", metavar="ISO", help="Act as if it were this time "
              "(simulations, tests); default: now.")
@click.option("--batch-size", type=click.IntRange(1, 10000), default=1000, show_default=True,
              help="Enrollments claimed per transaction.")
@format_option
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
    db = open_database(ctx.db)
    try:
        result = tick(db, now=now, config=ctx.config, batch_size=batch_size,
                      root=ctx.project.root)
        why = "" if result.as_json()["totals"] else _why_nothing(db, now, bool(now_text))
    finally:
        db.dispose()
    if fmt == "json":
        _json(result.as_json())
        return 0
    _tick_text(result, why)
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


# ---------------------------------------------------------------- leads


@click.group("leads")
def leads_group() -> None:
    """The lead pool.

    \b
    Example:
      campaign-gitops leads import examples/leads.csv
    """


@leads_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--skip-invalid", is_flag=True, help="Import the good rows, report the rest.")
@click.option("--confidence-scale", type=click.FloatRange(min=1.0), default=1.0,
              show_default=True, help="Divide enrichment_confidence by this (100: the file "
                                      "has percentages).")
@format_option
@pass_context
def leads_import(ctx: Context, file: Path, skip_invalid: bool, confidence_scale: float,
                 fmt: str) -> int:
    """Import leads from a CSV file (upsert by email); exit 1 when rows are bad.

    \b
    Example:
      campaign-gitops leads import examples/leads.csv --skip-invalid
    """
    from campaign_gitops.runs.leads import import_csv

    with _session(ctx) as session:
        report = import_csv(session, file, skip_invalid=skip_invalid,
                            confidence_scale=confidence_scale)
    if fmt == "json":
        _json(report.as_json())
    else:
        for error in report.errors:
            click.echo(f"{file}:{error.line}: {printable(error.reason)}", err=True)
        if report.errors and not skip_invalid:
            click.echo(f"{len(report.errors)} bad row(s) of {report.rows}: nothing imported "
                       "(fix them, or pass --skip-invalid)", err=True)
        else:
            skipped = f", {len(report.errors)} skipped" if report.errors else ""
            click.echo(f"imported {report.imported} lead(s) from {file}{skipped}")
    if report.errors and not skip_invalid:
        return 1
    return 0


# ---------------------------------------------------------------- runs

RUN_COLUMNS = ["id", "client", "campaign", "name", "type", "status", "revision", "started_at",
               "next_run_at", "series", "status_reason"]


def _series_cell(row: dict[str, Any]) -> str | None:
    """A series shows its cron, an occurrence the series it belongs to."""
    recurring = row.get("recurring")
    if recurring:
        return f"{recurring['cron']} ({recurring['timezone']})"
    return row.get("series")


def _runs_filters(func: Any) -> Any:
    for option in reversed((
            click.option("--campaign", help="Only this campaign (name or client/name)."),
            click.option("--client", help="Only this client."),
            click.option("--status", type=click.Choice(RUN_STATUSES),
                         help="Only this status."),
            click.option("--series", help="Only the occurrences of this recurring series."),
            _page_options, format_option)):
        func = option(func)
    return func


@click.group("runs", invoke_without_command=True)
@_runs_filters
@click.pass_context
def runs_group(click_ctx: click.Context, campaign: str | None, client: str | None,
               status: str | None, series: str | None, limit: int, before: int | None,
               fmt: str) -> int:
    """List campaign runs (``runs show RUN`` for one).

    \b
    Example:
      campaign-gitops runs --campaign acme/cto-au-q1
      campaign-gitops runs --status scheduled
      campaign-gitops runs --campaign acme/q1 --series weekly-wave
      campaign-gitops runs show acme/cto-au-q1/launch
    """
    if click_ctx.invoked_subcommand is None:
        return click_ctx.invoke(runs_list, campaign=campaign, client=client, status=status,
                                series=series, limit=limit, before=before, fmt=fmt)
    return 0


@runs_group.command("list")
@_runs_filters
@pass_context
def runs_list(ctx: Context, campaign: str | None, client: str | None, status: str | None,
              series: str | None, limit: int, before: int | None, fmt: str) -> int:
    """List campaign runs with their status and pinned revision, newest last.

    Shows the newest --limit runs (oldest of them first); a last line
    'older: --before ID' continues with older ones.

    \b
    Example:
      campaign-gitops runs list --campaign cto-au-q1 --format json
    """
    from campaign_gitops.state.listings import newest, runs_page

    with _session(ctx, create=False) as session:
        filters = {**_campaign_scope(session, campaign, client), "status": status,
                   "series": series}
        rows, older = newest(lambda **page: runs_page(session, **filters, **page),
                             limit=limit, before=before)
    _listing([{**r, "series": _series_cell(r)} if fmt != "json" else r for r in rows],
             older, "runs", fmt, RUN_COLUMNS, "no runs")
    return 0


@runs_group.command("show")
@click.argument("run")
@format_option
@now_option("When next_send is counted from (ISO 8601); default: the current time.")
@pass_context
def runs_show(ctx: Context, run: str, fmt: str, now_text: str | None) -> int:
    """One run: revision, enrollments by state, messages by channel and status.

    \b
    Example:
      campaign-gitops runs show acme/cto-au-q1/smoke-1
      campaign-gitops runs show 2 --format json      # by the ID `runs list` shows
    """
    from campaign_gitops.runs.forecasting import next_send_of_run, next_send_text
    from campaign_gitops.runs.policy import LEASE
    from campaign_gitops.runs.queries import find_run, show_run
    from campaign_gitops.runs.sender_use import run_sender_usage
    from campaign_gitops.runs.settle import attention

    with _session(ctx, create=False) as session:
        run_id = find_run(session, run)
        data = show_run(session, run_id)
        now = parse_now(now_text)
        data["next_send"] = next_send_of_run(session, run_id, now)
        data["attention"] = attention(session, now, lease=LEASE, run_ids=[run_id])
        data["senders"] = [u.as_json() for u in run_sender_usage(session, run_id, now)]
    if fmt == "json":
        _json(data)
        return 0
    click.echo(f"run {data['id']}: {data['client']}/{data['campaign']}/{data['name']} "
               f"({data['type']}) {data['status']}")
    if data["status_reason"]:
        click.echo(f"  reason:      {data['status_reason']}")
    recurring = data["recurring"]
    if recurring:
        upcoming = f", next {data['next_run_at']}" if data["next_run_at"] else ""
        click.echo(f"  recurring:   {recurring['cron']} ({recurring['timezone']}){upcoming}")
    if data["series"]:
        click.echo(f"  series:      {data['series']} (run {data['series_id']})")
    click.echo(f"  revision:    {data['revision']} {(data['content_hash'] or '')[:12]} "
               f"commit {(data['git_commit'] or '-')[:12]}")
    for key in ("scheduled_for", "started_at", "finished_at"):
        if data[key]:
            click.echo(f"  {key + ':':<12} {data[key]}")
    metrics = data["metrics"]
    if metrics:
        from campaign_gitops.runs.metrics import percent, reply_rate

        contacted = metrics["leads_contacted"]
        click.echo(f"  campaign:    {metrics['total_leads']} leads, "
                   f"{metrics['leads_contacted']} contacted, "
                   f"{metrics['leads_replied']} replied "
                   f"({percent(reply_rate(metrics['leads_replied'], contacted))}), "
                   f"{metrics['leads_converted']} converted "
                   f"({metrics['conversion_rate']:.1%})")
    click.echo("  enrollments: " + _pairs(data["enrollments"]))
    click.echo("  next send:   " + next_send_text(data["next_send"]))
    if data["senders"]:  # use today against each sender's daily cap (SPEC 9)
        click.echo("  senders:     " + ", ".join(
            f"{u['name']} <{u['email']}> {u['sent_today']}/{u['daily_limit']} today"
            for u in data["senders"]))
    click.echo("  messages:    " + _pairs(data["messages"]))
    for channel, counts in sorted(data["messages_by_channel"].items()):
        click.echo(f"    {channel:<9} {_pairs(counts)}")
    attention_lines(data["attention"])
    for step in data["steps"]:
        click.echo(f"  step {step['step']}: {step['channel']} +{step['delayDays']}d "
                   f"{step['template'] or ''}".rstrip())
    if recurring:
        click.echo(f"  occurrences: {len(data['occurrences']) or 'none yet'}")
        for occurrence in data["occurrences"]:
            click.echo(f"    {occurrence['id']:<5} {occurrence['name']}  "
                       f"{occurrence['status']:<9} started {occurrence['started_at']}")
    return 0


def _pairs(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "none"


@runs_group.command("resume")
@click.argument("run")
@pass_context
def runs_resume(ctx: Context, run: str) -> int:
    """Resume a run that paused itself (e.g. too many failed deliveries).

    \b
    Example:
      campaign-gitops runs resume acme/cto-au-q1/launch   # once the cause is fixed
    """
    from campaign_gitops.runs.queries import find_run
    from campaign_gitops.runs.start import resume_run

    with _session(ctx) as session:
        resumed = resume_run(session, find_run(session, run))
    if not resumed:
        raise CampaignGitopsError(f"run {run} is not paused")
    click.echo(f"run {run} resumed")
    return 0


# ---------------------------------------------------------------- communications

MESSAGE_COLUMNS = ["id", "campaign", "run", "step", "channel", "recipient", "status",
                   "sent_at", "status_reason"]


def _communications_filters(func: Any) -> Any:
    for option in reversed((
            click.option("--run", "run_ref", help="Only this run (id or client/campaign/run)."),
            click.option("--status", type=click.Choice(MESSAGE_STATUSES),
                         help="Only this status."),
            click.option("--campaign", help="Only this campaign (name or client/name)."),
            click.option("--client", help="Only this client."),
            click.option("--channel", type=click.Choice(CHANNELS), help="Only this channel."),
            _page_options, format_option)):
        func = option(func)
    return func


@click.group("communications", invoke_without_command=True)
@_communications_filters
@click.pass_context
def communications_command(click_ctx: click.Context, run_ref: str | None, status: str | None,
                           campaign: str | None, client: str | None, channel: str | None,
                           limit: int, before: int | None, fmt: str) -> int:
    """Messages written, newest last (``communications settle`` for unknown ones).

    \b
    Example:
      campaign-gitops communications --campaign acme/cto-au-q1 --status failed
      campaign-gitops communications --status unknown
      campaign-gitops communications settle 41 --as sent --reason "in the relay's log"
    """
    if click_ctx.invoked_subcommand is None:
        return click_ctx.invoke(communications_list, run_ref=run_ref, status=status,
                                campaign=campaign, client=client, channel=channel, limit=limit,
                                before=before, fmt=fmt)
    return 0


@communications_command.command("list")
@_communications_filters
@pass_context
def communications_list(ctx: Context, run_ref: str | None, status: str | None,
                        campaign: str | None, client: str | None, channel: str | None,
                        limit: int, before: int | None, fmt: str) -> int:
    """Messages written, newest last: recipient, status and why.

    Shows the newest --limit messages (oldest of them first); a last line
    'older: --before ID' continues with older ones.

    \b
    Example:
      campaign-gitops communications list --campaign acme/cto-au-q1 --status failed
      campaign-gitops communications list --run acme/cto-au-q1/smoke-1 --format json
    """
    from campaign_gitops.runs.queries import find_run
    from campaign_gitops.state.listings import communications_page, newest

    with _session(ctx, create=False) as session:
        filters = {**_campaign_scope(session, campaign, client), "status": status,
                   "channel": channel,
                   "run": find_run(session, run_ref) if run_ref else None}
        rows, older = newest(lambda **page: communications_page(session, **filters, **page),
                             limit=limit, before=before)
    _listing(rows, older, "communications", fmt, MESSAGE_COLUMNS, "no communications")
    return 0


@communications_command.command("settle")
@click.argument("ids", nargs=-1, required=True, type=int)
@click.option("--as", "outcome", type=click.Choice(OUTCOMES), required=True,
              help="sent: it went out; failed: it did not (credit refunded); resend: send "
                   "it again (through the window, limits and gates).")
@click.option("--reason", required=True, help="Why you know (recorded in the audit log).")
@now_option()
@format_option
@pass_context
def communications_settle(ctx: Context, ids: tuple[int, ...], outcome: str, reason: str,
                          now_text: str | None, fmt: str) -> int:
    """Settle unknown messages: ones that may have gone out (a crash mid-send, a timeout
    after the server took the message). Nothing sends them again by itself.

    Exit 1 when any ID was not unknown (left unchanged).

    \b
    Example:
      campaign-gitops communications --status unknown
      campaign-gitops communications settle 41 42 --as sent --reason "in the relay's log"
      campaign-gitops communications settle 43 --as resend --reason "relay has no record"
    """
    from campaign_gitops.runs.settle import settle

    with _session(ctx) as session:
        results = settle(session, list(ids), outcome,  # type: ignore[arg-type]
                         reason=reason, now=parse_now(now_text))
    if fmt == "json":
        _json({"settled": [r.as_json() for r in results]})
    else:
        for r in results:
            click.echo(f"message {r.message_id}: {r.status} ({r.reason})")
    if any(r.status == "unchanged" for r in results):
        return 1
    return 0


# ---------------------------------------------------------------- replies

REPLY_COLUMNS = ["id", "client", "campaign", "contact", "kind", "message_id", "received_at"]


@click.group("replies", invoke_without_command=True)
@click.option("--campaign", help="Only this campaign (name or client/name).")
@click.option("--client", help="Only this client.")
@click.option("--run", "run_ref", help="Only this run (id or client/campaign/run).")
@click.option("--kind", type=click.Choice(REPLY_KINDS), help="Only this kind.")
@_page_options
@format_option
@click.pass_context
def replies_group(click_ctx: click.Context, campaign: str | None, client: str | None,
                  run_ref: str | None, kind: str | None, limit: int, before: int | None,
                  fmt: str) -> int:
    """List replies and outcomes, newest last (``replies add`` / ``replies import``
    record them).

    \b
    Example:
      campaign-gitops replies --campaign acme/cto-au-q1
      campaign-gitops replies --kind unsubscribe --format json
    """
    if click_ctx.invoked_subcommand is not None:
        return 0
    from campaign_gitops.runs.queries import find_run
    from campaign_gitops.state.listings import newest, replies_page

    with _session(click_ctx.find_object(Context)) as session:
        filters = {**_campaign_scope(session, campaign, client), "kind": kind,
                   "run": find_run(session, run_ref) if run_ref else None}
        rows, older = newest(lambda **page: replies_page(session, **filters, **page),
                             limit=limit, before=before)
    _listing(rows, older, "replies", fmt, REPLY_COLUMNS, "no replies")
    return 0


@replies_group.command("add")
@click.option("--contact", required=True, help="The lead's email or phone.")
@click.option("--kind", required=True, type=click.Choice(REPLY_KINDS))
@click.option("--campaign", help="The campaign it answers (name or client/name).")
@click.option("--body", help="The text of the reply.")
@click.option("--in-reply-to", help="The email's In-Reply-To Message-ID.")
@click.option("--now", "now_text", metavar="ISO", help="When it was received.")
@click.option("--unmatched-ok", is_flag=True,
              help="Record it even when no lead has this contact (else: nothing recorded, "
                   "exit 1).")
@format_option
@pass_context
def replies_add(ctx: Context, contact: str, kind: str, campaign: str | None,
                body: str | None, in_reply_to: str | None, now_text: str | None,
                unmatched_ok: bool, fmt: str) -> int:
    """Record one reply or outcome (a reply stops the lead's sequence).

    \b
    Example:
      campaign-gitops replies add --contact olivia.nguyen@linkt.com.au --kind reply \\
        --campaign acme/cto-au-q1 --body "Tuesday works"
    """
    from campaign_gitops.runs.replies import ReplyInput, add_reply

    item = ReplyInput(contact=contact, kind=kind, campaign=campaign, body=body,
                      in_reply_to=in_reply_to)
    with _session(ctx) as session:
        result = add_reply(session, item, now=parse_now(now_text))
        if result.lead_id is None and not result.suppressed and not unmatched_ok:
            raise UnmatchedReplyError(
                f"no lead has the contact {contact!r}"
                + (f" in {campaign}" if campaign else "") + ": nothing recorded",
                "check the address (leads import added the leads?), or pass --unmatched-ok "
                "to record it anyway")
    if fmt == "json":
        _json(result.as_json())
    else:
        click.echo(_reply_text(result))
    return 0


class UnmatchedReplyError(CampaignGitopsError):
    exit_code = 1


def _reply_text(result: Any) -> str:
    parts = [f"reply {result.reply_id}: {result.kind} from {printable(result.contact)}"]
    if result.lead_id is None:
        parts.append("(no matching lead)")
    if result.stopped:
        parts.append(f"stopped {result.stopped} sequence(s)")
    if result.suppressed:
        parts.append(f"suppressed for {result.client}")
    return ", ".join(parts)


@replies_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--skip-invalid", is_flag=True, help="Record the good rows, report the rest.")
@click.option("--now", "now_text", metavar="ISO", help="Received time for rows without one.")
@format_option
@pass_context
def replies_import(ctx: Context, file: Path, skip_invalid: bool, now_text: str | None,
                   fmt: str) -> int:
    """Record replies from a CSV (contact,kind,campaign,body,in_reply_to) or JSONL file.

    \b
    Example:
      campaign-gitops replies import replies.csv --skip-invalid
    """
    from campaign_gitops.runs.replies import import_replies

    with _session(ctx) as session:
        results, errors = import_replies(session, file, now=parse_now(now_text),
                                         skip_invalid=skip_invalid)
    if fmt == "json":
        _json({"replies": [r.as_json() for r in results],
               "errors": [{"line": e.line, "reason": e.reason} for e in errors]})
    else:
        for error in errors:
            click.echo(f"{file}:{error.line}: {printable(error.reason)}", err=True)
        for result in results:
            click.echo(_reply_text(result))
        click.echo(f"recorded {len(results)} repl{'y' if len(results) == 1 else 'ies'}")
    if errors and not skip_invalid:
        return 1
    return 0


# ---------------------------------------------------------------- review


@click.group("review")
def review_group() -> None:
    """The human reviewer's queue (messages pending_review).

    \b
    Example:
      campaign-gitops review list --campaign acme/pilot-renewals
      campaign-gitops review approve 12 13     # IDs from `review list`
    """


@review_group.command("list")
@click.option("--campaign", help="Only this campaign (name or client/name).")
@format_option
@pass_context
def review_list(ctx: Context, campaign: str | None, fmt: str) -> int:
    """Messages waiting for a decision.

    \b
    Example:
      campaign-gitops review list --format json
    """
    from campaign_gitops.runs.replies import campaign_ids
    from campaign_gitops.runs.review import pending

    with _session(ctx, create=False) as session:
        rows = pending(session, campaign_ids(session, campaign) if campaign else None)
    if fmt == "json":
        _json({"pending": rows})
    else:
        _table(rows, ["id", "client", "campaign", "run", "step", "channel", "recipient",
                      "subject"], "nothing to review")
    return 0


def _decide_command(approve: bool) -> Callable[..., int]:
    @click.argument("ids", nargs=-1, required=True, type=int)
    @click.option("--reason", default="", help="Recorded with the decision.")
    @format_option
    @pass_context
    def command(ctx: Context, ids: tuple[int, ...], reason: str, fmt: str) -> int:
        from campaign_gitops.runs.review import decide

        with _session(ctx) as session:
            results = decide(session, list(ids), approve=approve,
                             now=dt.datetime.now(dt.UTC), reason=reason)
        if fmt == "json":
            _json({"decisions": [r.as_json() for r in results]})
        else:
            for r in results:
                click.echo(f"message {r.message_id}: {r.status}"
                           + (f" ({r.reason})" if r.status == "unchanged" else ""))
        if any(r.status == "unchanged" for r in results):
            return 1
        return 0

    return command


review_group.command("approve", help="Approve messages: the next tick delivers them.\n\n"
                     "\b\nExample:\n  campaign-gitops review approve 12 13 "
                     "--reason \"checked the tone\"")(
    _decide_command(True))
review_group.command("reject", help="Reject messages: recorded, never delivered.\n\n"
                     "\b\nExample:\n  campaign-gitops review reject 14 "
                     "--reason \"wrong product name\"")(
    _decide_command(False))


def register(group: click.Group) -> None:
    from campaign_gitops.cli.recipients_cmd import leads_export, leads_forget, replies_fetch

    leads_group.add_command(leads_forget)
    leads_group.add_command(leads_export)
    replies_group.add_command(replies_fetch)
    for command in (tick_command, leads_group, runs_group, communications_command,
                    replies_group, review_group):
        group.add_command(command)
