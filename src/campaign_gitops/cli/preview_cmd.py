"""``preview CAMPAIGN``: the messages a campaign would send, written as tick writes them.

Reads the files (the campaign as it is now) and, when it exists, the database (a named
lead, or a sample of the segment's pool, best first); writes nothing to either and
sends nothing. ``--diff BASE_REF`` previews the campaigns a change touches at a git ref
and now, as a markdown diff for a pull request.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from campaign_gitops.cli.common import Context, format_option, pass_context
from campaign_gitops.findings import CampaignGitopsError


def _existing_db(ctx: Context) -> Any:
    """The database when there is one (a missing SQLite file is not created)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(ctx.db)
    if parsed.get_backend_name() == "sqlite" and (
            not parsed.database or not Path(parsed.database).is_file()):
        return None
    return ctx.open_db(migrate=False)


def _entry(bundle: Any, name: str) -> Any:
    found = [e for e in bundle.of_kind("Campaign")
             if name in (e.key.name, f"{e.key.client}/{e.key.name}")]
    if not found:
        raise CampaignGitopsError(f"no campaign {name!r} in the files",
                                  "name a Campaign as NAME or CLIENT/NAME (see `status`)")
    if len(found) > 1:
        clients = ", ".join(sorted(e.key.client for e in found))
        raise CampaignGitopsError(f"campaign {name!r} exists for several clients ({clients})",
                                  f"name it CLIENT/{name}")
    return found[0]


def _leads(ctx: Context, config: dict[str, Any], contact: str | None,
           sample: int) -> tuple[list[dict[str, Any]], frozenset[str]]:
    """The leads to preview and the client's suppressed contacts among them."""
    from campaign_gitops.runs.allocation import matching_ids
    from campaign_gitops.runs.enrollments import load_leads, suppressed
    from campaign_gitops.runs.leads import lead_by_contact

    db = _existing_db(ctx)
    if db is None:
        if contact:
            raise CampaignGitopsError(f"no database: lead {contact!r} cannot be looked up",
                                      "import leads first (leads import FILE) or use --db")
        return [], frozenset()
    client = config["campaign"]["client"]
    try:
        with db.session() as session:
            if contact:
                lead = lead_by_contact(session, contact)
                ids = [] if lead is None else [lead]
                if not ids:
                    raise CampaignGitopsError(f"no lead with email or phone {contact!r}",
                                              "check the contact (leads are imported with "
                                              "`leads import`)")
            else:
                ids = [i for i, _tz in matching_ids(session, config.get("segment"), client,
                                                    sample)]
            found = load_leads(session, ids)
            people = [found[i] for i in ids if i in found]
            contacts = {str(v).lower() for p in people for v in (p.get("email"), p.get("phone"))
                        if v}
            blocked = frozenset(suppressed(session, client, contacts))
            session.rollback()  # nothing of a preview is ever stored
    finally:
        db.dispose()
    return people, blocked


def _preview_text(result: Any) -> None:
    from campaign_gitops.runs.preview import render_text

    click.echo(render_text(result), nl=False)


def _preview_json(result: Any) -> None:
    click.echo(json.dumps(result.as_json(), indent=2, ensure_ascii=False))


def _preview_markdown(result: Any) -> None:
    from campaign_gitops.runs.preview import render_markdown

    click.echo(render_markdown(result), nl=False)


FORMATS = {"text": _preview_text, "json": _preview_json, "markdown": _preview_markdown}


@click.command("preview")
@click.argument("campaign", required=False)
@click.option("--step", "step", type=click.IntRange(min=1),
              help="Only step K (1-based, as communications shows steps).")
@click.option("--lead", "contact", help="Write for this lead (email or phone).")
@click.option("--sample", type=click.IntRange(min=1, max=100), default=1, show_default=True,
              help="Write for the N best leads of the segment's pool.")
@format_option(FORMATS)
@click.option("--ai", is_flag=True,
              help="Use the campaign's AI writer/reviewer (calls the API; needs a key).")
@click.option("--diff", "base_ref", metavar="BASE_REF",
              help="Markdown: each campaign a change touches since BASE_REF (a git ref), "
                   "previewed at BASE_REF and now, as a diff of the changed steps.")
@pass_context
def preview_command(ctx: Context, campaign: str | None, step: int | None,
                    contact: str | None, sample: int, fmt: str, ai: bool,
                    base_ref: str | None) -> int:
    """Show the messages CAMPAIGN would send, as tick would write them; nothing is
    stored or sent.

    \b
    Example:
      campaign-gitops preview cto-au-q1
      campaign-gitops preview acme/cto-au-q1 --step 2 --lead ana@example.com
      campaign-gitops preview cto-au-q1 --sample 3 --format json
      campaign-gitops preview --diff origin/main >> "$GITHUB_STEP_SUMMARY"
    """
    from campaign_gitops.config.resolved import resolve_campaign
    from campaign_gitops.reconcile.service import load_project_bundle
    from campaign_gitops.runs import preview as pv

    if base_ref is not None:
        from campaign_gitops.runs.preview_diff import diff_markdown

        click.echo(diff_markdown(ctx.project, base_ref, only=campaign), nl=False)
        return 0
    if campaign is None:
        raise click.UsageError("name a CAMPAIGN (or pass --diff BASE_REF)")
    bundle = load_project_bundle(ctx.project)
    entry = _entry(bundle, campaign)
    config = resolve_campaign(entry, bundle)
    people, blocked = _leads(ctx, config, contact, sample)
    result = pv.preview(f"{entry.key.client}/{entry.key.name}", config, people,
                        steps=[step - 1] if step else None, ai=ai, suppressed=blocked)
    if step and not result.messages:
        raise CampaignGitopsError(f"campaign {campaign} has no step {step}",
                                  "steps count from 1")
    FORMATS[fmt](result)
    return 0


def register(group: click.Group) -> None:
    group.add_command(preview_command)
