"""Preflight findings per client folder, kept between runs: one edited file re-checks
only its client.

Lint's result cache answers only when no file changed; after one edit, a whole-repo
plan would preflight every client again. With the repo laid out in client folders
(the layout ``parallel.py`` splits on: every resource of ``<dir>/<client>/`` declares
that client and the folder holds its Client), references and rules stay inside a
folder, so each folder's findings are those of its own bundle. They are kept per
folder under a key over the folder's files (lint's key: name, size, mtime, ctime,
inode; code, configuration), in ``.campaign-gitops/cache/preflight-clients.json``.
Anything else (a file outside a client folder, a resource of another client) gives
None: the caller preflights the whole bundle.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from campaign_gitops.config.discovery import Source
from campaign_gitops.config.parse_cache import write_cache_file
from campaign_gitops.findings import Finding
from campaign_gitops.preflight import cache, parallel

if TYPE_CHECKING:
    from campaign_gitops.config.bundle import Bundle

CACHE_FILE = "preflight-clients.json"


def _read(cache_dir: Path) -> dict[str, list[Any]]:
    try:
        data = json.loads((cache_dir / CACHE_FILE).read_bytes())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _cached(entry: Any, key: str) -> list[Finding] | None:
    try:
        if entry[0] != key:
            return None
        return [cache._finding(f) for f in entry[1]]
    except (IndexError, KeyError, TypeError, ValueError):
        return None


def check_by_client(bundle: Bundle, files: Sequence[Source], root: Path, resources_dir: Path, *,
                    config: Any, config_json: str, cache_dir: Path) -> list[Finding] | None:
    """The bundle's ``lint`` findings, unchanged client folders from the cache; None when
    the repo is not laid out in client folders.

    Call only when the files are as they were when ``bundle`` was loaded (the keys are
    taken now and must describe what was checked). When most folders changed (a cold
    cache) the whole bundle is checked once and its findings split by folder.
    """
    from campaign_gitops.config.bundle import build_bundle
    from campaign_gitops.preflight.engine import run_preflight

    groups = parallel.client_groups(files, resources_dir, root)
    if groups is None or len(groups) < 2:
        return None
    stored = _read(cache_dir)
    names = {folder: [name for name, _ in sources] for folder, sources in groups.items()}
    keys = {folder: cache.result_key(sources, action=None, config_json=config_json)
            for folder, sources in groups.items()}
    found = {folder: _cached(stored.get(folder), keys[folder]) for folder in groups}
    missing = [folder for folder, hit in found.items() if hit is None]
    if len(missing) * 2 > len(groups):
        folder_of = {name: folder for folder, listed in names.items() for name in listed}
        if not parallel.layout_holds(bundle, folder_of):
            return None
        whole = run_preflight(bundle, config=config)
        split: dict[str, list[Finding]] = {folder: [] for folder in groups}
        for finding in whole:
            folder = folder_of.get(finding.location.file)
            if folder is None:  # a finding outside every folder: keep nothing per folder
                return whole
            split[folder].append(finding)
        found = dict(split)
        missing = list(groups)
    for folder in missing:
        if found[folder] is None:
            sub = build_bundle([bundle.files[n] for n in names[folder] if n in bundle.files],
                               root, resources_dir)
            if not parallel.layout_holds(sub, {n: folder for n in names[folder]}):
                return None
            found[folder] = run_preflight(sub, config=config)
    kept = {folder: stored[folder] if folder not in missing else
            [keys[folder], [cache._finding_data(f) for f in found[folder] or ()]]
            for folder in sorted(groups)}
    if kept != stored:
        write_cache_file(cache_dir / CACHE_FILE, kept)
    return sorted((f for folder in sorted(groups) for f in found[folder] or ()),
                  key=Finding.sort_key)
