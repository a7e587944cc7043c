"""JSON Schemas out of the models, and validation of documents into models.

Validation runs pydantic's compiled core on every document (the fast path); a failure
is turned into findings at the exact key or value, with a "did you mean" hint for
unknown fields computed from the generated schema.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from pathlib import Path
from typing import Any

from campaign_gitops.config.loader import Document
from campaign_gitops.config.models import (
    API_VERSION,
    KIND_MODELS,
    KINDS,
    NAME_PATTERN,
    SCHEMA_BASE,
    Resource,
)
from campaign_gitops.config.project_file import SCHEMA_FILE as PROJECT_SCHEMA_FILE, project_schema
from campaign_gitops.config.validate import describe, did_you_mean, fields_at, validate_model
from campaign_gitops.findings import Finding, Severity

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def schema_id(kind: str) -> str:
    return f"{SCHEMA_BASE}/{kind.lower()}.json"


def schema_filename(kind: str) -> str:
    return f"{kind.lower()}.json"


@functools.cache
def resource_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema (2020-12) of one kind, with its ``$id``."""
    body = KIND_MODELS[kind].model_json_schema(by_alias=True, mode="validation")
    schema: dict[str, Any] = {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": schema_id(kind),
        "title": f"campaign-gitops {kind}",
        "description": f"A {kind} resource of campaign-gitops ({API_VERSION}).",
    }
    body.pop("title", None)
    body.pop("description", None)
    schema.update(body)
    return schema


@functools.cache
def any_resource_schema() -> dict[str, Any]:
    """One self-contained schema for any document, dispatching on ``kind``.

    Every kind's schema is inlined under ``$defs`` (no remote ``$ref``), so editors
    (the ``yaml-language-server`` modeline) and other validators work offline.
    """
    defs: dict[str, Any] = {}
    branches = []
    for kind in KINDS:
        body = dict(resource_schema(kind))
        for name, definition in body.pop("$defs", {}).items():
            if defs.setdefault(name, definition) != definition:  # pragma: no cover
                raise AssertionError(f"two different definitions named {name}")
        for key in ("$schema", "$id"):
            body.pop(key)
        defs[f"{kind}Resource"] = body
        branches.append({
            "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
            "then": {"$ref": f"#/$defs/{kind}Resource"},
        })
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": f"{SCHEMA_BASE}/resource.json",
        "title": "campaign-gitops resource",
        "description": "Any campaign-gitops resource; the kind decides the shape.",
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {"kind": {"enum": list(KINDS)}},
        "allOf": branches,
        "$defs": defs,
    }


def all_schemas() -> dict[str, dict[str, Any]]:
    """File name -> schema, for every kind plus the dispatching one."""
    out = {schema_filename(kind): resource_schema(kind) for kind in KINDS}
    out["resource.json"] = any_resource_schema()
    out[PROJECT_SCHEMA_FILE] = project_schema()  # campaign-gitops.yaml
    return out


