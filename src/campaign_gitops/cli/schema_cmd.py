"""``campaign-gitops schema``: the JSON Schemas (2020-12) generated from the models."""

from __future__ import annotations

from pathlib import Path

import click

from campaign_gitops.config.schema import any_resource_schema, render_schema, write_schemas


@click.command("schema")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write every schema (one per kind plus resource.json) into this folder.")
def schema_command(out_dir: Path | None) -> int:
    """Write the JSON Schemas of every kind, or print the dispatching one.

    \b
    Examples:
      campaign-gitops schema                 # print schemas/resource.json
      campaign-gitops schema --out schemas/  # regenerate the checked-in schemas
    """
    if out_dir is None:
        click.echo(render_schema(any_resource_schema()), nl=False)
        return 0
    for path in write_schemas(out_dir):
        click.echo(f"wrote {path}")
    return 0


def register(group: click.Group) -> None:
    group.add_command(schema_command)
