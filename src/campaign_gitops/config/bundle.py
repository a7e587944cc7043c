"""All resources of a repository, keyed by identity, with references resolved per client.

``load_bundle`` is the one entry point from files to a Bundle: discover, load, validate,
index. Problems are findings on the bundle; a file with any load or schema error is
*failed*: its resources are unknown to plan (held at their last good state), never gone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from campaign_gitops.config.discovery import discover_sources, relative_name
from campaign_gitops.config.loader import MAX_FILE_BYTES, Document, FileResult, load_file
from campaign_gitops.config.models import (
    CAMPAIGN_REFERENCES,
    ClientSpec,
    Resource,
)
from campaign_gitops.config.recover import BrokenDocument
from campaign_gitops.config.schema import validate_document
from campaign_gitops.findings import Finding, Location, Severity
from campaign_gitops.identity import Key


@dataclass(eq=False, slots=True)
class Entry:
    """One valid resource and the document it came from."""

    key: Key
    resource: Resource
    document: Document

    @property
    def file(self) -> str:
        return self.document.file

    def locate(self, path: tuple[str | int, ...] = (), *, value: bool = False) -> Location:
        return self.document.locate(path, value=value)


@dataclass(eq=False)
class Bundle:
    root: Path
    resources_dir: Path
    entries: dict[Key, Entry] = field(default_factory=dict)
    files: dict[str, FileResult] = field(default_factory=dict)
    failed_files: set[str] = field(default_factory=set)
    findings: list[Finding] = field(default_factory=list)
    # Resources whose document is in the files but does not load or validate (kind,
    # name and client readable, leniently for a document the loader rejected): where
    # their first error is. They exist, held at their last good state.
    invalid: dict[Key, Location] = field(default_factory=dict)

    def get(self, client: str, kind: str, name: str | None) -> Entry | None:
        if name is None:
            return None
        return self.entries.get(Key(client, kind, name))

    def of_kind(self, kind: str) -> list[Entry]:
        return [e for k, e in self.entries.items() if k.kind == kind]

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries.values())

    def __len__(self) -> int:
        return len(self.entries)

    def client_spec(self, client: str) -> ClientSpec | None:
        entry = self.entries.get(Key(client, "Client", client))
        return entry.resource.spec if entry else None  # type: ignore[no-any-return]

    def is_held(self, entry: Entry) -> bool:
        """Whether the entry's file failed to load: its resources must not change."""
        return entry.file in self.failed_files

    def ordered(self) -> list[Entry]:
        return sorted(self.entries.values(), key=lambda e: e.key.order())

    def reference(self, entry: Entry, field_name: str) -> Entry | None:
        """Follow a campaign's reference field (goal, segment, ...) inside its client."""
        kind = CAMPAIGN_REFERENCES[field_name]
        return self.get(entry.key.client, kind, getattr(entry.resource.spec, field_name))


def _key_of(resource: Resource) -> Key:
    return Key(resource.client, resource.KIND, resource.name)


def _envelope_key(doc: Document) -> Key | None:
    """The identity a document declares, when readable even though it does not validate."""
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
        return None
    meta = data.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        return None
    client = meta.get("client") if data["kind"] != "Client" else meta["name"]
    return Key(client, data["kind"], meta["name"]) if isinstance(client, str) else None


def _broken_key(broken: BrokenDocument) -> Key | None:
    client = broken.name if broken.kind == "Client" else broken.client
    return Key(client, broken.kind, broken.name) if client else None


def _first(findings: list[Finding]) -> Location:
    return min((f.location for f in findings), key=lambda loc: (loc.line, loc.column))


