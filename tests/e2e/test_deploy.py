"""The deployment files: hadolint and kubernetes-validate clean, and what they run exists.

Docker cannot run here; the image itself is built and health-checked by ci.yml's
``image`` job on GitHub.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from campaign_gitops.cli.main import cli, load_all_commands

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DEPLOY = REPO / "deploy"
MANIFESTS = sorted(p for p in (DEPLOY / "kubernetes").glob("*.yaml")
                   if p.name != "kustomization.yaml")


def parses(command: str, args: list[str]) -> None:
    """``args`` are valid options of ``campaign-gitops <command>`` (parsed, not run)."""
    load_all_commands()
    cmd = cli.commands[command]
    with cmd.make_context(command, list(args), resilient_parsing=False) as ctx:
        assert ctx.params is not None


def test_hadolint_is_clean_on_the_dockerfile() -> None:
    done = subprocess.run([str(BIN / "hadolint"), "--no-color", str(REPO / "Dockerfile")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "", done.stdout + done.stderr


def test_dockerfile_shape() -> None:
    text = (REPO / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)", text, flags=re.M)
    assert len(stages) == 2 and all("-slim" in s for s in stages)
    user = re.findall(r"^USER (\S+)", text, flags=re.M)
    assert user and not user[-1].startswith(("root", "0"))
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", text, flags=re.M)
    cmd = re.search(r'^CMD \[(.*)\]', text, flags=re.M)
    assert cmd is not None
    words = [w.strip().strip('"') for w in cmd.group(1).split(",")]
    assert words[0] == "reconcile" and "9464" in words
    parses(words[0], words[1:])
    dependencies = (REPO / "pyproject.toml").read_text()
    assert '"psycopg[binary]' in dependencies  # the PostgreSQL driver ships in the wheel set


def test_kubernetes_manifests_validate() -> None:
    assert {p.name for p in MANIFESTS} >= {"deployment.yaml", "service.yaml"}
    done = subprocess.run([str(BIN / "kubernetes-validate"), "--strict", "--quiet",
                           *map(str, MANIFESTS)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    kustomization = yaml.safe_load((DEPLOY / "kubernetes" / "kustomization.yaml").read_text())
    assert set(kustomization["resources"]) == {p.name for p in MANIFESTS} - {
        "secret.example.yaml"}


def _deployment() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "kubernetes" / "deployment.yaml").read_text())
    return data


def test_deployment_runs_two_probed_replicas_with_secret_references() -> None:
    deployment = _deployment()
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    [container] = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert set(container["resources"]["requests"]) == {"cpu", "memory"}
    secrets = {e["name"] for e in container["env"] if "secretKeyRef" in e.get("valueFrom", {})}
    assert {"CAMPAIGN_GITOPS_DB", "CAMPAIGN_GITOPS_UI_TOKEN", "CAMPAIGN_GITOPS_GIT_TOKEN",
            "CAMPAIGN_GITOPS_GIT_WEBHOOK_SECRET"} <= secrets
    args = container["args"]
    assert args[0] == "reconcile" and "--repo" in args
    parses(args[0], args[1:])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert str(ports["metrics"]) == args[args.index("--health-port") + 1]
    assert str(ports["http"]) == args[args.index("--ui-port") + 1]


def test_compose_runs_postgres_two_replicas_and_the_ui() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert services["postgres"]["image"].startswith("postgres:")
    daemon = services["reconcile"]
    assert daemon["deploy"]["replicas"] == 2
    command = [str(w) for w in daemon["command"]]
    assert command[0] == "reconcile" and "--repo" in command
    parses(command[0], [w if not w.startswith("${") else "x" for w in command[1:]])
    assert "--ui-port" in command  # the UI, served by each replica
    env = daemon["environment"]
    assert env["CAMPAIGN_GITOPS_DB"].startswith("postgresql+psycopg://")
    assert all(str(v).startswith(("${", "postgresql+psycopg://")) for v in env.values())


def test_systemd_unit(tmp_path: Path) -> None:
    unit = (DEPLOY / "systemd" / "campaign-gitops.service").read_text()
    exec_start = re.search(r"^ExecStart=(\S+) (.*)$", unit, flags=re.M)
    assert exec_start is not None
    words = exec_start.group(2).split()
    parses(words[0], [w if not w.startswith("${") else "x" for w in words[1:]])
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    local = tmp_path / "campaign-gitops.service"
    local.write_text(unit.replace(exec_start.group(1), str(BIN / "campaign-gitops")))
    done = subprocess.run([analyze, "verify", str(local)], capture_output=True, text=True,
                          timeout=60)
    problems = [line for line in (done.stdout + done.stderr).splitlines()
                if "campaign-gitops.service" in line]
    assert problems == [], problems


def test_ci_builds_the_image() -> None:
    from campaign_gitops.config.loader import parse_text

    [doc] = parse_text((REPO / ".github/workflows/ci.yml").read_text(), "ci.yml").documents
    runs = " ".join(str(s.get("run", "")) for s in doc.data["jobs"]["image"]["steps"])
    assert "docker build" in runs and "Health.Status" in runs


def test_cli_click_is_real() -> None:
    with pytest.raises(click.UsageError):
        parses("reconcile", ["--no-such-option"])
