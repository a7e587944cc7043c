"""What every command shares: the click context object and its decorator."""

from __future__ import annotations

from dataclasses import dataclass

import click

from campaign_gitops.config.project import Project


@dataclass
class Context:
    """What every command gets: the project and the database URL option."""

    dir: str
    db: str | None

    @property
    def project(self) -> Project:
        return Project.discover(self.dir)


pass_context = click.make_pass_decorator(Context)
