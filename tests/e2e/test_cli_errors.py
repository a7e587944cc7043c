"""No traceback ever reaches the user: operational errors are one line, a hint, exit 2."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from campaign_gitops.cli.main import cli

EXAMPLE = Path(__file__).resolve().parents[2] / "campaigns"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(EXAMPLE, tmp_path / "campaigns")
    (tmp_path / ".git").mkdir()  # the repo root
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CAMPAIGN_GITOPS_DB", raising=False)
    return tmp_path


def _run(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    return result.exit_code, result.output


@pytest.mark.parametrize(("args", "expected"), [
    (["--db", "sqlite:///{repo}/notdb.db", "status"], "is not a usable database"),
    (["--db", "sqlite:////proc/no/such/state.db", "tick"], "cannot create the folder"),
    (["--db", "postgresql+psycopg://postgres@127.0.0.1:5439/x", "status"],
     "cannot open the database"),
    (["--db", "sqlite:///{repo}/s.db", "plan", "--out", "{repo}/no/such/dir/plan.json"],
     "No such file or directory"),
    (["schema", "--out", "{repo}/notdb.db/x"], "Not a directory"),
])
def test_operational_errors_are_one_line_with_a_hint(repo: Path, args: list[str],
                                                     expected: str) -> None:
    (repo / "notdb.db").write_text("this is not a database\n")
    code, output = _run([a.format(repo=repo) for a in args])
    assert code == 2
    assert expected in output
    assert "hint:" in output
    assert "Traceback" not in output


def test_an_unexpected_error_is_an_internal_error_line(repo: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import campaign_gitops.reconcile.service as service

    def explode(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom")

    # A stand-in for any bug below the CLI: the error boundary must still hold.
    monkeypatch.setattr(service, "plan_repo", explode)
    code, output = _run(["--db", f"sqlite:///{repo}/s.db", "plan"])
    assert code == 2
    assert "internal error: RuntimeError: boom" in output
    assert "CAMPAIGN_GITOPS_DEBUG=1" in output
    assert "Traceback" not in output


def test_a_file_with_a_huge_integer_fails_alone(repo: Path) -> None:
    """A 4.4 KB file with a 4,301-digit integer: one positioned finding on that file; lint
    and plan go on with the rest (plan holds the file back: exit 1, not an internal error)."""
    bad = repo / "campaigns" / "acme" / "huge.yaml"
    bad.write_text("apiVersion: campaign-gitops/v1\nkind: Goal\nmetadata:\n  name: huge\n"
                   "  client: acme\nspec:\n  outcome: meeting\n  target: " + "9" * 4301 + "\n")
    code, output = _run(["lint", "--format", "json"])
    assert code == 1
    import json

    findings = json.loads(output)["findings"]
    assert {(f["file"], f["line"], f["column"]) for f in findings
            if f["severity"] == "error"} == {("campaigns/acme/huge.yaml", 8, 11)}
    code, output = _run(["--db", f"sqlite:///{repo}/s.db", "plan"])
    assert code == 1 and "internal error" not in output
    assert "campaigns/acme/huge.yaml" in output
