"""A/B: cold ``lint`` of another revision and of this checkout, alternately, same repo.

    python benchmarks/lint_ab.py BASE                          # e.g. HEAD~3, a commit, a tag
    python benchmarks/lint_ab.py BASE --layout many-clients --rounds 9

Checks BASE out into a temporary git worktree, generates ``lint_bench.py``'s repo once,
then runs ``lint`` cold (cache removed before each run) with BASE's ``src/`` and with
this checkout's ``src/`` first on ``PYTHONPATH`` (same interpreter and dependencies),
alternating so both meet the same machine, and prints the best and median wall and CPU
seconds of each. A change's before/after in docs/benchmarks.md is measured this way: on
a machine whose speed drifts from one hour to the next, only an alternating comparison
says what the change did.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
import lint_bench  # noqa: E402  (the generators, beside this file)

PROGRAM = ("import sys; from campaign_gitops.cli.main import main; "
           "sys.argv[0] = 'campaign-gitops'; main()")


def cold_run(src: Path, repo: Path) -> tuple[float, float, int]:
    """Wall and CPU seconds (with the workers) and exit code of one cold lint."""
    shutil.rmtree(repo / ".campaign-gitops", ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=str(src))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PROGRAM, "--dir", "campaigns", "lint",
                           "--format", "json"], cwd=repo, env=env, stdout=subprocess.DEVNULL,
                          check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu, done.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="the revision to compare this checkout with")
    parser.add_argument("--layout", choices=("50-clients", "many-clients"),
                        default="many-clients")
    parser.add_argument("-n", "--files", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="lint-ab-"))
    tree = work / "base"
    try:
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-q",
                        str(tree), args.base], check=True)
        repo = work / "repo"
        if args.layout == "many-clients":
            lint_bench.generate_many_clients(repo, args.files)
        else:
            lint_bench.generate(repo, args.files, 50)
        sides = {f"{args.base} (base)": tree / "src", "this checkout": REPO / "src"}
        runs: dict[str, list[tuple[float, float, int]]] = {name: [] for name in sides}
        for i in range(args.rounds):
            order = list(sides) if i % 2 == 0 else list(reversed(sides))
            for name in order:
                runs[name].append(cold_run(sides[name], repo))
        table = Table(title=f"cold lint, {args.layout}, {args.files:,} "
                            f"{'campaigns' if args.layout == 'many-clients' else 'files'}, "
                            f"{args.rounds} alternating rounds, load "
                            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        for column in ("code", "wall best", "wall median", "cpu best", "cpu median", "exit"):
            table.add_column(column, justify="left" if column == "code" else "right")
        for name, rows in runs.items():
            walls, cpus = [r[0] for r in rows], [r[1] for r in rows]
            table.add_row(name, f"{min(walls):.3f}", f"{statistics.median(walls):.3f}",
                          f"{min(cpus):.3f}", f"{statistics.median(cpus):.3f}",
                          ",".join(sorted({str(r[2]) for r in rows})))
        Console().print(table)
        return 0
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
                       check=False, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
