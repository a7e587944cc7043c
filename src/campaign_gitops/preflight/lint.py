"""Lint a project: load every resource, run preflight, keep the findings in scope.

``PATHS`` only limit which files' findings are reported: the whole resources folder is
always loaded (so references resolve), and paths outside it are loaded as well.

Fast paths, each giving exactly the one-process answer: a cached result when no file
changed (``cache.py``), the parsed data of each unchanged file when some did
(``config/parse_cache.py``), and above ``parallel.MIN_FILES`` files one process per
core over the client folders (``parallel.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from campaign_gitops.config.discovery import Source, discover_sources, relative_name
from campaign_gitops.findings import Finding
from campaign_gitops.preflight import cache, parallel

if TYPE_CHECKING:
    from campaign_gitops.config.bundle import Bundle


@dataclass(frozen=True, slots=True)
class LintResult:
    findings: tuple[Finding, ...]
    files: int
    resources: int
    cached: bool = False


def in_scope(file: str, scopes: Sequence[str]) -> bool:
    """Whether a repo-relative file lies in one of the scopes (files or folders)."""
    if not scopes:
        return True
    return any(s in ("", ".") or file == s or file.startswith(s + "/") for s in scopes)


def lint_files(files: Sequence[Source], root: Path, resources_dir: Path, *,
               action: str | None, config: Any,
               cache_dir: Path | None = None) -> parallel.Outcome:
    """All findings (load, schema, preflight) and documents per file, in one process."""
    from campaign_gitops.config.bundle import build_bundle
    from campaign_gitops.config.parse_cache import load_files
    from campaign_gitops.preflight.engine import run_preflight

    with parallel.no_gc():
        results = load_files(files, root, resources_dir, cache_dir)
        bundle = build_bundle(results, root, resources_dir)
        findings = run_preflight(bundle, action=action, config=config)
    return findings, {r.file: len(r.documents) for r in results}


def _config_json(config: Any) -> str:
    dump = getattr(config, "model_dump_json", None)
    return dump() if callable(dump) else repr(config)


def lint(resources_dir: Path, root: Path, paths: Sequence[Path] = (), *,
         action: str | None = None, config: Any = None, cache_dir: Path | None = None,
         workers: int | None = None) -> LintResult:
    """Load, validate and preflight; findings in scope sorted by file, line, column, rule."""
    extra = [p.absolute() for p in paths]
    files = discover_sources([resources_dir.absolute(), *extra], root)
    key = ""
    outcome: parallel.Outcome | None = None
    if cache_dir is not None:
        key = cache.result_key(files, action=action, config_json=_config_json(config))
        outcome = cache.load(cache_dir, key)
    cached = outcome is not None
    if outcome is None:
        workers = parallel.cpu_count() if workers is None else workers
        if workers > 1 and len(files) >= parallel.MIN_FILES:
            outcome = parallel.lint_parallel(files, root, resources_dir, action=action,
                                             config=config, workers=workers,
                                             cache_dir=cache_dir)
        if outcome is None:
            outcome = lint_files(files, root, resources_dir, action=action, config=config,
                                 cache_dir=cache_dir)
        if cache_dir is not None:
            cache.store(cache_dir, key, outcome[0], outcome[1])
    findings, documents = outcome
    scopes = [relative_name(p, root) for p in extra]
    kept = sorted((f for f in findings if in_scope(f.location.file, scopes)),
                  key=Finding.sort_key)
    counts = [n for name, n in documents.items() if in_scope(name, scopes)]
    return LintResult(tuple(kept), len(counts), sum(counts), cached)


def _key(named: Sequence[Source], config: Any) -> str:
    return cache.result_key(named, action=None, config_json=_config_json(config))


def load_checked(resources_dir: Path, root: Path, *, config: Any,
                 cache_dir: Path | None = None) -> tuple[Bundle, list[Finding]]:
    """The whole repo's Bundle and its ``lint`` findings (no action), for plan and apply.

    The same path as ``lint``: files from the parse cache when unchanged, and the
    findings from lint's result cache when no file changed since the last ``lint`` or
    ``plan`` (the key is lint's, so each warms the other). A miss preflights the
    bundle just loaded, client folders whose files did not change from
    ``client_cache.py``, and keeps the result, unless a file changed while it loaded.
    """
    from campaign_gitops.config.bundle import build_bundle
    from campaign_gitops.config.parse_cache import load_files
    from campaign_gitops.preflight.client_cache import check_by_client
    from campaign_gitops.preflight.engine import run_preflight

    files = discover_sources([resources_dir.absolute()], root)
    key = _key(files, config) if cache_dir is not None else ""
    outcome = cache.load(cache_dir, key) if cache_dir is not None else None
    with parallel.no_gc():
        bundle = build_bundle(load_files(files, root, resources_dir, cache_dir), root,
                              resources_dir)  # what load_bundle does, files discovered once
        # The findings answer for the files as they were keyed: re-key after loading.
        unchanged = cache_dir is not None and _key(files, config) == key
        if outcome is not None and unchanged:
            return bundle, outcome[0]
        findings = None
        if cache_dir is not None and unchanged:  # one edit re-checks only its client
            findings = check_by_client(bundle, files, root, resources_dir, config=config,
                                       config_json=_config_json(config), cache_dir=cache_dir)
        if findings is None:
            findings = run_preflight(bundle, config=config)
    if cache_dir is not None and unchanged:
        cache.store(cache_dir, key, findings,
                    {name: len(r.documents) for name, r in bundle.files.items()})
    return bundle, findings


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
