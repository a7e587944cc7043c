"""The reconcile tests' fixtures: a repo in tmp_path (tests.helpers.make_repo) as a Project,
and a database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from campaign_gitops.config.project import Project
from campaign_gitops.state.db import Database, open_database
from tests.helpers import make_repo

NOW = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)  # the clock apply is given


@pytest.fixture
def repo(tmp_path: Path) -> Callable[..., Project]:
    """``repo(files)`` writes the files (the example repository by default), returns the
    Project."""
    def make(files: dict[str, str] | None = None) -> Project:
        make_repo(tmp_path, files)
        return Project(root=tmp_path, resources_dir=tmp_path / "campaigns")
    return make


@pytest.fixture
def database(db_url: str) -> Database:
    db = open_database(db_url)
    yield db  # type: ignore[misc]
    db.dispose()
