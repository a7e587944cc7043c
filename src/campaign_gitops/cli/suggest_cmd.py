"""``campaign-gitops suggest``: AI campaign suggestions from a client's ICP, as YAML files."""

from __future__ import annotations

import click

from campaign_gitops.ai.client import DEFAULT_MODEL
from campaign_gitops.ai.suggest import suggest
from campaign_gitops.ai.suggest_files import Proposal, check_use, propose, write_files
from campaign_gitops.cli.common import Context, pass_context
from campaign_gitops.config.bundle import load_bundle
from campaign_gitops.findings import CampaignGitopsError


def _report(proposal: Proposal, written: bool) -> None:
    if proposal.findings:
        click.echo("lint on the new files:", err=True)
    for finding in proposal.findings:
        click.echo(f"  {finding.location} {finding.severity} {finding.rule} "
                   f"{finding.message}", err=True)
    for open_field in proposal.open_fields:
        choices = ", ".join(open_field.choices) or "none yet"
        click.echo(f"left open: {open_field.field} (the client has {choices}); fill it "
                   f"in, or run again with --use {open_field.field}=NAME", err=True)
    if written:
        click.echo(f"wrote {len(proposal.files)} files; next: campaign-gitops lint, "
                   "then open a pull request", err=True)
    else:
        click.echo(f"would write {len(proposal.files)} files; run again with --write to "
                   "write them", err=True)


def _parse_use(values: tuple[str, ...]) -> dict[str, str]:
    use: dict[str, str] = {}
    for value in values:
        field, sep, name = value.partition("=")
        if not sep or not field or not name:
            raise click.BadParameter(f"{value!r} is not FIELD=NAME, e.g. writer=claude",
                                     param_hint="--use")
        use[field.strip()] = name.strip()
    return use


def run_suggest(ctx: Context, client: str, write: bool, model: str, count: int | None,
                force: bool, use: dict[str, str]) -> int:
    project = ctx.project
    if not project.resources_dir.is_dir():
        raise CampaignGitopsError(f"no such folder: {project.resources_dir}",
                                  "pass --dir with the folder holding the resource files")
    config = ctx.config
    bundle = load_bundle(project.resources_dir, project.root)
    if bundle.client_spec(client) is not None:
        check_use(bundle, client, use)  # before spending a request
    suggestions = suggest(bundle, client, count=count, model=model, config=config)
    proposal = propose(bundle, client, suggestions, model=model, use=use, config=config)
    if write:
        write_files(proposal.files, force=force)
        for f in proposal.files:
            click.echo(f"wrote {f.file}")
    else:
        for f in proposal.files:
            click.echo(f"# ==> {f.file} <==")
            click.echo(f.text, nl=False)
    _report(proposal, write)
    return 0


@click.command("suggest")
@click.option("--client", "client", required=True, help="The client to suggest campaigns for.")
@click.option("--write", is_flag=True,
              help="Write the files (default: print the YAML that would be written).")
@click.option("--model", default=DEFAULT_MODEL, show_default=True, help="Claude model id.")
@click.option("--count", type=click.IntRange(min=1), default=None,
              help="How many campaigns (default: 3, at most the tier's free AI slots).")
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@click.option("--use", "use", multiple=True, metavar="FIELD=NAME",
              help="Reference this goal/writer/reviewer/schedule/template in every campaign "
                   "(else the client's only one, or left open). Repeatable.")
@pass_context
def suggest_command(ctx: Context, client: str, write: bool, model: str, count: int | None,
                    force: bool, use: tuple[str, ...]) -> int:
    """Ask Claude for campaign suggestions from the client's ICP and tier.

    Each suggestion becomes a Segment and a draft Campaign (type ai_suggested, the
    reasoning kept as the annotation campaign-gitops/reasoning) under
    <dir>/<client>/segments/ and <dir>/<client>/campaigns/. A goal, writer, reviewer,
    schedule or template is referenced when named with --use or when the client has
    exactly one; otherwise it is left open with a comment listing the choices. The new
    files are preflighted before anything is written. Needs ANTHROPIC_API_KEY;
    ANTHROPIC_BASE_URL points it at another endpoint.

    \b
    Examples:
      campaign-gitops suggest --client acme                  # print the YAML
      campaign-gitops suggest --client acme --count 2 --write --use writer=claude-personal
    """
    code = run_suggest(ctx, client, write, model, count, force, _parse_use(use))
    return code


def register(group: click.Group) -> None:
    group.add_command(suggest_command)
