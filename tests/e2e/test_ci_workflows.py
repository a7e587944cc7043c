"""The workflows, the action and the pre-commit hook parse, and every `campaign-gitops`
invocation in them runs against the example repo with the real console script.

Each ``run:`` block that calls campaign-gitops is executed by bash as GitHub runs it
(``bash --noprofile --norc -eo pipefail``) in a copy of the repo, with ``${{ inputs.* }}``
and ``${{ secrets.* }}`` replaced by test values (the database secret by a SQLite file).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest

from campaign_gitops import __version__
from campaign_gitops.cli.init_cmd import ACTION_REPO, scaffold_files
from campaign_gitops.cli.main import cli, load_all_commands
from campaign_gitops.config.loader import parse_text

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SARIF_SCHEMA = REPO / "tests" / "preflight" / "data" / "sarif-schema-2.1.0.json"
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
EXPRESSION = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")


def load_yaml(path: Path, text: str | None = None) -> Any:
    """YAML 1.2 like GitHub reads it (``on`` stays a key, not ``true``)."""
    result = parse_text(path.read_text() if text is None else text, path.name)
    assert result.findings == [], result.findings
    [doc] = result.documents
    return doc.data


def action() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(REPO / "action.yml")
    return data


def test_every_file_parses() -> None:
    assert {p.name for p in WORKFLOWS} >= {"preflight.yml", "ci.yml"}
    for path in WORKFLOWS:
        workflow = load_yaml(path)
        assert {"name", "on", "jobs"} <= set(workflow) and workflow["jobs"], path.name
    assert action()["runs"]["using"] == "composite"
    [hook] = load_yaml(REPO / ".pre-commit-hooks.yaml")
    assert (hook["id"], hook["entry"]) == ("campaign-gitops-lint", "campaign-gitops lint")


# ---------------------------------------------------------------- the steps that call us


def steps(data: Mapping[str, Any]) -> Iterator[tuple[dict[str, str], dict[str, Any]]]:
    """(job env, step) of every step of a workflow or a composite action."""
    if "runs" in data:
        for step in data["runs"]["steps"]:
            yield {}, step
        return
    for job in data["jobs"].values():
        for step in job.get("steps", []):
            yield dict(job.get("env", {})), step


def calls_us(step: Mapping[str, Any]) -> bool:
    return "campaign-gitops " in str(step.get("run", ""))


def expand(text: str, values: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        assert match.group(1) in values, f"no test value for ${{{{ {match.group(1)} }}}}"
        return values[match.group(1)]

    return EXPRESSION.sub(one, str(text))


def invocations(script: str) -> Iterator[list[str]]:
    """The words after each `campaign-gitops` in a script (bash syntax left as written)."""
    for line in script.replace("\\\n", " ").splitlines():
        for part in re.split(r"&&|\|\||;|\|", line):
            words = part.split()
            if words and words[0] == "campaign-gitops":
                yield words[1:]


def command_and_options(script: str) -> Iterator[tuple[str, set[str]]]:
    """Each invocation's subcommand and every --option mentioned in the script."""
    other_programs = ("git", "python", "pip", "test", "echo")
    segments = [seg.strip() for line in script.replace("\\\n", " ").splitlines()
                for seg in re.split(r"&&|\|\||;|\|", line)]
    options = {opt for seg in segments if seg and seg.split()[0] not in other_programs
               for opt in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", seg)}
    load_all_commands()
    for words in invocations(script):
        names = [w for w in words if re.fullmatch(r"[a-z][a-z-]*", w) and w in cli.commands]
        assert names, f"no known command in: campaign-gitops {' '.join(words)}"
        yield names[0], options


def known_options(command: str) -> set[str]:
    params = [*cli.params, *cli.commands[command].params]
    return {opt for p in params if isinstance(p, click.Option)
            for opt in [*p.opts, *p.secondary_opts]}


# docs.yml builds the documentation site and never calls campaign-gitops (tested below).
@pytest.mark.parametrize("path", [*(w for w in WORKFLOWS if w.name != "docs.yml"),
                                  REPO / "action.yml"], ids=lambda p: p.name)
def test_invocations_name_commands_and_options_that_exist(path: Path) -> None:
    found = 0
    for _, step in steps(load_yaml(path)):
        if not calls_us(step):
            continue
        for command, options in command_and_options(step["run"]):
            found += 1
            unknown = {o for o in options if o.startswith("--")} - known_options(command)
            assert not unknown, f"{path.name}: `{command}` has no option {sorted(unknown)}"
    assert found, f"{path.name} never calls campaign-gitops"


# ---------------------------------------------------------------- running them for real


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A copy of the repo's campaigns and schemas, as a git repository (like a checkout)."""
    work = tmp_path / "checkout"
    work.mkdir()
    for name in ("campaigns", "schemas"):
        shutil.copytree(REPO / name, work / name)
    git = ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=work, check=True)
    subprocess.run([*git, "add", "-A"], cwd=work, check=True)
    subprocess.run([*git, "commit", "-qm", "checkout"], cwd=work, check=True)
    return work


