"""``campaign-gitops pr-comment``: keep one pull-request comment with the lint and the plan."""

from __future__ import annotations

import os
from pathlib import Path

import click

from campaign_gitops.findings import CampaignGitopsError


@click.command("pr-comment")
@click.option("--section", "sections", multiple=True, type=click.Path(dir_okay=False),
              help="A markdown file to include (in order); a missing or empty one is left out.")
@click.option("--marker", default=None, help="The hidden marker that finds the comment "
              "(default: <!-- campaign-gitops:pr-comment -->; one comment per marker).")
def pr_comment_cmd(sections: tuple[str, ...], marker: str | None) -> int:
    """Create or update the pull request's campaign-gitops comment.

    \b
    Inside a GitHub Actions job on a pull request: GITHUB_EVENT_PATH, GITHUB_REPOSITORY,
    GITHUB_API_URL and GITHUB_TOKEN (pass it as env) say where. Without a token (a fork's
    pull request) or when the API refuses (403), the comment goes to the job summary.
    Outside a pull request it does nothing.

    \b
    Example (what the action runs):
      campaign-gitops pr-comment --section lint.md --section plan.md
    """
    from campaign_gitops.pr_comment import MARKER, compose, publish, pull_request_from_env

    texts = []
    for name in sections:
        path = Path(name)
        try:
            texts.append(path.read_text(encoding="utf-8") if path.exists() else "")
        except OSError as exc:
            raise CampaignGitopsError(f"cannot read {name}: {exc.strerror}",
                                      "pass markdown files written by earlier steps") from exc
    env = dict(os.environ)
    tag = marker or MARKER
    outcome = publish(pull_request_from_env(env), compose(texts, marker=tag), env=env,
                      marker=tag)
    where = f" {outcome.url}" if outcome.url else ""
    why = f" ({outcome.reason})" if outcome.reason else ""
    click.echo(f"pr-comment: {outcome.action}{where}{why}")
    return 0


def register(group: click.Group) -> None:
    group.add_command(pr_comment_cmd)
