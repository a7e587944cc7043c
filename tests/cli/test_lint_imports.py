"""`lint` is the pre-commit hook and CI's first step: it must not load the database layer
(SQLAlchemy alone doubles a warm lint's start-up), nor the web or AI stacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers import make_repo

PROBE = """
import json, sys
from click.testing import CliRunner
from campaign_gitops.cli.main import cli
result = CliRunner().invoke(cli, ["--dir", sys.argv[1], "lint", "--format", "json"])
heavy = {"sqlalchemy", "fastapi", "anthropic", "alembic"}
heavy = sorted({m.split(".")[0] for m in sys.modules} & heavy)
print(json.dumps({"exit": result.exit_code, "heavy": heavy}))
"""


def test_lint_loads_no_database_web_or_ai_module(tmp_path: Path) -> None:
    folder = make_repo(tmp_path)
    out = subprocess.run([sys.executable, "-c", PROBE, str(folder)],
                         capture_output=True, text=True, check=True, cwd=tmp_path)
    answer = json.loads(out.stdout.strip().splitlines()[-1])
    assert answer == {"exit": 0, "heavy": []}
