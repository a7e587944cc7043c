"""Every module of src/ does one thing and reads in one sitting: at most 450 lines
(a module that grows past it is split by job, as loader.py into discovery.py)."""

from __future__ import annotations

from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "campaign_gitops"
MAX_LINES = 450


def test_no_module_is_over_450_lines() -> None:
    sizes = {path.relative_to(SRC).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
             for path in SRC.rglob("*.py")}
    assert len(sizes) > 100  # the package, not an empty folder
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}
