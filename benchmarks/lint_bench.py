"""Benchmark ``campaign-gitops lint`` against ``check-jsonschema`` on a generated repo.

Generates N resource files (default 10,000) over 50 clients into a temporary folder:
per client a Client, Writer, Reviewer, Schedule and 4 Goals, 4 Segments and 4
Templates; the rest are Campaigns referring to them (one document per file, so
check-jsonschema, which rejects multi-document YAML, can read every file).

``--layout many-clients`` spreads N campaigns (default 10,000) over N / 8 client
folders instead (1,250 clients of 8 campaigns each), every client's library (one
Writer, Reviewer, Schedule, Goal, Segment, Template) in one multi-document
``library.yaml`` beside its ``client.yaml``; check-jsonschema then
reads the campaign files only. Then runs, side by side, each as a real subprocess:

* our cold ``lint`` (no cache yet: load, schema, semantic and preflight checks with
  positions, cache written),
* our warm ``lint`` (nothing changed: answered from the cache),
* our ``lint`` after editing one file (the others' parsed data from the parse cache),
* our ``lint --no-cache`` (same as cold, without writing the cache),
* ``check-jsonschema`` validating the same files against the same schema
  (``schemas/resource.json``; schema only, no positions, one process).

    python benchmarks/lint_bench.py                 # 10,000 files, the full table
    python benchmarks/lint_bench.py -n 2000 --skip-check-jsonschema
    python benchmarks/lint_bench.py --layout many-clients   # 1,250 clients x 8 campaigns
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
Row = tuple[str, str, float, float, int, str]  # run, does, wall, cpu, exit, output tail
PER_CLIENT = 16  # client, writer, reviewer, schedule, 4 goals, 4 segments, 4 templates
INDUSTRIES = ["software", "fintech", "logistics", "manufacturing", "healthcare", "retail"]
COUNTRIES = ["AU", "NZ", "US", "CA", "DE", "NO", "SE", "NL", "GB", "FR"]
TZ = ["Australia/Sydney", "America/Chicago", "Europe/Berlin", "Europe/Oslo", "UTC"]
HEAD = ("# yaml-language-server: $schema=../../schemas/resource.json\n"
        "apiVersion: campaign-gitops/v1\n")


def _client(c: str, i: int) -> str:
    return HEAD + f"""kind: Client
metadata:
  name: {c}
  labels: {{region: r{i % 5}}}
spec:
  tier: dominance
  timezone: {TZ[i % len(TZ)]}
  resources:
    emailDomain: mail.{c}.example
    phoneNumber: "+61 2 8000 {1000 + i}"
  icp:
    industries: [{INDUSTRIES[i % 6]}, {INDUSTRIES[(i + 1) % 6]}]
    titles: [CTO, VP Engineering]
    locations: [{COUNTRIES[i % 10]}]
"""


def _library(c: str, i: int, variants: int = 4) -> dict[str, str]:
    files = {
        "writer.yaml": HEAD + f"kind: Writer\nmetadata: {{name: plain, client: {c}}}\n"
                              "spec: {type: template}\n",
        "reviewer.yaml": HEAD + f"""kind: Reviewer
metadata: {{name: brand, client: {c}}}
spec:
  type: rules
  bannedPhrases: [guarantee, risk-free]
  maxLength: {{email: 1200}}
""",
        "schedule.yaml": HEAD + f"""kind: Schedule
metadata: {{name: hours, client: {c}}}
spec:
  timezone: {TZ[i % len(TZ)]}
  workHours: {{start: 09:00, end: 17:00}}
  workDays: [1, 2, 3, 4, 5]
  dailyLimit: 100
""",
    }
    for k in range(variants):
        files[f"goals/goal-{k}.yaml"] = HEAD + f"""kind: Goal
metadata: {{name: goal-{k}, client: {c}}}
spec:
  description: Meetings booked with decision makers, wave {k}.
  outcome: {["meeting", "reply", "conversion", "awareness"][k]}
  target: {10 * (k + 1)}
"""
        files[f"segments/segment-{k}.yaml"] = HEAD + f"""kind: Segment
