"""Lint a project: load every resource, run preflight, keep the findings in scope.

``PATHS`` only limit which files' findings are reported: the whole resources folder is
always loaded (so references resolve), and paths outside it are loaded as well.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from campaign_gitops.config.bundle import Bundle, load_bundle
from campaign_gitops.config.loader import relative_name
from campaign_gitops.findings import Finding


@dataclass(frozen=True, slots=True)
class LintResult:
    findings: tuple[Finding, ...]
    files: int
    resources: int
    bundle: Bundle


def in_scope(file: str, scopes: Sequence[str]) -> bool:
    """Whether a repo-relative file lies in one of the scopes (files or folders)."""
    if not scopes:
        return True
    return any(s in ("", ".") or file == s or file.startswith(s + "/") for s in scopes)


def _preflight(bundle: Bundle, action: str | None, config: Any) -> list[Finding]:
    from campaign_gitops.preflight.engine import run_preflight

    return list(run_preflight(bundle, action=action, config=config))


def lint(resources_dir: Path, root: Path, paths: Sequence[Path] = (), *,
         action: str | None = None, config: Any = None, cache_dir: Path | None = None,
         workers: int | None = None) -> LintResult:
    """Load, validate and preflight; findings sorted by file, line, column and rule."""
    extra = [p.absolute() for p in paths]
    bundle = load_bundle(resources_dir, root, [resources_dir.absolute(), *extra],
                         cache_dir=cache_dir, workers=workers)
    findings = _preflight(bundle, action, config)  # includes the bundle's load findings
    scopes = [relative_name(p, root) for p in extra]
    kept = sorted((f for f in findings if in_scope(f.location.file, scopes)),
                  key=Finding.sort_key)
    files = [r for name, r in bundle.files.items() if in_scope(name, scopes)]
    resources = sum(len(r.documents) for r in files)
    return LintResult(tuple(kept), len(files), resources, bundle)


def read_sources(root: Path, files: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """The lines of each file (for the caret under the column); unreadable files are skipped."""
    out: dict[str, tuple[str, ...]] = {}
    for name in set(files):
        path = Path(name) if name.startswith("/") else root / name
        try:
            text = path.read_bytes().decode("utf-8", errors="replace")
        except OSError:
            continue
        out[name] = tuple(text.splitlines())
    return out
