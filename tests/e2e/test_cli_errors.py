"""No traceback ever reaches the user: operational errors are one line, a hint, exit 2."""

from __future__ import annotations

import json
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

    findings = json.loads(output)["findings"]
    assert {(f["file"], f["line"], f["column"]) for f in findings
            if f["severity"] == "error"} == {("campaigns/acme/huge.yaml", 8, 11)}
    code, output = _run(["--db", f"sqlite:///{repo}/s.db", "plan"])
    assert code == 1 and "internal error" not in output
    assert "campaigns/acme/huge.yaml" in output


# Values that Python or the databases cannot hold: each through lint, plan and
# reconcile --once, a SCHEMA error on the file and line that holds it, the rest of the
# repo linted, planned and applied, never an internal error from a later step
# (printing the number, converting the time to UTC, binding it in SQL).
GOALS = "campaigns/acme/goals.yaml"
SEGMENT = "campaigns/acme/segments/cto-au.yaml"
CAMPAIGN = "campaigns/acme/campaigns/cto-au-q1.yaml"
SCHEDULE = "campaigns/acme/schedule.yaml"
AT = 'at: "2026-12-01T09:00:00+11:00"'
DESCRIPTION = b"description: A 30-minute platform demo booked with a technical decision maker."

# (id, file, text replaced, replacement, line of the finding)
CASES = [
    ("hex-integer-of-4000-digits", GOALS, b"target: 40", b"target: 0x" + b"f" * 4000, 10),
    ("octal-integer-of-5000-digits", GOALS, b"target: 40", b"target: 0o" + b"7" * 5000, 10),
    ("integer-beyond-64-bits", SEGMENT, b"employeeMax: 1000",
     b"employeeMax: 99999999999999999999", 11),
    ("negative-integer-beyond-64-bits", SEGMENT, b"employeeMin: 50",
     b"employeeMin: -99999999999999999999", 10),
    ("float-1e999", GOALS, b"target: 40", b"target: 1e999", 10),
    ("float-inf", GOALS, b"target: 40", b"target: .inf", 10),
    ("float-nan", GOALS, b"target: 40", b"target: .nan", 10),
    ("float-of-5000-digits", GOALS, b"target: 40", b"target: 1" + b"0" * 5000 + b".5", 10),
    ("float-where-an-integer-goes", CAMPAIGN, b"dailyLimit: 60", b"dailyLimit: 1e999", 23),
    ("at-year-0", CAMPAIGN, AT.encode(), b'at: "0000-12-01T09:00:00+11:00"', 29),
    ("at-year-99999", CAMPAIGN, AT.encode(), b'at: "99999-12-01T09:00:00+11:00"', 29),
    ("at-before-year-1-in-utc", CAMPAIGN, AT.encode(), b'at: "0001-01-01T00:00:00+11:00"', 29),
    ("at-after-year-9999-in-utc", CAMPAIGN, AT.encode(), b'at: "9999-12-31T23:59:59-11:00"',
     29),
    ("skip-date-year-0", SCHEDULE, b"skipDates: [2026-12-25", b"skipDates: [0000-12-25", 12),
    ("skip-date-year-1", SCHEDULE, b"skipDates: [2026-12-25", b"skipDates: [0001-01-01", 12),
    ("skip-date-year-99999", SCHEDULE, b"skipDates: [2026-12-25", b"skipDates: [99999-12-25",
     12),
    ("invalid-utf8", GOALS, b"A 30-minute", b"A \xff\xfe 30-minute", 8),
    ("nul-byte", GOALS, b"A 30-minute", b"A \x00 30-minute", 8),
    ("escaped-nul-in-a-string", GOALS, DESCRIPTION, b'description: "A \\0 demo"', 8),
    ("lone-surrogate-escape", GOALS, DESCRIPTION, b'description: "A \\uD800 demo"', 8),
    ("key-of-5000-characters", GOALS, b"target: 40", b"target: 40\n  " + b"k" * 5000 + b": 1",
     11),
]


def _replace(path: Path, old: bytes, new: bytes) -> None:
    raw = path.read_bytes()
    assert old in raw
    path.write_bytes(raw.replace(old, new, 1))


def _no_crash(output: str) -> None:
    for word in ("internal error", "Traceback", "OverflowError", "ValueError"):
        assert word not in output


@pytest.mark.parametrize(("file", "old", "new", "line"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_a_bad_value_is_a_finding_on_its_file(repo: Path, file: str, old: bytes, new: bytes,
                                             line: int) -> None:
    _replace(repo / file, old, new)
    code, output = _run(["lint", "--format", "json"])
    assert code == 1, output
    errors = [f for f in json.loads(output)["findings"] if f["severity"] == "error"]
    own = [f for f in errors if f["file"] == file]
    assert [(f["rule"], f["line"]) for f in own] == [("SCHEMA", line)], errors
    # Every other error is about a reference to what does not load from that file.
    assert all(file in f["message"] for f in errors if f["file"] != file), errors

    db = f"sqlite:///{repo}/state.db"
    code, output = _run(["--db", db, "plan"])
    assert code == 1 and file in output, output
    _no_crash(output)
    code, output = _run(["--db", db, "reconcile", "--once"])
    assert code == 1, output
    _no_crash(output)
    # The rest of the repo was applied: another client's resources exist.
    code, output = _run(["--db", db, "status", "--format", "json"])
    assert code == 0 and "globex" in output, output


def test_a_byte_order_mark_is_no_finding(repo: Path) -> None:
    goals = repo / GOALS
    goals.write_bytes(b"\xef\xbb\xbf" + goals.read_bytes())
    code, output = _run(["lint", "--format", "json"])
    assert code == 0, output
    assert [f for f in json.loads(output)["findings"] if f["severity"] == "error"] == []
