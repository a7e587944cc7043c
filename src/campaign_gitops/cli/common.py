"""What every command shares: the click context object and its decorator.

``Context`` resolves the effective configuration once, on first use: flags >
``campaign-gitops.yaml`` > environment > defaults (``config/settings.py``). ``dir``,
``db``, ``project`` and ``config`` all answer from it, so a command that uses any of
them honours the file; an invalid file fails them with a ProjectConfigError naming
every file:line:column.
"""

from __future__ import annotations

import datetime as dt
from functools import cached_property
from typing import Any

import click

from campaign_gitops.config.project import Project, ProjectConfig
from campaign_gitops.config.project_file import ProjectConfigError, rule_override_findings
from campaign_gitops.config.settings import Settings, resolve


def rule_severities() -> dict[str, set[str]]:
    """Rule id -> the severities it can have in any action (from the preflight registry)."""
    from campaign_gitops.preflight.registry import Conditional, all_rules

    out: dict[str, set[str]] = {"SCHEMA": {"error"}}
    for rule in all_rules():
        levels = out.setdefault(rule.id, set())
        for cell in rule.severities.values():
            if isinstance(cell, Conditional):
                levels.update(("error", "warning"))
            elif cell is not None:
                levels.add(str(cell))
    return out


class Context:
    """What every command gets: the effective settings, the project, the database URL.

    ``dir_option``/``db_option`` are the global options as given on the command line
    (None when not given there; values click read from the environment count as
    environment, below the file).
    """

    def __init__(self, dir: str | None = None, db: str | None = None) -> None:
        self.dir_option = dir
        self.db_option = db

    @cached_property
    def settings(self) -> Settings:
        """Every effective value and where it came from (never raises for a bad file)."""
        return resolve(dir_flag=self.dir_option, db_flag=self.db_option)

    @cached_property
    def config(self) -> ProjectConfig:
        """The validated campaign-gitops.yaml with the effective folder and database."""
        settings = self.settings
        config = settings.require()
        problems = rule_override_findings(settings.file, rule_severities())
        if problems:
            raise ProjectConfigError(problems)
        return config

    @property
    def project(self) -> Project:
        self.config  # noqa: B018 - a broken configuration fails every command that uses it
        return Project(root=self.settings.root, resources_dir=self.settings.resources_dir)

    @property
    def dir(self) -> str:
        """The effective resources folder (absolute)."""
        return str(self.project.resources_dir)

    @property
    def db(self) -> str:
        """The effective database URL: ``--db`` > file > ``CAMPAIGN_GITOPS_DB`` > SQLite."""
        self.config  # noqa: B018
        return self.settings.database_url

    database_url = db


pass_context = click.make_pass_decorator(Context)


def parse_now(value: str | None) -> dt.datetime:
    """``--now`` (ISO 8601; no offset means UTC), else the current time."""
    if not value:
        return dt.datetime.now(dt.UTC)
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time, e.g. "
                                 "2026-12-01T09:00:00+11:00", param_hint="--now") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def now_option(help: str = "Act as of this time (ISO 8601; no offset means UTC); "
               "default: the current time.") -> Any:
    """``--now``: the clock of a command, given by its caller (simulations, tests)."""
    return click.option("--now", "now_text", metavar="ISO", help=help)


def attention_lines(counts: dict[str, int], indent: str = "  ") -> None:
    """The messages that need a person: unknown (settle them) and stuck."""
    if counts.get("unknown"):
        click.secho(f"{indent}attention: {counts['unknown']} message(s) unknown: they may have "
                    "gone out; see `communications --status unknown`, then `communications "
                    "settle ID… --as sent|failed|resend`", fg="yellow")
    if counts.get("stuck"):
        click.secho(f"{indent}attention: {counts['stuck']} message(s) stuck queued or sending "
                    "past the lease (a halt, a pause or a closed window holds them, or no "
                    "tick ran since a crash)", fg="yellow")