def build_bundle(results: Iterable[FileResult], root: Path, resources_dir: Path) -> Bundle:
    """Index validated documents into a Bundle; report duplicates and folder mismatches."""
    bundle = Bundle(root=root, resources_dir=resources_dir)
    seen: dict[Key, list[Entry]] = defaultdict(list)
    for result in results:
        bundle.files[result.file] = result
        bundle.findings.extend(result.findings)
        failed = bool(result.findings)
        for broken in result.broken:
            broken_key = _broken_key(broken)
            if broken_key is not None:
                bundle.invalid.setdefault(broken_key, broken.error)
        for doc in result.documents:
            model, findings = validate_document(doc)
            if findings:
                bundle.findings.extend(findings)
                failed = True
                key = _envelope_key(doc)
                if model is None and key is not None:
                    bundle.invalid.setdefault(key, _first(findings))
            if model is not None:
                entry = Entry(_key_of(model), model, doc)
                seen[entry.key].append(entry)
        if failed:
            bundle.failed_files.add(result.file)

    for key, entries in seen.items():
        bundle.entries[key] = entries[0]
        if len(entries) > 1:
            places = [e.locate(("metadata", "name"), value=True) for e in entries]
            for place in places:
                others = ", ".join(str(p) for p in places if p is not place)
                bundle.findings.append(Finding(
                    "SCHEMA", Severity.ERROR, place,
                    f"{key} is defined more than once (also at {others})",
                    resource=str(key), hint="rename one of them or delete the copy",
                    related=tuple(p for p in places if p is not place)))
            bundle.failed_files.update(e.file for e in entries)
    _check_client_folders(bundle)
    return bundle


def _client_folder(entry: Entry, prefix: str) -> str | None:
    if prefix and not entry.file.startswith(prefix):
        return None
    rest = entry.file[len(prefix):]
    return rest.split("/", 1)[0] if "/" in rest else None


def _check_client_folders(bundle: Bundle) -> None:
    """When every Client lives in ``<dir>/<client>/``, every resource must match its folder."""
    prefix = relative_name(bundle.resources_dir, bundle.root).rstrip("/")
    prefix = "" if prefix in ("", ".") else prefix + "/"
    clients = bundle.of_kind("Client")
    if not clients or any(_client_folder(c, prefix) != c.key.name for c in clients):
        return
    client_files = {c.key.name: c for c in clients}
    for entry in list(bundle.entries.values()):
        folder = _client_folder(entry, prefix)
        if folder is None or folder not in client_files or folder == entry.key.client:
            continue
        here = entry.locate(("metadata", "client"), value=True)
        owner = client_files[folder]
        there = owner.locate(("metadata", "name"), value=True)
        bundle.findings.append(Finding(
            "SCHEMA", Severity.ERROR, here,
            f"{entry.key} declares client {entry.key.client!r} but lives in the folder of "
            f"client {folder!r}", resource=str(entry.key),
            hint=f"move the file to {prefix}{entry.key.client}/ or set client: {folder}",
            related=(there,)))
        bundle.findings.append(Finding(
            "SCHEMA", Severity.ERROR, there,
            f"{entry.file} in this client's folder declares another client "
            f"({entry.key.client!r})", resource=str(owner.key),
            hint=f"move {entry.file} to the folder of {entry.key.client!r}", related=(here,)))
        bundle.failed_files.add(entry.file)


def load_bundle(resources_dir: Path, root: Path, paths: Iterable[Path] | None = None, *,
                max_bytes: int = MAX_FILE_BYTES, cache_dir: Path | None = None) -> Bundle:
    """Discover, load and validate every resource file under ``resources_dir`` (or ``paths``).

    ``cache_dir`` only makes it faster; the result is the same: with it
    (``.campaign-gitops/cache`` at the repo root) unchanged files come from lint's parse
    cache (``parse_cache.py``) instead of being parsed again. A Bundle is built in this
    process: its models cost more to send between processes than to build.
    """
    files = discover_sources(list(paths) if paths else [resources_dir], root)
    if cache_dir is not None and max_bytes == MAX_FILE_BYTES:
        from campaign_gitops.config.parse_cache import load_files

        results = load_files(files, root, resources_dir, cache_dir)
    else:
        results = [load_file(path, root, max_bytes=max_bytes, lazy_positions=True, name=name)
                   for name, path in files]
    return build_bundle(results, root, resources_dir)
