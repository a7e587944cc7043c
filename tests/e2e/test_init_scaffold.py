"""`campaign-gitops init`: a new repo that lints and plans at once, and never overwrites."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from campaign_gitops import __version__
from campaign_gitops.cli.init_cmd import scaffold_files
from campaign_gitops.config.bundle import load_bundle
from campaign_gitops.config.models import KINDS
from campaign_gitops.config.schema import all_schemas, render_schema

CLI = str(Path(sys.executable).parent / "campaign-gitops")
REPO = Path(__file__).resolve().parents[2]
SCAFFOLD = REPO / "src" / "campaign_gitops" / "scaffold"


def cg(cwd: Path, *args: str,
       env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin", "HOME": str(cwd)}
    return subprocess.run([CLI, *args], cwd=cwd, capture_output=True, text=True,
                          env={**base, **(env or {})}, timeout=120)


@pytest.fixture
def scaffolded(tmp_path: Path) -> Path:
    target = tmp_path / "new-repo"
    result = cg(tmp_path, "init", "new-repo", "--client", "initech")
    assert result.returncode == 0, result.stderr
    subprocess.run(["git", "init", "-q", str(target)], check=True)
    return target


def test_init_writes_every_piece(scaffolded: Path) -> None:
    names = (p.relative_to(scaffolded).as_posix() for p in scaffolded.rglob("*") if p.is_file())
    files = sorted(name for name in names if not name.startswith(".git/"))
    assert files == sorted(scaffold_files("initech"))
    for required in (".github/workflows/campaigns.yml", ".pre-commit-config.yaml", ".gitignore",
                     "campaign-gitops.yaml", "README.md", "schemas/resource.json",
                     "schemas/project.json", "campaigns/initech/campaign.yaml"):
        assert required in files
    assert "__CLIENT__" not in "".join((scaffolded / f).read_text() for f in files)


def test_one_resource_of_every_kind_for_the_client(scaffolded: Path) -> None:
    bundle = load_bundle(scaffolded / "campaigns", scaffolded)
    assert bundle.findings == []
    assert sorted(key.kind for key in bundle.entries) == sorted(KINDS)
    assert {key.client for key in bundle.entries} == {"initech"}


def test_every_resource_carries_a_modeline_to_a_shipped_schema(scaffolded: Path) -> None:
    yaml_files = [*sorted((scaffolded / "campaigns").rglob("*.yaml")),
                  scaffolded / "campaign-gitops.yaml"]
    for path in yaml_files:
        first = path.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), path
        target = (path.parent / first.split("$schema=", 1)[1]).resolve()
        assert target.is_file(), path
    for name, schema in all_schemas().items():
        assert (scaffolded / "schemas" / name).read_text() == render_schema(schema)


def test_init_then_lint_is_clean(scaffolded: Path) -> None:
    result = cg(scaffolded, "lint", "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["findings"] == []
    assert report["summary"]["resources"] == len(KINDS)


def test_init_then_plan_creates_everything(scaffolded: Path) -> None:
    result = cg(scaffolded, "plan", "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    plan = json.loads(result.stdout)
    creates = sorted(c["resource"] for c in plan["changes"] if c["action"] == "create")
    assert len(creates) == len(KINDS)
    assert all(c["action"] != "error" for c in plan["changes"])
    assert (scaffolded / ".campaign-gitops" / "state.db").is_file()  # the default database


def test_init_refuses_to_overwrite_and_lists_the_files(tmp_path: Path) -> None:
    (tmp_path / "campaigns" / "acme").mkdir(parents=True)
    (tmp_path / "campaigns" / "acme" / "goal.yaml").write_text("mine\n")
    (tmp_path / "README.md").write_text("mine\n")
    result = cg(tmp_path, "init")
    assert result.returncode == 1
    assert result.stderr.splitlines()[:3] == [
        "error: refusing to overwrite 2 existing file(s) in .:",
        "  README.md",
        "  campaigns/acme/goal.yaml",
    ]
    assert (tmp_path / "README.md").read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["README.md",
                                                                         "goal.yaml"]


def test_init_rejects_a_bad_client_name(tmp_path: Path) -> None:
    result = cg(tmp_path, "init", "x", "--client", "Acme Corp")
    assert result.returncode == 2
    assert "invalid client name 'Acme Corp'" in result.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_the_scaffold_ships_in_the_wheel(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_bytes((REPO / name).read_bytes())
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                            str(tmp_path / "dist"), str(src)], capture_output=True, text=True,
                           timeout=300)
    assert build.returncode == 0, build.stderr
    [wheel] = (tmp_path / "dist").glob("*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"campaign_gitops/scaffold/{p.relative_to(SCAFFOLD).as_posix()}"
                for p in SCAFFOLD.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert expected and expected <= shipped


def test_the_readme_installs_from_the_repository_not_the_package_index(scaffolded: Path) -> None:
    # campaign-gitops is not published: the README names this version's tag or a wheel.
    readme = (scaffolded / "README.md").read_text()
    assert "pip install campaign-gitops" not in readme
    assert f"git+https://github.com/campaign-gitops/campaign-gitops@v{__version__}" in readme
    assert f"campaign_gitops-{__version__}-py3-none-any.whl" in readme