def run_step(work: Path, step: Mapping[str, Any], job_env: Mapping[str, str],
             values: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(work), "LANG": "C.UTF-8",
           "GITHUB_STEP_SUMMARY": str(work / "summary.md"), "GITHUB_ACTION_PATH": str(REPO),
           "GITHUB_WORKSPACE": str(work)}
    env.update({k: expand(v, values) for k, v in {**job_env, **step.get("env", {})}.items()})
    script = expand(step["run"], values)
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                          cwd=work, env=env, capture_output=True, text=True, timeout=300)


def assert_no_usage_error(result: subprocess.CompletedProcess[str], where: str) -> None:
    assert result.returncode in (0, 1), f"{where}: exit {result.returncode}\n{result.stderr}"
    assert "Usage:" not in result.stderr and "No such" not in result.stderr, result.stderr


def assert_valid_sarif(path: Path) -> None:
    schema = json.loads(SARIF_SCHEMA.read_text())
    errors = [e.message for e in jsonschema.Draft4Validator(schema).iter_errors(
        json.loads(path.read_text()))]
    assert errors == []


def test_the_repos_own_workflows_run_clean_on_the_example_repo(workdir: Path) -> None:
    values = {"secrets.CAMPAIGN_GITOPS_DB": f"sqlite:///{workdir / 'ci.db'}"}
    ran = []
    for path in WORKFLOWS:
        for job_env, step in steps(load_yaml(path)):
            if calls_us(step):
                result = run_step(workdir, step, job_env, values)
                assert result.returncode == 0, f"{path.name} / {step.get('name')}:\n" \
                    f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
                ran.append(f"{path.name}: {step['name']}")
    assert ran == ["ci.yml: Schemas are fresh",
                   "preflight.yml: Lint (annotations and job summary)",
                   "preflight.yml: Lint (SARIF)", "preflight.yml: Plan"]
    assert_valid_sarif(workdir / "campaign-gitops.sarif")
    summary = (workdir / "summary.md").read_text()
    assert "### campaign-gitops lint" in summary
    assert summary.index("### campaign-gitops lint") < summary.rindex("create")  # the plan


ACTION_CASES = {
    "defaults": {},
    "everything": {"dir": "campaigns", "action": "test_run", "strict": "true",
                   "sarif": "preflight.sarif", "database-url": "DB"},
    "run": {"action": "run", "database-url": "DB"},
}


@pytest.mark.parametrize("case", sorted(ACTION_CASES))
def test_the_action_runs_with_its_inputs(workdir: Path, case: str) -> None:
    data = action()
    inputs = {name: str(spec.get("default", "")) for name, spec in data["inputs"].items()}
    inputs.update(ACTION_CASES[case])
    if inputs["database-url"] == "DB":
        inputs["database-url"] = f"sqlite:///{workdir / 'action.db'}"
    values = {f"inputs.{k}": v for k, v in inputs.items()}
    for _, step in steps(data):
        if not calls_us(step):
            continue
        condition = str(step.get("if", ""))
        if "inputs.sarif != ''" in condition and not inputs["sarif"]:
            continue
        if "inputs.database-url != ''" in condition and not inputs["database-url"]:
            continue
        result = run_step(workdir, step, {}, values)
        assert_no_usage_error(result, f"action.yml / {step['name']} ({case})")
        if case == "defaults":
            assert result.returncode == 0, result.stdout + result.stderr
    if inputs["sarif"]:
        assert_valid_sarif(workdir / inputs["sarif"])
    summary = (workdir / "summary.md").read_text()
    assert "### campaign-gitops lint" in summary
    assert ("### campaign-gitops plan" in summary) is bool(inputs["database-url"])


def test_every_expression_in_the_action_names_a_declared_input() -> None:
    data = action()
    text = (REPO / "action.yml").read_text()
    used = set(re.findall(r"inputs\.([a-z-]+)", text.split("runs:", 1)[1]))
    assert used <= set(data["inputs"])
    assert {"dir", "action", "strict", "database-url"} <= set(data["inputs"])
    assert data["runs"]["using"] == "composite"
    for step in data["runs"]["steps"]:
        assert "uses" in step or step.get("shell") == "bash"  # composite run steps need a shell


