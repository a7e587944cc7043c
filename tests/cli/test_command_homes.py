"""Running a command imports only the module that defines it: every command's home is
known (``cli.main.command_home``), and the everyday database commands do not import the
AI SDK (about 1.5 s of start-up) or the web stack."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from campaign_gitops.cli.main import COMMAND_MODULES, command_home
from tests.helpers import make_repo


def _defined_in() -> dict[str, str]:
    homes: dict[str, str] = {}
    for module in COMMAND_MODULES:
        group = click.Group("probe")
        importlib.import_module(module).register(group)
        for name in group.commands:
            assert name not in homes, f"{name} is defined in {homes.get(name)} and {module}"
            homes[name] = module
    return homes


def test_every_command_has_its_home() -> None:
    homes = _defined_in()
    assert {"lint", "apply", "client", "halt", "reconcile", "suppressions", "tick"} <= set(homes)
    assert {name: command_home(name) for name in homes} == homes
    assert command_home("no-such-command") is None


PROBE = """
import json, sys
from click.testing import CliRunner
from campaign_gitops.cli.main import cli
result = CliRunner().invoke(cli, ["--dir", sys.argv[1], *sys.argv[2:]])
heavy = {"anthropic", "fastapi", "uvicorn"}
heavy = sorted({m.split(".")[0] for m in sys.modules} & heavy)
print(json.dumps({"exit": result.exit_code, "heavy": heavy}))
"""


@pytest.mark.parametrize("args", [
    ["apply", "--auto-approve", "--now", "2026-12-01T22:00:00Z"],
    ["client", "list", "--help"], ["halt", "--help"], ["history", "--help"]])
def test_database_commands_load_no_ai_or_web_module(tmp_path: Path, args: list[str]) -> None:
    folder = make_repo(tmp_path)
    out = subprocess.run([sys.executable, "-c", PROBE, str(folder), *args],
                         capture_output=True, text=True, check=True, cwd=tmp_path)
    answer = json.loads(out.stdout.strip().splitlines()[-1])
    assert answer == {"exit": 0, "heavy": []}
