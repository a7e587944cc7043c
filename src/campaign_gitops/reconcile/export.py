"""Database -> YAML files: adopting campaigns that exist only in the database.

Each live resource is written back to the file it was applied from (several
documents per file, in dependency order) or, when it has none, to the layout
``<dir>/<client>/client.yaml``, ``<dir>/<client>/<kinds>/<name>.yaml``. A campaign's
``status`` is the database's lifecycle status. Exported files pass lint and plan
with no changes. Strings that YAML 1.2 would read as something else are quoted.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign_gitops.config.models import API_VERSION, KIND_ORDER
from campaign_gitops.config.yaml12 import ScalarTooLong, resolve_core_scalar
from campaign_gitops.state import tables as t


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    try:
        plain_ok = value != "" and resolve_core_scalar(value) == value
    except ScalarTooLong:  # digits that would read as a (too long) number: quoted
        plain_ok = False
    style = None if plain_ok else '"'
    if "\n" in value:
        style = "|"
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _clean(value: Any) -> Any:
    """Drop nulls (the defaults) so the files stay as short as a person would write."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class ExportedFile:
    path: str  # relative to the output root
    text: str
    resources: int


def default_path(resources_dir: str, client: str, kind: str, name: str) -> str:
    if kind == "Client":
        return f"{resources_dir}/{client}/client.yaml"
    return f"{resources_dir}/{client}/{kind.lower()}s/{name}.yaml"


def document(row: t.Resource, status: str | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": row.name}
    if row.kind != "Client":
        metadata["client"] = row.client
    if row.labels:
        metadata["labels"] = dict(row.labels)
    if row.annotations:
        metadata["annotations"] = dict(row.annotations)
    spec = dict(row.spec or {})
    if status is not None:
        spec["status"] = status
    return {"apiVersion": API_VERSION, "kind": row.kind, "metadata": metadata,
            "spec": _clean(spec)}


SCHEMA_FILE = "schemas/resource.json"  # repo-relative, like the example files


def modeline(path: str, schema: str = SCHEMA_FILE) -> str:
    """The editor's schema comment for the repo-relative ``path``: ``schema`` relative
    to the file's folder (a URL is used as it is)."""
    target = schema if "://" in schema else posixpath.relpath(
        schema, posixpath.dirname(path) or ".")
    return f"# yaml-language-server: $schema={target}\n"


def export_files(session: Session, resources_dir: str = "campaigns",
                 schema: str = SCHEMA_FILE) -> list[ExportedFile]:
    """The files that describe every live resource, keyed by their repo-relative path;
    each starts with the ``yaml-language-server`` modeline pointing at ``schema``."""
    statuses = dict(session.execute(select(t.Campaign.resource_id, t.Campaign.status)).all())
    rows = session.scalars(select(t.Resource).where(t.Resource.deleted_at.is_(None))).all()
    by_file: dict[str, list[t.Resource]] = defaultdict(list)
    for row in rows:
        path = row.source_file or default_path(resources_dir, row.client, row.kind, row.name)
        by_file[path].append(row)
    out = []
    for path in sorted(by_file):
        group = sorted(by_file[path], key=lambda r: (KIND_ORDER.get(r.kind, 99), r.name))
        docs = [document(r, statuses.get(r.id)) for r in group]
        text = yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                             default_flow_style=False, explicit_start=len(docs) > 1)
        out.append(ExportedFile(path, modeline(path, schema) + text, len(docs)))
    return out


def write_files(files: list[ExportedFile], root: Path, *,
                force: bool) -> tuple[list[ExportedFile], list[ExportedFile]]:
    """Write the files under ``root``; existing files are kept unless ``force``.
    Returns (written, kept)."""
    written: list[ExportedFile] = []
    kept: list[ExportedFile] = []
    for exported in files:
        target = root / exported.path
        if target.exists() and not force:
            kept.append(exported)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(exported.text, encoding="utf-8")
        written.append(exported)
    return written, kept
