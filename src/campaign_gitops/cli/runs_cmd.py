"""``runs``: ``runs`` alone (or ``runs list``) lists the runs, ``runs show RUN``
shows one, ``runs resume RUN`` resumes a run that paused itself. Every listing takes
``--format json`` (stable keys, see docs/reference/contract.md)."""

from __future__ import annotations

from typing import Any

import click

from campaign_gitops.cli.common import (
    Context,
    Listing,
    attention_lines,
    campaign_scope,
    echo_json,
    format_option,
    newest_rows,
    now_option,
    parse_now,
    pass_context,
)
from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.state.queries import RUN_STATUSES

RUN_COLUMNS = ["id", "client", "campaign", "name", "type", "status", "revision", "started_at",
               "next_run_at", "series", "status_reason"]


def _series_cell(row: dict[str, Any]) -> str | None:
    """A series shows its cron, an occurrence the series it belongs to."""
    recurring = row.get("recurring")
    if recurring:
        return f"{recurring['cron']} ({recurring['timezone']})"
    return row.get("series")


RUNS = Listing("runs", RUN_COLUMNS, "no runs",
               cells=lambda row: {**row, "series": _series_cell(row)})

_runs_filters = RUNS.options(
    click.option("--campaign", help="Only this campaign (name or client/name)."),
    click.option("--client", help="Only this client."),
    click.option("--status", type=click.Choice(RUN_STATUSES), help="Only this status."),
    click.option("--series", help="Only the occurrences of this recurring series."))


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
    from campaign_gitops.state.listings import runs_page

    with ctx.session(create=False) as session:
        rows, older = newest_rows(session, runs_page, limit=limit, before=before,
                                  **campaign_scope(session, campaign, client), status=status,
                                  series=series)
    RUNS.formats[fmt](rows, older)
    return 0


def _show_text(data: dict[str, Any]) -> None:
    from campaign_gitops.runs.forecasting import next_send_text

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


SHOW_FORMATS = {"text": _show_text, "json": echo_json}


@runs_group.command("show")
@click.argument("run")
@format_option(SHOW_FORMATS)
@now_option("When next_send is counted from (ISO 8601); default: the current time.")
@pass_context
def runs_show(ctx: Context, run: str, fmt: str, now_text: str | None) -> int:
    """One run: revision, enrollments by state, messages by channel and status.

    \b
    Example:
      campaign-gitops runs show acme/cto-au-q1/smoke-1
      campaign-gitops runs show 2 --format json      # by the ID `runs list` shows
    """
    from campaign_gitops.runs.forecasting import next_send_of_run
    from campaign_gitops.runs.policy import LEASE
    from campaign_gitops.runs.queries import find_run, show_run
    from campaign_gitops.runs.sender_use import run_sender_usage
    from campaign_gitops.runs.settle import attention

    with ctx.session(create=False) as session:
        run_id = find_run(session, run)
        data = show_run(session, run_id)
        now = parse_now(now_text)
        data["next_send"] = next_send_of_run(session, run_id, now)
        data["attention"] = attention(session, now, lease=LEASE, run_ids=[run_id])
        data["senders"] = [u.as_json() for u in run_sender_usage(session, run_id, now)]
    SHOW_FORMATS[fmt](data)
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

    with ctx.session() as session:
        resumed = resume_run(session, find_run(session, run))
    if not resumed:
        raise CampaignGitopsError(f"run {run} is not paused")
    click.echo(f"run {run} resumed")
    return 0


def register(group: click.Group) -> None:
    group.add_command(runs_group)