metadata: {{name: segment-{k}, client: {c}}}
spec:
  industries: [{INDUSTRIES[k]}, {INDUSTRIES[k + 1]}]
  countries: [{COUNTRIES[k]}, {COUNTRIES[k + 3]}]
  employeeMin: {50 * (k + 1)}
  employeeMax: 5000
  seniorities: [c_suite, vp, director]
  titles: [CTO, Engineering]
  emailStatus: verified
"""
        files[f"templates/template-{k}.yaml"] = HEAD + f"""kind: Template
metadata: {{name: template-{k}, client: {c}}}
spec:
  channel: email
  subject: "{{{{company}}}} and the wave {k} question"
  body: |
    Hi {{{{first_name | there}}}},

    A short note about {{{{company}}}}: teams like yours use us to stop firefighting.
    Worth fifteen minutes next week?

    {{{{sender_name}}}}

    Unsubscribe: {{{{unsubscribe_url}}}}
"""
    return files


def _campaign(c: str, n: int, variants: int = 4) -> str:
    k = n % variants
    return HEAD + f"""kind: Campaign
metadata:
  name: campaign-{n}
  client: {c}
  labels: {{team: growth, wave: w{k}}}
spec:
  description: Generated campaign {n} for {c}.
  status: active
  type: custom
  channel: email
  goal: goal-{k}
  segment: segment-{k}
  writer: plain
  reviewer: brand
  template: template-{k}
  schedule: hours
  dailyLimit: {20 + n % 50}
  testRecipients: [qa@{c}.example]
