"""The documentation site builds with ``mkdocs build --strict``: every page in the nav, every
link and anchor resolves, the generated references (rules, CLI) render.

The docs extra (mkdocs, mkdocs-material, mkdocs-click) is part of the ``test`` extra, so the
README's test command and CI always run this; it skips, saying so, only where the docs extra
is not installed.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MISSING = [m for m in ("mkdocs", "material", "mkdocs_click")
           if importlib.util.find_spec(m) is None]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if MISSING:
        pytest.skip(f"the docs extra is not installed (missing {', '.join(MISSING)}): "
                    "pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                           str(out)], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_the_site_builds_strict(site: Path) -> None:
    assert (site / "index.html").is_file()
    assert (site / "reference" / "cli" / "index.html").is_file()


def test_the_generated_references_are_in_the_site(site: Path) -> None:
    import json

    from campaign_gitops.preflight.rules import all_rules

    for rule in all_rules():  # one page per rule, with its docstring's first line
        page = (site / "reference" / "rules" / rule.id / "index.html").read_text()
        assert rule.id in page
    pf003 = (site / "reference" / "rules" / "PF003" / "index.html").read_text()
    assert "voice campaign needs no reviewer" in pf003  # a case from tests/preflight/cases
    cli = (site / "reference" / "cli" / "index.html").read_text()
    assert "--detailed-exitcode" in cli and "leads import" in cli.replace("</code> <code>", " ")
    config = (site / "reference" / "configuration" / "index.html").read_text()
    assert "pruneMaxShare" in config and "inbound.mailboxes[].processedFolder" in config
    openapi = json.loads((site / "reference" / "openapi.json").read_text())
    assert any(path.startswith("/api/v1/") for path in openapi["paths"])


def test_no_readme_link_leaves_the_repository() -> None:
    import re

    readme = (REPO / "README.md").read_text()
    targets = re.findall(r"\]\(([^)\s]+)\)", readme)
    assert targets
    for target in targets:
        assert "://" not in target and not target.startswith("/"), target
        assert (REPO / target.split("#")[0]).exists(), target
    assert len(readme.splitlines()) <= 200
