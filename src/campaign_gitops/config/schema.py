"""JSON Schemas out of the models, and validation of documents into models.

Validation runs pydantic's compiled core on every document (the fast path); a failure
is turned into findings at the exact key or value, with a "did you mean" hint for
unknown fields computed from the generated schema.
"""

from __future__ import annotations

import difflib
import functools
import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from campaign_gitops.config.loader import Document, pointer
from campaign_gitops.config.models import (
    API_VERSION,
    KIND_MODELS,
    KINDS,
    SCHEMA_BASE,
    Resource,
)
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


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        ref = schema["$ref"]
        schema = root["$defs"][ref.rsplit("/", 1)[1]]
    return schema


def _object_branch(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any] | None:
    schema = _resolve(schema, root)
    if "properties" in schema or "additionalProperties" in schema:
        return schema
    for branch in schema.get("anyOf", []) + schema.get("oneOf", []):
        found = _object_branch(branch, root)
        if found is not None:
            return found
    return None


def known_fields(kind: str, loc: tuple[str | int, ...]) -> list[str]:
    """The field names the schema allows in the mapping at ``loc``."""
    root = resource_schema(kind)
    node: dict[str, Any] | None = root
    for part in loc:
        if node is None:
            return []
        node = _resolve(node, root)
        if isinstance(part, int):
            node = next((b.get("items") for b in [node, *node.get("anyOf", [])]
                         if isinstance(b, dict) and "items" in b), None)
            continue
        branch = _object_branch(node, root)
        if branch is None:
            return []
        props = branch.get("properties", {})
        node = props.get(part) if part in props else (
            branch.get("additionalProperties") if isinstance(
                branch.get("additionalProperties"), dict) else None)
    if node is None:
        return []
    branch = _object_branch(node, root)
    return sorted(branch.get("properties", {})) if branch else []


def did_you_mean(word: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in candidates}
        if word.lower() in lowered:
            close = [lowered[word.lower()]]
    return f"did you mean {close[0]!r}?" if close else ""


# ---------------------------------------------------------------- validation


def _describe(value: Any) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def _resource_name(data: Any) -> str:
    if not isinstance(data, dict):
        return ""
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    kind = data.get("kind") if isinstance(data.get("kind"), str) else "?"
    name = meta.get("name") if isinstance(meta.get("name"), str) else "?"
    client = meta.get("client") if isinstance(meta.get("client"), str) else None
    if kind == "Client":
        client = name
    return f"{client or '?'}/{kind}/{name}"


def _error_finding(doc: Document, kind: str, error: Any, resource: str) -> Finding:
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    etype = error["type"]
    hint = ""
    if etype == "extra_forbidden":
        field_name = str(loc[-1])
        location = doc.locate(loc)
        message = f"unknown field {field_name!r}"
        hint = did_you_mean(field_name, known_fields(kind, loc[:-1]))
        if not hint:
            allowed = known_fields(kind, loc[:-1])
            hint = f"allowed here: {', '.join(allowed)}" if allowed else "remove it"
    elif etype == "missing":
        location = doc.locate(loc[:-1])
        location = type(location)(location.file, location.line, location.column, pointer(loc))
        message = f"missing required field {str(loc[-1])!r}"
        if loc[:-1]:
            message += f" in {'.'.join(str(p) for p in loc[:-1])}"
    else:
        location = doc.locate(loc, value=True)
        where = ".".join(str(p) for p in loc) or "document"
        msg = error["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        message = f"{where}: {msg}"
        if etype not in ("value_error", "assertion_error") and "input" in error:
            message += f" (got {_describe(error['input'])})"
    return Finding("SCHEMA", Severity.ERROR, location, message, resource=resource, hint=hint)


def validate_document(doc: Document) -> tuple[Resource | None, list[Finding]]:
    """Turn one document into its typed model, or into findings that say why not."""
    data = doc.data
    resource = _resource_name(data)
    if not isinstance(data, dict):
        return None, [Finding("SCHEMA", Severity.ERROR, doc.locate(), "a resource must be a "
                              "mapping with apiVersion, kind, metadata and spec",
                              resource=resource)]
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in KIND_MODELS:
        if kind is None:
            message, hint = "missing required field 'kind'", f"one of: {', '.join(KINDS)}"
        else:
            message = f"unknown kind {_describe(kind)}"
            hint = did_you_mean(str(kind), list(KINDS)) or f"one of: {', '.join(KINDS)}"
        return None, [Finding("SCHEMA", Severity.ERROR, doc.locate(("kind",), value=True),
                              message, resource=resource, hint=hint)]
    if data.get("apiVersion") != API_VERSION:
        got = data.get("apiVersion")
        message = ("missing required field 'apiVersion'" if got is None
                   else f"unsupported apiVersion {_describe(got)}")
        return None, [Finding("SCHEMA", Severity.ERROR, doc.locate(("apiVersion",), value=True),
                              message, resource=resource, hint=f"use apiVersion: {API_VERSION}")]
    try:
        model = KIND_MODELS[kind].model_validate(data)
    except ValidationError as exc:
        findings = [_error_finding(doc, kind, err, resource) for err in exc.errors()]
        return None, findings
    if kind != "Client" and model.metadata.client is None:
        return None, [Finding("SCHEMA", Severity.ERROR, doc.locate(("metadata",)),
                              "missing required field 'client' in metadata", resource=resource,
                              hint="name the client this resource belongs to")]
    if kind == "Client" and model.metadata.client not in (None, model.metadata.name):
        here = doc.locate(("metadata", "client"), value=True)
        return None, [Finding("SCHEMA", Severity.ERROR, here,
                              "a Client's metadata.client must be its own name or absent",
                              resource=resource, hint="remove metadata.client")]
    return model, []