def test_preflight_workflow_triggers_and_permissions() -> None:
    data = load_yaml(REPO / ".github" / "workflows" / "preflight.yml")
    assert data["on"]["pull_request"]["paths"][:2] == ["campaigns/**", "schemas/**"]
    assert data["permissions"]["security-events"] == "write"
    uses = [s.get("uses", "") for _, s in steps(data)]
    assert any(u.startswith("github/codeql-action/upload-sarif@") for u in uses)


def test_ci_workflow_matrix_and_postgres_service() -> None:
    data = load_yaml(REPO / ".github" / "workflows" / "ci.yml")
    test = data["jobs"]["test"]
    assert test["strategy"]["matrix"]["python-version"] == ["3.11", "3.12"]
    assert test["services"]["postgres"]["image"].startswith("postgres:")
    assert test["env"]["CAMPAIGN_GITOPS_REQUIRE_PG"] == "1"
    assert test["env"]["CAMPAIGN_GITOPS_TEST_PG"].startswith("postgresql+psycopg://")
    assert [s.get("uses") for s in data["jobs"]["action"]["steps"]][1] == "./"


# ---------------------------------------------------------------- pre-commit and the scaffold


def test_the_docs_site_is_built_strictly_in_ci_and_for_pages() -> None:
    ci = [s.get("run", "") for _, s in steps(load_yaml(REPO / ".github/workflows/ci.yml"))]
    assert any(r.startswith("mkdocs build --strict") for r in ci)
    docs = load_yaml(REPO / ".github" / "workflows" / "docs.yml")
    build = [s for _, s in steps(docs)]
    assert any("'.[docs]'" in s.get("run", "") for s in build)
    assert any(s.get("run", "").startswith("mkdocs build --strict") for s in build)
    assert any(str(s.get("uses", "")).startswith("actions/deploy-pages@") for s in build)
    assert docs["jobs"]["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}


def test_pre_commit_hook_lints_the_repo_of_the_changed_files(workdir: Path) -> None:
    [hook] = load_yaml(REPO / ".pre-commit-hooks.yaml")
    assert hook["language"] == "python" and hook["pass_filenames"] is False
    files = re.compile(hook["files"])
    assert files.search("campaigns/acme/client.yaml") and files.search("campaign-gitops.yaml")
    assert not files.search("README.md")
    result = subprocess.run(shlex.split(hook["entry"]), cwd=workdir, capture_output=True,
                            text=True, env={"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(workdir)})
    assert result.returncode == 0, result.stdout + result.stderr


def test_scaffold_uses_this_action_and_this_hook() -> None:
    files = scaffold_files("acme")
    workflow = load_yaml(Path("campaigns.yml"), files[".github/workflows/campaigns.yml"])
    [step] = [s for _, s in steps(workflow) if str(s.get("uses", "")).startswith(ACTION_REPO)]
    assert step["uses"] == f"{ACTION_REPO}@v{__version__}"
    assert set(step["with"]) <= set(action()["inputs"])
    pre_commit = load_yaml(Path("p.yaml"), files[".pre-commit-config.yaml"])
    [repo] = pre_commit["repos"]
    assert repo["repo"] == f"https://github.com/{ACTION_REPO}"
    assert repo["rev"] == f"v{__version__}"
    [hook] = load_yaml(REPO / ".pre-commit-hooks.yaml")
    assert [h["id"] for h in repo["hooks"]] == [hook["id"]]


def test_docs_three_line_usage_names_this_action_and_its_inputs() -> None:
    section = (REPO / "docs" / "ci.md").read_text().split("# Pull requests and CI", 1)[1]
    snippet = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert len(snippet.strip().splitlines()) == 3
    [checkout, step] = load_yaml(Path("docs/ci.md"), snippet)
    assert checkout["uses"].startswith("actions/checkout@")
    assert step["uses"] == f"{ACTION_REPO}@v{__version__}"
    assert set(step["with"]) <= set(action()["inputs"])


@pytest.mark.parametrize(("schema", "files"), [
    ("vendor.github-workflows", [*WORKFLOWS, Path("scaffold.yml")]),
    ("vendor.github-actions", [REPO / "action.yml"]),
], ids=["workflows", "action"])
def test_files_validate_against_schemastores_github_schemas(
        tmp_path: Path, schema: str, files: list[Path]) -> None:
    scaffold = tmp_path / "scaffold.yml"  # the workflow `init` writes
    scaffold.write_text(scaffold_files("acme")[".github/workflows/campaigns.yml"])
    paths = [str(scaffold if p.name == "scaffold.yml" else p) for p in files]
    result = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", schema, *paths],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