"""


def generate(root: Path, files: int, clients: int) -> Path:
    """Write ``files`` resource files over ``clients`` clients; return the resources dir."""
    base = root / "campaigns"
    (root / ".git").mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "schemas", root / "schemas", dirs_exist_ok=True)
    names = [f"client-{i:02d}" for i in range(clients)]
    written = 0
    for i, c in enumerate(names):
        for rel, text in {"client.yaml": _client(c, i), **_library(c, i)}.items():
            path = base / c / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text.replace("../../schemas", "../../../schemas")
                            if "/" in rel else text)
            written += 1
    n = 0
    while written < files:
        c = names[n % clients]
        path = base / c / "campaigns" / f"campaign-{n}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_campaign(c, n).replace("../../schemas", "../../../schemas"))
        written += 1
        n += 1
    # Tier limits sized for the generated load (PF014 would otherwise flag every client).
    (root / "campaign-gitops.yaml").write_text(
        "tiers:\n  dominance: {ai: 1000, custom: 1000}\n")
    return base


def generate_many_clients(root: Path, campaigns: int, per_client: int = 8) -> Path:
    """Write ``campaigns`` campaign files, ``per_client`` per client folder, each folder
    with its Client and a one-file library (a Writer, Reviewer, Schedule, Goal, Segment
    and Template as documents of ``library.yaml``); return the resources dir."""
    base = root / "campaigns"
    (root / ".git").mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "schemas", root / "schemas", dirs_exist_ok=True)
    clients = -(-campaigns // per_client)
    for i in range(clients):
        c = f"client-{i:04d}"
        folder = base / c
        (folder / "campaigns").mkdir(parents=True)
        (folder / "client.yaml").write_text(_client(c, i))
        (folder / "library.yaml").write_text("---\n".join(_library(c, i, 1).values()))
        for n in range(i * per_client, min((i + 1) * per_client, campaigns)):
            (folder / "campaigns" / f"campaign-{n}.yaml").write_text(
                _campaign(c, n, 1).replace("../../schemas", "../../../schemas"))
    (root / "campaign-gitops.yaml").write_text(
        "tiers:\n  dominance: {ai: 1000, custom: 1000}\n")
    return base


def _timed(cmd: list[str], cwd: Path) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds (user + system of the process and its workers), exit, tail."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.returncode, (proc.stdout + proc.stderr)[-400:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--files", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--layout", choices=("50-clients", "many-clients"),
                        default="50-clients",
                        help="many-clients: -n campaigns, 8 per client folder")
    parser.add_argument("--rounds", type=int, default=3,
                        help="best of this many runs of ours (check-jsonschema runs once)")
    parser.add_argument("--keep", type=Path, help="generate into this folder and keep it")
    parser.add_argument("--skip-check-jsonschema", action="store_true")
    args = parser.parse_args(argv)
    if args.layout == "50-clients" and args.files < args.clients * (PER_CLIENT + 1):
        parser.error(f"need at least {args.clients * (PER_CLIENT + 1)} files")

    tmp = args.keep or Path(tempfile.mkdtemp(prefix="lint-bench-"))
    bin_dir = Path(sys.executable).parent
    ours = [str(bin_dir / "campaign-gitops"), "--dir", "campaigns", "lint", "--format", "json"]
    try:
        if args.layout == "many-clients":
            resources = generate_many_clients(tmp, args.files)
            edited = resources / "client-0000" / "campaigns" / "campaign-0.yaml"
            pattern = "campaigns/*.yaml"  # check-jsonschema: the campaign files alone
        else:
            resources = generate(tmp, args.files, args.clients)
            edited = resources / "client-00" / "campaigns" / "campaign-0.yaml"
            pattern = "*.yaml"
        files = sorted(str(p.relative_to(tmp)) for p in resources.rglob(pattern))
        cache = tmp / ".campaign-gitops" / "cache"
        rows: list[Row] = []

        def best(label: str, what: str, cmd: list[str], before: object = None,
                 rounds: int = args.rounds) -> None:
            runs, code, tail = [], 0, ""
            for _ in range(rounds):
                if callable(before):
                    before()
                wall, cpu, code, tail = _timed(cmd, tmp)
                runs.append((wall, cpu))
            wall, cpu = min(runs)
            rows.append((label, what, wall, cpu, code, tail))

        def drop_cache() -> None:
            shutil.rmtree(cache, ignore_errors=True)

        best("campaign-gitops lint (cold)", "schema + semantic + preflight, positions",
             ours, drop_cache)
        best("campaign-gitops lint (warm)", "nothing changed, from the cache", ours)
        counter = iter(range(1, 1000))

        def edit_one() -> None:
            text = edited.read_text()
            edited.write_text(text.replace("dailyLimit:", f"dailyLimit: {next(counter)} #", 1))

        best("campaign-gitops lint (1 file changed)", "others from the parse cache", ours,
             edit_one)
        best("campaign-gitops lint --no-cache", "as cold, no cache written",
             [*ours, "--no-cache"])
        if not args.skip_check_jsonschema:
            best("check-jsonschema", "schema only, no positions, one process",
                 [str(bin_dir / "check-jsonschema"), "--schemafile", "schemas/resource.json",
                  *files], rounds=1)  # ~80 s: once
        total = sum(1 for _ in resources.rglob("*.yaml"))
        _print(rows, total, os.getloadavg(), args.layout)
        return 0 if all(row[4] == 0 for row in rows) else 1
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


def _print(rows: list[Row], files: int, load: tuple[float, float, float],
           layout: str) -> None:
    from rich.console import Console
    from rich.table import Table

    reference = next((r[2] for r in rows if r[0] == "check-jsonschema"), None)
    table = Table(title=f"lint benchmark ({layout}): {files:,} files, {os.cpu_count()} cores, "
                        f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for col in ("run", "does", "wall s", "cpu s", "files/s", "vs check-jsonschema", "exit"):
        table.add_column(col, justify="right" if col not in ("run", "does") else "left")
    for label, what, wall, cpu, code, _ in rows:
        ratio = f"{reference / wall:.1f}x" if reference else "-"
        table.add_row(label, what, f"{wall:.2f}", f"{cpu:.2f}", f"{files / wall:,.0f}", ratio,
                      str(code))
    Console(width=160).print(table)
    for label, _, _, _, code, tail in rows:
        if code != 0:
            Console(stderr=True).print(f"[red]{label} exited {code}[/red]: {tail}")


if __name__ == "__main__":
    sys.exit(main())
