"""Where the daemon reads resource files from: the worktree as saved, or a git commit.

Both keep a cache of loaded FileResults keyed by repo-relative path and content hash,
so a reconcile re-parses only files whose bytes changed. ``read`` returns every file
of the source and the names of the files that changed since the previous read.

``GitSource`` reads the tree of one commit (``git ls-tree -r``) and the blobs that
changed (one ``git cat-file --batch`` process), so a half-edited file in the worktree
is never applied and every change can record the commit it came from.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from campaign_gitops.config.discovery import YAML_SUFFIXES, discover, relative_name
from campaign_gitops.config.loader import FileResult, load_bytes, load_file
from campaign_gitops.findings import CampaignGitopsError


@dataclass(frozen=True, slots=True)
class SourceRead:
    files: dict[str, FileResult]
    changed: frozenset[str]  # added, modified or removed since the previous read
    commit: str | None
    dirty: bool = False


def git(root: Path, *args: str, input_bytes: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], input=input_bytes,
                              capture_output=True, check=True)
    except FileNotFoundError as exc:
        raise CampaignGitopsError("git is not installed", "install git or use --source worktree"
                                  ) from exc
    except subprocess.CalledProcessError as exc:
        message = exc.stderr.decode(errors="replace").strip()
        raise CampaignGitopsError(f"git {' '.join(args)} failed: {message}",
                                  "is --ref a branch, tag or commit of this repository?") from exc
    return done.stdout


def worktree_commit(root: Path, *scope: str) -> tuple[str | None, bool]:
    """HEAD of the worktree and whether it has uncommitted changes (None outside git)."""
    try:
        head = git(root, "rev-parse", "--verify", "-q", "HEAD").decode().strip()
        dirty = bool(git(root, "status", "--porcelain", "--untracked-files=no", "--",
                         *scope).strip())
    except CampaignGitopsError:
        return None, False
    return head or None, dirty


def _is_yaml(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return base.endswith(YAML_SUFFIXES) and not base.startswith(".")


@dataclass
class WorktreeSource:
    """The files under ``resources_dir`` as they are on disk."""

    root: Path
    resources_dir: Path
    cache: dict[str, FileResult] = field(default_factory=dict)
    kind: str = "worktree"

    def read(self, paths: Iterable[str] | None = None) -> SourceRead:
        """Every file; re-reads only ``paths`` (absolute) when given, else scans all."""
        changed = self._scan() if paths is None else self._refresh(Path(p) for p in paths)
        commit, dirty = worktree_commit(self.root, str(self.resources_dir))
        return SourceRead(dict(self.cache), frozenset(changed), commit, dirty)

    def _load(self, path: Path) -> bool:
        name = relative_name(path, self.root)
        try:
            raw = path.read_bytes()
        except OSError:
            raw = None
        cached = self.cache.get(name)
        if raw is not None and cached is not None and cached.sha256 and \
                cached.sha256 == hashlib.sha256(raw).hexdigest():
            return False
        self.cache[name] = load_file(path, self.root)
        return True

    def _scan(self) -> set[str]:
        changed: set[str] = set()
        present: set[str] = set()
        for path in discover([self.resources_dir]):
            name = relative_name(path, self.root)
            present.add(name)
            if self._load(path):
                changed.add(name)
        for gone in set(self.cache) - present:
            del self.cache[gone]
            changed.add(gone)
        return changed

    def _refresh(self, paths: Iterable[Path]) -> set[str]:
        """The files among ``paths`` (a watcher's batch, in any order) whose bytes changed.

        An editor's save is a burst: ``sed -i`` writes ``sedXXXXXX`` and renames it onto
        the file, vim renames the file to ``name~`` and writes a new one, JetBrains and
        VS Code write a temp file and rename it over the target. Only the final
        ``*.yaml``/``*.yml`` names count; a temp name that is gone is ignored. A folder
        moved in, or a vanished path under which files were known (a folder moved out),
        rescans — and the rescan adds to what this batch already found, it never
        replaces it (it would lose the file loaded a moment before).
        """
        changed: set[str] = set()
        rescan = False
        for path in paths:
            inside = path == self.resources_dir or self.resources_dir in path.parents
            if not inside:
                continue
            if path.is_dir() or (not path.exists() and self._known_under(path)):
                rescan = True
                continue
            name = relative_name(path, self.root)
            if any(part.startswith(".") for part in
                   Path(relative_name(path, self.resources_dir)).parts) or not _is_yaml(name):
                continue
            if path.exists():
                if self._load(path):
                    changed.add(name)
            elif self.cache.pop(name, None) is not None:
                changed.add(name)
        if rescan:
            changed |= self._scan()
        return changed

    def _known_under(self, path: Path) -> bool:
        """Whether a vanished ``path`` was a folder holding files read before."""
        prefix = relative_name(path, self.root).rstrip("/") + "/"
        return prefix == "./" or any(name.startswith(prefix) for name in self.cache)


@dataclass
class GitSource:
    """The files under ``resources_dir`` in the commit ``ref`` points to."""

    root: Path
    resources_dir: Path
    ref: str = "main"
    cache: dict[str, FileResult] = field(default_factory=dict)
    blobs: dict[str, str] = field(default_factory=dict)  # name -> blob id of the cached result
    commit: str | None = None
    kind: str = "git"

    def resolve(self) -> str:
        return git(self.root, "rev-parse", "--verify", f"{self.ref}^{{commit}}").decode().strip()

    def read(self, paths: Iterable[str] | None = None) -> SourceRead:
        """The files of the ref's current commit; unchanged blobs come from the cache."""
        commit = self.resolve()
        if commit == self.commit:
            return SourceRead(dict(self.cache), frozenset(), commit)
        tree = self._tree(commit)
        wanted = {name: blob for name, blob in tree.items() if self.blobs.get(name) != blob}
        contents = self._cat(list(dict.fromkeys(wanted.values())))
        changed = set(wanted)
        for name, blob in wanted.items():
            self.cache[name] = load_bytes(contents[blob], name)
            self.blobs[name] = blob
        for gone in set(self.cache) - set(tree):
            del self.cache[gone]
            self.blobs.pop(gone, None)
            changed.add(gone)
        self.commit = commit
        return SourceRead(dict(self.cache), frozenset(changed), commit)

    def _tree(self, commit: str) -> dict[str, str]:
        prefix = relative_name(self.resources_dir, self.root)
        prefix = "" if prefix in (".", "") else prefix
        args = ["ls-tree", "-r", "-z", "--full-tree", commit]
        if prefix:
            args += ["--", prefix]
        out: dict[str, str] = {}
        for record in git(self.root, *args).split(b"\0"):
            if not record:
                continue
            meta, name_bytes = record.split(b"\t", 1)
            mode, kind, blob = meta.decode().split()
            name = name_bytes.decode()
            if kind == "blob" and mode in ("100644", "100755") and _is_yaml(name) and not any(
                    part.startswith(".") for part in name.split("/")):
                out[name] = blob
        return out

    def _cat(self, blobs: list[str]) -> dict[str, bytes]:
        """The contents of ``blobs``, read by one ``git cat-file --batch`` process."""
        if not blobs:
            return {}
        data = git(self.root, "cat-file", "--batch",
                   input_bytes="".join(f"{b}\n" for b in blobs).encode())
        out: dict[str, bytes] = {}
        pos = 0
        for blob in blobs:
            end = data.index(b"\n", pos)
            header = data[pos:end].decode().split()
            size = int(header[2])
            out[blob] = data[end + 1:end + 1 + size]
            pos = end + 1 + size + 1
        return out


Source = WorktreeSource | GitSource


def git_dir(root: Path) -> Path:
    """The repository's .git folder (what the git source watches for moving refs)."""
    out = git(root, "rev-parse", "--absolute-git-dir").decode().strip()
    return Path(out)
