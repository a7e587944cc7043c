"""``lint`` ends its process without the last garbage collection, and only its process."""

from __future__ import annotations

import atexit
import subprocess
import sys
from pathlib import Path

import pytest

from campaign_gitops.cli import common

REPO = Path(__file__).resolve().parents[2]


def test_only_the_program_skips_it(monkeypatch: pytest.MonkeyPatch) -> None:
    registered: list[object] = []
    monkeypatch.setattr(atexit, "register", registered.append)
    monkeypatch.setitem(common.PROGRAM, "standalone", False)
    common.skip_final_collection()
    assert registered == []  # a test runner's process goes on: nothing frozen
    monkeypatch.setitem(common.PROGRAM, "standalone", True)
    common.skip_final_collection()
    import gc

    assert registered == [gc.freeze]


def test_the_program_still_writes_everything(tmp_path: Path) -> None:
    code = ("import sys; from campaign_gitops.cli.main import main; "
            "sys.argv = ['campaign-gitops', '--dir', sys.argv[1], 'lint', '--format', 'json',"
            " '--output', sys.argv[2]]; main()")
    report = tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-c", code, str(REPO / "campaigns"), str(report)],
                          cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode in (0, 1), done.stderr
    assert done.stderr == ""
    assert report.read_text().rstrip().endswith("}")
    assert '"summary"' in report.read_text()
