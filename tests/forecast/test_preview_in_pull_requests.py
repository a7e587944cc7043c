"""The action's "Message previews" step, run with bash as the runner runs it: in a pull
request (``GITHUB_BASE_REF`` set) it fetches the base branch and appends to the job
summary (and to the file the pull-request comment reads) a diff of every changed step's
message; outside one it does nothing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.e2e.test_ci_workflows import REPO, action, run_step, steps

GIT = ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.com"]


def _step() -> dict[str, Any]:
    (step,) = [s for _, s in steps(action()) if s.get("name") == "Message previews"]
    return step


def _checkout(tmp_path: Path) -> Path:
    """A pull request's checkout: the base branch pushed to an origin, then a change."""
    work = tmp_path / "checkout"
    work.mkdir()
    shutil.copytree(REPO / "campaigns", work / "campaigns")
    subprocess.run([*GIT, "init", "-q", "-b", "main"], cwd=work, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=work, check=True)
    subprocess.run([*GIT, "commit", "-qm", "base"], cwd=work, check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(tmp_path / "origin.git")],
                   check=True)
    subprocess.run(["git", "remote", "add", "origin", str(tmp_path / "origin.git")], cwd=work,
                   check=True)
    subprocess.run([*GIT, "checkout", "-q", "-b", "change"], cwd=work, check=True)
    email = work / "campaigns" / "acme" / "templates" / "email.yaml"
    email.write_text(email.read_text().replace("Worth a 30-minute look next week?",
                                               "Worth 20 minutes on Thursday?"))
    return work


def test_the_step_puts_the_changed_messages_in_the_summary(tmp_path: Path) -> None:
    work = _checkout(tmp_path)
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    result = run_step(work, _step(), {"GITHUB_BASE_REF": "main", "RUNNER_TEMP": str(temp)},
                      {"inputs.dir": ""})
    assert result.returncode == 0, result.stdout + result.stderr
    summary = (work / "summary.md").read_text()
    assert summary == (temp / "campaign-gitops-preview.md").read_text()
    assert "### campaign-gitops preview: messages changed since `FETCH_HEAD`" in summary
    assert "#### `acme/cto-au-q1` (changed)" in summary
    assert "-Worth a 30-minute look next week?" in summary
    assert "+Worth 20 minutes on Thursday?" in summary


def test_outside_a_pull_request_the_step_does_nothing(tmp_path: Path) -> None:
    work = _checkout(tmp_path)
    result = run_step(work, _step(), {}, {"inputs.dir": ""})
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (work / "summary.md").exists()
