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
