"""Write the next Alembic revision from the difference between state/tables.py and the
schema the existing revisions build (development tool).

    .venv/bin/python scripts/new_migration.py "recurring schedule runs"

Upgrades a scratch SQLite database to the current head, autogenerates the next
revision (numbered 0002, 0003, … in state/migrations/versions/) against it and prints
its path. Read the result before committing: autogenerate cannot tell a rename from a
drop and an add, and data migrations are written by hand. tests/state/test_migrations.py
fails while tables.py and the revisions disagree.
"""

from __future__ import annotations

import re
import sys
import tempfile

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

from campaign_gitops.state.db import MIGRATIONS


def main(message: str) -> None:
    versions = MIGRATIONS / "versions"
    numbers = [int(m.group(1)) for p in versions.glob("*.py")
               if (m := re.match(r"(\d{4})_", p.name))]
    rev_id = f"{max(numbers, default=0) + 1:04d}"
    slug = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{tmp}/scratch.db")
        with engine.begin() as conn:
            cfg = Config()
            cfg.set_main_option("script_location", str(MIGRATIONS))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            command.revision(cfg, message=message, autogenerate=True, rev_id=rev_id,
                             version_path=str(versions))
    for path in versions.glob(f"{rev_id}_*.py"):
        target = versions / f"{rev_id}_{slug}.py"
        path.rename(target)
        print("wrote", target)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
