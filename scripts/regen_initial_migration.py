"""Regenerate the initial migration from state/tables.py (development only, before 1.0).

Once a release has shipped, schema changes get a new revision instead:
``alembic revision --autogenerate`` against a database at the previous head.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

from campaign_gitops.state.db import MIGRATIONS

versions = MIGRATIONS / "versions"
for old in versions.glob("0001_*.py"):
    old.unlink()
with tempfile.TemporaryDirectory() as tmp:
    engine = create_engine(f"sqlite:///{tmp}/empty.db")
    with engine.begin() as conn:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = conn
        command.revision(cfg, message="initial schema", autogenerate=True, rev_id="0001",
                         version_path=str(versions))
for path in versions.glob("0001_*.py"):
    path.rename(versions / "0001_initial_schema.py")
print("wrote", versions / "0001_initial_schema.py")