def render_schema(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_schemas(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in all_schemas().items():
        path = out_dir / name
        path.write_text(render_schema(schema), encoding="utf-8")
        written.append(path)
    return written


# ---------------------------------------------------------------- did you mean


def known_fields(kind: str, loc: tuple[str | int, ...]) -> list[str]:
    """The field names the schema allows in the mapping at ``loc``."""
    return fields_at(resource_schema(kind), loc)


# ---------------------------------------------------------------- validation


def _resource_name(data: Any) -> str:
    if not isinstance(data, dict):
        return ""
    raw_meta = data.get("metadata")
    meta = raw_meta if isinstance(raw_meta, dict) else {}
    kind = data.get("kind") if isinstance(data.get("kind"), str) else "?"
    name = meta.get("name") if isinstance(meta.get("name"), str) else "?"
    client = meta.get("client") if isinstance(meta.get("client"), str) else None
    if kind == "Client":
        client = name
    return f"{client or '?'}/{kind}/{name}"


NAME_RULE = ("a name is 1-63 lowercase letters, digits and '-', starting and ending with "
             "a letter or digit")
_NAME_OK = re.compile(NAME_PATTERN)


def fix_name(name: str) -> str:
    """A valid name close to ``name`` ('' when nothing is left): lowercased, other
    characters as '-', at most 63 characters, no '-' at either end."""
    fixed = re.sub(r"[^a-z0-9]+", "-", name.lower())[:63].strip("-")
    return fixed if _NAME_OK.match(fixed) else ""


def _value_at(data: Any, pointer: str) -> Any:
    for part in pointer.split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        elif isinstance(data, dict) and part in data:
            data = data[part]
        else:
            return None
    return data


def _explain_names(doc: Document, findings: list[Finding]) -> list[Finding]:
    """A name that breaks the name pattern says what a name is and suggests one,
    instead of quoting the regular expression."""
    out = []
    for f in findings:
        value = _value_at(doc.data, f.location.path)
        if isinstance(value, str) and (NAME_PATTERN in f.message
                                       or "should have at most 63 characters" in f.message):
            where = f.message.split(": ", 1)[0]
            fixed = fix_name(value)
            f = dataclasses.replace(
                f, message=f"{where}: {describe(value)} is not a valid name",
                hint=f"{NAME_RULE}: {'try ' + repr(fixed) if fixed else 'e.g. cto-au-q1'}")
        out.append(f)
    return out


def _free_name(name: str, taken: set[str]) -> str:
    for n in range(2, 1000):
        candidate = f"{name[:60].rstrip('-')}-{n}"
        if candidate not in taken:
            return candidate
    return name  # pragma: no cover


def _duplicate_runs(doc: Document, data: dict[str, Any]) -> list[Finding]:
    """A campaign's runs have distinct names: each later copy is reported at its name."""
    spec = data.get("spec")
    runs = spec.get("runs") if isinstance(spec, dict) else None
    if data.get("kind") != "Campaign" or not isinstance(runs, list):
        return []
    names = [r.get("name") if isinstance(r, dict) else None for r in runs]
    taken = {n for n in names if isinstance(n, str)}
    first: dict[str, int] = {}
    out = []
    for i, name in enumerate(names):
        if not isinstance(name, str):
            continue
        if name not in first:
            first[name] = i
            continue
        there = doc.locate(("spec", "runs", first[name], "name"), value=True)
        other = _free_name(name, taken)
        taken.add(other)
        out.append(Finding(
            "SCHEMA", Severity.ERROR, doc.locate(("spec", "runs", i, "name"), value=True),
            f"run name {name!r} is declared twice (first at line {there.line})",
            related=(there,),
            hint=f"a run starts once per name: give this one its own, e.g. {other!r}"))
    return out


def validate_document(doc: Document) -> tuple[Resource | None, list[Finding]]:
    """Turn one document into its typed model, or into findings that say why not."""
    model, findings = _validate(doc)
    if findings:  # named only now: most documents have nothing to report
        resource = _resource_name(doc.data)
        findings = [dataclasses.replace(f, resource=resource) for f in findings]
    return model, findings


def _validate(doc: Document) -> tuple[Resource | None, list[Finding]]:
    data = doc.data
    if not isinstance(data, dict):
        return None, [Finding("SCHEMA", Severity.ERROR, doc.locate(), "a resource must be a "
                              "mapping with apiVersion, kind, metadata and spec")]
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in KIND_MODELS:
        if kind is None:
            message, hint = "missing required field 'kind'", f"one of: {', '.join(KINDS)}"
        else:
            message = f"unknown kind {describe(kind)}"
            hint = did_you_mean(str(kind), list(KINDS)) or f"one of: {', '.join(KINDS)}"
        return None, [Finding("SCHEMA", Severity.ERROR, doc.locate(("kind",), value=True),
                              message, hint=hint)]
    if data.get("apiVersion") != API_VERSION:
        got = data.get("apiVersion")
        message = ("missing required field 'apiVersion'" if got is None
                   else f"unsupported apiVersion {describe(got)}")
        return None, [Finding("SCHEMA", Severity.ERROR, doc.locate(("apiVersion",), value=True),
                              message, hint=f"use apiVersion: {API_VERSION}")]
    schema = functools.partial(resource_schema, kind)
    model, findings = validate_model(doc, KIND_MODELS[kind], schema)
    findings = _explain_names(doc, findings) + _duplicate_runs(doc, data)
    if model is None or findings:
        return None, findings
    if kind != "Client" and model.metadata.client is None:
        return None, [Finding("SCHEMA", Severity.ERROR, doc.locate(("metadata",)),
                              "missing required field 'client' in metadata",
                              hint="name the client this resource belongs to")]
    if kind == "Client" and model.metadata.client not in (None, model.metadata.name):
        here = doc.locate(("metadata", "client"), value=True)
        return None, [Finding("SCHEMA", Severity.ERROR, here,
                              "a Client's metadata.client must be its own name or absent",
                              hint="remove metadata.client")]
    return model, []
