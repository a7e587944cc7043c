"""Every benchmark still runs: each script at a tiny size, as a subprocess, exit 0.

Benchmarks are not timed here (tests never assert time); this only keeps them from
rotting while the code under them changes (``reconcile_bench.py`` read a plan attribute
that no longer existed, ``ui_bench.py`` wrote run configs the pages could no longer read).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

RUNS = {
    "lint_bench.py": ["-n", "900", "--rounds", "1", "--skip-check-jsonschema"],
    "reconcile_bench.py": ["--campaigns", "100", "--backends", "sqlite"],
    "daemon_bench.py": ["--campaigns", "50", "--edits", "2", "--backend", "sqlite",
                        "--interval", "2"],
    "forecast_bench.py": ["--leads", "2000", "--runs", "5", "--repeat", "1",
                          "--backends", "sqlite"],
    "inbound_bench.py": ["--messages", "500", "--campaigns", "2", "--mails", "10",
                         "--posts", "5"],
    "runs_bench.py": ["--pool", "2000", "--take", "200", "--allocators", "2", "--campaigns",
                      "2", "--batch", "50", "--smtp-campaigns", "1", "--repeat", "1",
                      "--backend", "sqlite", "--layout", "both"],
    "ui_bench.py": ["--campaigns", "20", "--enrollments", "1", "--requests", "1"],
    "remote_bench.py": ["--campaigns", "20", "--clients", "2", "--edits", "1",
                        "--backend", "sqlite"],
}


def test_every_benchmark_is_listed() -> None:
    assert {p.name for p in BENCHMARKS.glob("*_bench.py")} == set(RUNS)


@pytest.mark.parametrize("script", sorted(RUNS))
def test_the_benchmark_runs_at_a_tiny_size(script: str, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), *RUNS[script]],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]


def test_the_ab_comparison_runs(tmp_path: Path) -> None:
    repo = BENCHMARKS.parent
    if subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                      check=False).returncode != 0:
        pytest.skip("lint_ab.py compares git revisions: this checkout is no git repository")
    done = subprocess.run([sys.executable, str(BENCHMARKS / "lint_ab.py"), "HEAD",
                           "--rounds", "1", "-n", "300"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "this checkout" in done.stdout
