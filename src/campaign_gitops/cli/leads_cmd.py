"""``leads``: the lead pool (``leads import``; ``leads forget`` and ``leads export``
come from recipients_cmd.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from campaign_gitops.cli.common import (
    Context,
    echo_as_json,
    format_option,
    pass_context,
)
from campaign_gitops.textsafe import printable

if TYPE_CHECKING:
    from campaign_gitops.runs.leads import ImportReport


@click.group("leads")
def leads_group() -> None:
    """The lead pool.

    \b
    Example:
      campaign-gitops leads import examples/leads.csv
    """


def _imported_text(report: ImportReport, file: Path, skip_invalid: bool) -> None:
    for error in report.errors:
        click.echo(f"{file}:{error.line}: {printable(error.reason)}", err=True)
    if report.errors and not skip_invalid:
        click.echo(f"{len(report.errors)} bad row(s) of {report.rows}: nothing imported "
                   "(fix them, or pass --skip-invalid)", err=True)
    else:
        skipped = f", {len(report.errors)} skipped" if report.errors else ""
        click.echo(f"imported {report.imported} lead(s) from {file}{skipped}")


def _imported_json(report: ImportReport, file: Path, skip_invalid: bool) -> None:
    echo_as_json(report)


IMPORT_FORMATS = {"text": _imported_text, "json": _imported_json}


@leads_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--skip-invalid", is_flag=True, help="Import the good rows, report the rest.")
@click.option("--confidence-scale", type=click.FloatRange(min=1.0), default=1.0,
              show_default=True, help="Divide enrichment_confidence by this (100: the file "
                                      "has percentages).")
@format_option(IMPORT_FORMATS)
@pass_context
def leads_import(ctx: Context, file: Path, skip_invalid: bool, confidence_scale: float,
                 fmt: str) -> int:
    """Import leads from a CSV file (upsert by email); exit 1 when rows are bad.

    \b
    Example:
      campaign-gitops leads import examples/leads.csv --skip-invalid
    """
    from campaign_gitops.runs.leads import import_csv

    with ctx.session() as session:
        report = import_csv(session, file, skip_invalid=skip_invalid,
                            confidence_scale=confidence_scale)
    IMPORT_FORMATS[fmt](report, file, skip_invalid)
    if report.errors and not skip_invalid:
        return 1
    return 0


def register(group: click.Group) -> None:
    from campaign_gitops.cli.recipients_cmd import leads_export, leads_forget

    leads_group.add_command(leads_forget)
    leads_group.add_command(leads_export)
    group.add_command(leads_group)
