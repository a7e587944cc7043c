"""Parsed documents of unchanged files, kept between runs (``.campaign-gitops/cache/``).

A file whose size, mtime, ctime and inode are those of the last run is not read
again: its documents' plain data comes from the cache (JSON, far cheaper than YAML),
and its positions are parsed from the file only if a finding needs one. Files with
load findings and symlinks are never cached. The top-level folders (clients' folders)
are hashed into ``SHARDS`` shards, one JSON file each: few enough that a cold run of
a repo of 1,250 client folders does not create 1,250 files (about 1 ms each), and a
folder's shard never changes, so parallel workers given whole shards
(``preflight/parallel.py``) never write the same file. A shard is keyed by the
package's code too, so an edited loader never reads an old shard.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import stat
import tempfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from campaign_gitops import __version__
from campaign_gitops.config.discovery import Source, relative_name
from campaign_gitops.config.loader import Document, FileResult, LazyPositions, load_file

FORMAT = 4  # 2: comment candidates; 3: SHARDS shards by folder hash; 4: secret_free
SHARDS = 64


@functools.cache
def code_fingerprint() -> str:
    """Version plus size and mtime of every module of the package (editable installs
    change code without changing the version)."""
    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256(f"{FORMAT}\0{__version__}\0".encode())
    for folder, dirs, names in sorted(os.walk(package)):
        dirs.sort()
        for name in sorted(n for n in names if n.endswith(".py")):
            st = os.stat(os.path.join(folder, name))
            digest.update(f"{folder}/{name}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return digest.hexdigest()


def write_cache_file(path: Path, data: Any) -> None:
    """Write ``data`` as compact JSON to ``path``, atomically (a temporary file in the
    same folder, renamed); best effort: a cache that cannot be written is no error."""
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"),
                         check_circular=False)  # plain data from YAML: no cycles
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(payload)
        os.replace(tmp, path)
    except OSError:
        return


def folder_shard(folder: str) -> str:
    """The shard of a top-level folder ('' for the files at the top or outside)."""
    return f"{zlib.crc32(folder.encode()) % SHARDS:02d}" if folder else ""


def folder_prefix(resources_dir: Path, root: Path) -> str:
    """The resources folder's repo-relative name and a '/' ('' when it is the root)."""
    name = relative_name(resources_dir, root)
    return "" if name == "." else name.rstrip("/") + "/"


def top_folder(name: str, prefix: str) -> str:
    """The first folder of a file's name under the resources folder (its ``folder_prefix``);
    '' at the top or outside."""
    if not name.startswith(prefix):
        return ""
    head, sep, _ = name[len(prefix):].partition("/")
    return head if sep else ""


def shard_of(name: str, prefix: str) -> str:
    """The shard holding the parsed data of the file of this name."""
    return folder_shard(top_folder(name, prefix))


class ParseCache:
    """One shard: file name -> [signature, sha256, [[index, line, column, data], ...],
    [[line, column, comment], ...], secret_free]."""

    def __init__(self, cache_dir: Path, shard: str) -> None:
        self.path = cache_dir / f"parse-{shard or 'top'}.json"
        self.old: dict[str, list[Any]] = {}
        self.new: dict[str, list[Any]] = {}
        try:
            data = json.loads(self.path.read_bytes())
            if data.get("code") == code_fingerprint():
                self.old = data["files"]
        except (OSError, ValueError, KeyError, TypeError):
            self.old = {}

    def load(self, source: Source, root: Path) -> FileResult:
        name, path = source
        try:
            st = os.lstat(path)
        except OSError:
            return load_file(path, root, lazy_positions=True, name=name)
        if stat.S_ISLNK(st.st_mode):
            return load_file(path, root, lazy_positions=True, name=name)
        signature = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
        entry = self.old.get(name)
        if entry is not None and entry[0] == signature:
            self.new[name] = entry
            lazy = LazyPositions(None, name, path)
            sha = entry[1]
            return FileResult(name, sha, [Document(name, index, data, line, column, None, sha,
                                                   lazy)
                                          for index, line, column, data in entry[2]],
                              comments=[(line, column, text) for line, column, text in entry[3]],
                              secret_free=len(entry) > 4 and entry[4] is True)
        result = load_file(path, root, lazy_positions=True, name=name, link=False)
        if not result.findings:
            self.new[name] = [signature, result.sha256,
                              [[d.index, d.line, d.column, d.data] for d in result.documents],
                              [list(c) for c in result.comments], result.secret_free]
        return result

    def save(self) -> None:
        if self.new == self.old:
            return
        write_cache_file(self.path, {"code": code_fingerprint(), "files": self.new})


def load_files(files: Sequence[Source], root: Path, resources_dir: Path,
               cache_dir: Path | None) -> list[FileResult]:
    """Load every file, from the parse cache where unchanged; results in ``files`` order."""
    if cache_dir is None:
        return [load_file(path, root, lazy_positions=True, name=name) for name, path in files]
    prefix = folder_prefix(resources_dir, root)
    shards: dict[str, ParseCache] = {}
    results = []
    for source in files:
        shard = shard_of(source[0], prefix)
        cache = shards.get(shard)
        if cache is None:
            cache = shards[shard] = ParseCache(cache_dir, shard)
        results.append(cache.load(source, root))
    for cache in shards.values():
        cache.save()
    return results


__all__ = ["SHARDS", "ParseCache", "code_fingerprint", "folder_prefix", "folder_shard",
           "load_files", "shard_of", "top_folder", "write_cache_file"]
