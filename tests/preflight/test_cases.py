"""Every preflight rule case under cases/*.yaml, run against a real repo in tmp_path.

A case file holds ``rule`` and ``cases``; each case has a ``name``, optional ``action``
(test_run, run, schedule; none = lint), optional ``config`` (campaign-gitops.yaml data),
optional ``base: false`` (start from an empty repo instead of base_repo.yaml), optional
``check`` (rule ids compared; default: the file's rule), ``files`` (path -> YAML text)
and ``expect``: the exact findings of the compared rules as
{rule, severity, file, line, column}, each with an optional ``message``: a piece of
text the finding's message must contain. Other rules' findings are ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from campaign_gitops.config.bundle import load_bundle
from campaign_gitops.config.project import ProjectConfig
from campaign_gitops.preflight.engine import RUN_ACTIONS, run_preflight
from campaign_gitops.preflight.rules import all_rules

HERE = Path(__file__).parent
CASE_FILES = sorted((HERE / "cases").glob("*.yaml"))
BASE: dict[str, str] = yaml.safe_load((HERE / "base_repo.yaml").read_text())


def _cases() -> list[Any]:
    params = []
    for path in CASE_FILES:
        data = yaml.safe_load(path.read_text())
        for case in data["cases"]:
            params.append(pytest.param(data["rule"], case, id=f"{path.stem}: {case['name']}"))
    return params


def _write_repo(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def _run(root: Path, files: dict[str, str], action: str | None = None,
         config: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    _write_repo(root, files)
    bundle = load_bundle(root / "campaigns", root)
    project_config = ProjectConfig.model_validate(config or {})
    return [
        {"rule": f.rule, "severity": str(f.severity), "file": f.location.file,
         "line": f.location.line, "column": f.location.column, "message": f.message}
        for f in run_preflight(bundle, action=action, config=project_config)
    ]


@pytest.mark.parametrize(("rule", "case"), _cases())
def test_rule_case(rule: str, case: dict[str, Any], tmp_path: Path) -> None:
    files = {**(BASE if case.get("base", True) else {}), **case["files"]}
    findings = _run(tmp_path, files, case.get("action"), case.get("config"))
    compared = set(case.get("check", [rule]))
    kept = [f for f in findings if f["rule"] in compared]
    got = [{k: f[k] for k in ("rule", "severity", "file", "line", "column")} for f in kept]
    expected = [{k: v for k, v in e.items() if k != "message"} for e in case["expect"]]
    shown = "\n".join(
        f"{f['file']}:{f['line']}:{f['column']} {f['rule']} {f['severity']}: {f['message']}"
        for f in findings)
    assert got == expected, shown
    for want, finding in zip(case["expect"], kept, strict=True):
        assert want.get("message", "") in finding["message"], shown


@pytest.mark.parametrize("action", [None, *RUN_ACTIONS])
def test_base_repo_is_clean(action: str | None, tmp_path: Path) -> None:
    assert _run(tmp_path, BASE, action) == []



def test_every_rule_has_a_failing_and_a_passing_case() -> None:
    covered: dict[str, tuple[bool, bool]] = {}
    for path in CASE_FILES:
        data = yaml.safe_load(path.read_text())
        fails = any(case["expect"] for case in data["cases"])
        passes = any(not case["expect"] for case in data["cases"])
        old = covered.get(data["rule"], (False, False))
        covered[data["rule"]] = (old[0] or fails, old[1] or passes)
    for r in all_rules():
        if r.id == "SCHEMA":
            continue  # the loader's own tests cover it
        assert covered.get(r.id) == (True, True), f"{r.id} needs a failing and a passing case"
