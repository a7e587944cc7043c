"""``campaign-gitops init [DIR]``: scaffold a campaigns repository that works at once.

The files come from the package data in ``campaign_gitops/scaffold/`` (``dot-`` path
parts become ``.``, ``__CLIENT__`` becomes the client's name) plus the JSON Schemas
generated from the models, so a scaffold always matches the installed version.
Nothing is overwritten: when any target file exists, init lists them and exits 1.
"""

from __future__ import annotations

import re
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

import click

from campaign_gitops import __version__
from campaign_gitops.config.models import NAME_PATTERN
from campaign_gitops.config.schema import all_schemas, render_schema
from campaign_gitops.findings import CampaignGitopsError

CLIENT_TOKEN = "__CLIENT__"
VERSION_TOKEN = "__VERSION__"
# Where the reusable action and the pre-commit hook are published (this repository).
ACTION_REPO = "campaign-gitops/campaign-gitops"
ACTION_TOKEN = "__ACTION_REPO__"


def _walk(node: Traversable, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.name == "__pycache__":
            continue
        name = "." + child.name[4:] if child.name.startswith("dot-") else child.name
        path = f"{prefix}{name}"
        if child.is_dir():
            out.update(_walk(child, path + "/"))
        else:
            out[path] = child.read_text(encoding="utf-8")
    return out


def scaffold_files(client: str) -> dict[str, str]:
    """Repo-relative path -> text of every file ``init`` writes."""
    root = resources.files("campaign_gitops") / "scaffold"
    files = {}
    for path, text in _walk(root).items():
        for token, value in ((CLIENT_TOKEN, client), (VERSION_TOKEN, __version__),
                             (ACTION_TOKEN, ACTION_REPO)):
            path, text = path.replace(token, value), text.replace(token, value)
        files[path] = text
    for name, schema in all_schemas().items():
        files[f"schemas/{name}"] = render_schema(schema)
    return dict(sorted(files.items()))


def existing(target: Path, files: dict[str, str]) -> list[str]:
    return [name for name in files if (target / name).exists() or (target / name).is_symlink()]


def write_scaffold(target: Path, client: str) -> list[str]:
    """Write the scaffold into ``target``; CampaignGitopsError (exit 1) if any file exists."""
    if not re.match(NAME_PATTERN, client):
        raise CampaignGitopsError(f"invalid client name {client!r}",
                                  "lowercase letters, digits and '-', e.g. acme")
    if target.exists() and not target.is_dir():
        raise CampaignGitopsError(f"{target} exists and is not a folder")
    files = scaffold_files(client)
    clash = existing(target, files)
    if clash:
        error = CampaignGitopsError(
            f"refusing to overwrite {len(clash)} existing file(s) in {target}:\n"
            + "\n".join(f"  {name}" for name in clash),
            "init only creates files: run it in an empty folder, or move these away")
        error.exit_code = 1
        raise error
    for name, text in files.items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(files)


@click.command("init")
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--client", default="acme", show_default=True,
              help="Name of the client folder and Client resource.")
def init_command(directory: Path, client: str) -> int:
    """Scaffold a campaigns repository in DIRECTORY (default: the current folder).

    Writes a client folder with one lint-clean resource of every kind, the JSON Schemas
    (editor modelines point at them), campaign-gitops.yaml, a GitHub workflow using the
    action, a pre-commit config and a README on launching safely. Never overwrites:
    existing files are listed and init exits 1.

    \b
    Examples:
      campaign-gitops init my-campaigns --client acme
      cd my-campaigns && campaign-gitops lint && campaign-gitops plan
    """
    written = write_scaffold(directory, client)
    for name in written:
        click.echo(f"created {directory / name}")
    click.echo(f"\nnext: cd {directory} && git init && campaign-gitops lint && "
               "campaign-gitops plan")
    return 0


def register(group: click.Group) -> None:
    group.add_command(init_command)
