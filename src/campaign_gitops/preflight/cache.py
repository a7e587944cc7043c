"""The lint result cache: a re-lint with nothing changed answers without parsing.

Like ruff's cache, keyed by what decides the answer: the tool version and its code
(every module's size and mtime), the action, the project configuration and, for
every file, its repo-relative name, size, mtime and ctime (nanoseconds) and inode.
Any change to any file (or a file added or removed) is another key, so the cache
never answers for a different tree. One entry is kept, in
``.campaign-gitops/cache/lint.json``; writes are atomic (rename).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from campaign_gitops import __version__
from campaign_gitops.config.parse_cache import code_fingerprint, write_cache_file
from campaign_gitops.findings import Finding, Location, Severity

CACHE_FILE = "lint.json"
FORMAT = 1


def result_key(files: Iterable[tuple[str, str]], *, action: str | None,
               config_json: str) -> str:
    """A key over (name, absolute path) of every file plus everything else that matters."""
    digest = hashlib.sha256()
    digest.update(json.dumps([FORMAT, __version__, code_fingerprint(), action,
                              config_json]).encode())
    parts = []  # hashed at once: one update per file costs more than the stat
    for name, path in files:
        try:
            st = os.stat(path)
            parts.append(f"\0{name}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0"
                         f"{st.st_ino}")
        except OSError:
            parts.append(f"\0{name}\0missing")
    digest.update("".join(parts).encode())
    return digest.hexdigest()


def _location(loc: Location) -> list[Any]:
    return [loc.file, loc.line, loc.column, loc.path]


def _finding_data(f: Finding) -> list[Any]:
    return [f.rule, str(f.severity), _location(f.location), f.message, f.resource, f.hint,
            [_location(r) for r in f.related]]


def _finding(data: list[Any]) -> Finding:
    rule, severity, loc, message, resource, hint, related = data
    return Finding(rule, Severity(severity), Location(*loc), message, resource, hint,
                   tuple(Location(*r) for r in related))


def load(cache_dir: Path, key: str) -> tuple[list[Finding], dict[str, int]] | None:
    """The cached (findings, documents per file) for this key, or None."""
    try:
        data = json.loads((cache_dir / CACHE_FILE).read_bytes())
        if data.get("key") != key:
            return None
        return [_finding(f) for f in data["findings"]], dict(data["documents"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def store(cache_dir: Path, key: str, findings: list[Finding], documents: dict[str, int]) -> None:
    """Keep this result (best effort: a cache that cannot be written is no error)."""
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        ignore = cache_dir / ".gitignore"
        if not ignore.exists():
            ignore.write_text("*\n")
    except OSError:
        return
    write_cache_file(cache_dir / CACHE_FILE, {
        "key": key, "findings": [_finding_data(f) for f in findings], "documents": documents})
