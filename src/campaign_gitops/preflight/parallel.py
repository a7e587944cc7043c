"""Lint over several cores: a few batches of client folders, findings back, nothing else.

References resolve inside a client, so a repo laid out in per-client folders
(``campaigns/<client>/...``, every resource of the folder declaring that client, the
folder holding its Client) splits into independent bundles. The folders are packed
into a few batches of about equal file counts (``BATCHES_PER_WORKER`` per process: a
task per folder costs more than it does when folders hold 8 files); each worker
loads, validates and preflights a batch as one bundle and sends back only findings
and document counts. A batch holds whole parse-cache shards (folders hashed into
``parse_cache.SHARDS`` files), so no two workers write the same shard. The workers
run without the cyclic GC and the parent's objects are frozen before the fork (a
collection in a worker would walk, and copy, every page the parent holds).
Anything that breaks the layout (a top-level file, a path outside the folder, a
resource of another client) makes the caller lint in one process instead, so the
answer is always the one-process answer.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from campaign_gitops.config.discovery import Source
from campaign_gitops.config.parse_cache import folder_prefix, folder_shard, top_folder
from campaign_gitops.findings import CampaignGitopsError, Finding

if TYPE_CHECKING:
    from campaign_gitops.config.bundle import Bundle

MIN_FILES = 1000  # below this, starting processes costs more than it saves
BATCHES_PER_WORKER = 4  # enough to even out unequal batches, few enough to cost nothing


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def client_groups(files: Sequence[Source], resources_dir: Path,
                  root: Path) -> dict[str, list[Source]] | None:
    """Files by their first folder under ``resources_dir``; None when one lies elsewhere."""
    groups: dict[str, list[Source]] = defaultdict(list)
    prefix = folder_prefix(resources_dir, root)
    for source in files:
        folder = top_folder(source[0], prefix)
        if not folder:
            return None
        groups[folder].append(source)
    return dict(groups)


Outcome = tuple[list[Finding], dict[str, int]]


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic GC while loading: tens of thousands of fresh objects, few cycles
    (about 15% of lint's time otherwise goes to collections that find nothing)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def layout_holds(bundle: Bundle, folder_of: dict[str, str]) -> bool:
    """Every resource lies in the folder of its client (``folder_of``: file name ->
    folder), and each folder holds its Client."""
    folders = set(folder_of.values())
    for key, entry in bundle.entries.items():
        if folder_of.get(entry.file) != key.client:
            return False
        if key.kind == "Client":
            folders.discard(key.name)
    return not folders


def batches(groups: dict[str, list[Source]], count: int) -> list[dict[str, list[Source]]]:
    """The folders packed into at most ``count`` batches of about equal file counts, the
    folders of one parse-cache shard always together (largest shard first, each into
    the lightest batch so far)."""
    shards: dict[str, dict[str, list[Source]]] = defaultdict(dict)
    for folder, paths in groups.items():
        shards[folder_shard(folder)][folder] = paths
    sized = sorted(((sum(map(len, folders.values())), shard, folders)
                    for shard, folders in shards.items()), key=lambda s: (-s[0], s[1]))
    bins: list[tuple[int, dict[str, list[Source]]]] = [(0, {}) for _ in range(count)]
    for files, _, folders in sized:
        i = min(range(len(bins)), key=lambda j: bins[j][0])
        size, members = bins[i]
        members.update(folders)
        bins[i] = (size + files, members)
    return sorted((members for _, members in bins if members), key=lambda m: -sum(
        len(p) for p in m.values()))


Task = tuple[dict[str, list[Source]], Path, Path, str | None, Any, Path | None]
# The tasks of the current run, set before the workers fork: a forked worker reads its
# task here by index instead of unpickling thousands of paths.
_FORKED_TASKS: list[Task] = []


def _forked_task(index: int) -> Outcome | None:
    return lint_group(_FORKED_TASKS[index])


def lint_group(args: Task) -> Outcome | None:
    """A batch of client folders: their findings and documents per file, or None if one
    breaks the layout."""
    from campaign_gitops.config.bundle import build_bundle
    from campaign_gitops.config.parse_cache import load_files
    from campaign_gitops.preflight.engine import run_preflight

    folders, root, resources_dir, action, config, cache_dir = args
    files = [source for sources in folders.values() for source in sources]
    folder_of = {name: folder for folder, sources in folders.items() for name, _ in sources}
    with no_gc():
        results = load_files(files, root, resources_dir, cache_dir)
        bundle = build_bundle(results, root, resources_dir)
        if not layout_holds(bundle, folder_of):
            return None
        findings = run_preflight(bundle, action=action, config=config)
    return findings, {r.file: len(r.documents) for r in results}


def lint_parallel(files: Sequence[Source], root: Path, resources_dir: Path, *,
                  action: str | None, config: Any, workers: int,
                  cache_dir: Path | None = None) -> Outcome | None:
    """The outcome computed over ``workers`` processes, or None when it cannot be split."""
    groups = client_groups(files, resources_dir, root)
    if groups is None or len(groups) < 2:
        return None
    tasks: list[Task] = [(batch, root, resources_dir, action, config, cache_dir)
                         for batch in batches(groups, workers * BATCHES_PER_WORKER)]
    # Import the loader, models and rules once, before forking: workers inherit them.
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    import campaign_gitops.config.bundle
    import campaign_gitops.config.parse_cache
    import campaign_gitops.preflight.engine  # noqa: F401

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    findings: list[Finding] = []
    documents: dict[str, int] = {}
    context = multiprocessing.get_context(method)
    if method == "fork":
        _FORKED_TASKS[:] = tasks
    # Frozen for the fork and thawed after, unless the caller keeps objects frozen of
    # its own (the daemon between passes): its garbage stays collectable either way.
    freeze = gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    try:
        with ProcessPoolExecutor(min(workers, len(tasks)), mp_context=context,
                                 initializer=gc.disable) as pool:
            futures = [pool.submit(_forked_task, i) if _FORKED_TASKS else
                       pool.submit(lint_group, task) for i, task in enumerate(tasks)]
            for future in as_completed(futures):
                outcome = future.result()
                if outcome is None:
                    for other in futures:
                        other.cancel()
                    return None
                findings.extend(outcome[0])
                documents.update(outcome[1])
    except BrokenProcessPool as exc:  # a worker died (killed, out of memory)
        raise CampaignGitopsError("a lint worker process died",
                                  "run again with --jobs 1 to lint in one process") from exc
    finally:
        if freeze:
            gc.unfreeze()
        _FORKED_TASKS.clear()
    return findings, documents
