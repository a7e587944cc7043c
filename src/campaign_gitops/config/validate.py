"""Pydantic validation errors -> Findings at the exact key or value, for any model.

Resources (``config/schema.py``) and the project configuration
(``config/project_file.py``) share this: an error becomes a ``SCHEMA`` finding at the
position the loader recorded, unknown fields and misspelt choices get a "did you mean"
hint computed from the model's generated JSON Schema.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from campaign_gitops.config.loader import Document, pointer
from campaign_gitops.findings import Finding, Location, Severity

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]


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


def fields_at(root: dict[str, Any], loc: Loc) -> list[str]:
    """The field names the JSON Schema ``root`` allows in the mapping at ``loc``."""
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
        extra = branch.get("additionalProperties")
        node = props.get(part) if part in props else (extra if isinstance(extra, dict) else None)
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


def describe(value: Any) -> str:
    """A short JSON rendering of a value for messages."""
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def _choices(error: dict[str, Any]) -> list[str]:
    expected = str((error.get("ctx") or {}).get("expected", ""))
    return [part.strip(" '") for part in expected.replace(" or ", ",").split(",") if part.strip()]


def error_finding(doc: Document, schema: dict[str, Any], error: Any) -> Finding:
    """One pydantic error (``ValidationError.errors()`` item) as a SCHEMA finding."""
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    etype = error["type"]
    hint = ""
    if loc and loc[-1] == "[key]":  # a dict key that is not one of the allowed ones
        loc = loc[:-1]
        location = doc.locate(loc)
        key = str(loc[-1]) if loc else ""
        message = f"{'.'.join(str(p) for p in loc[:-1])}: unknown key {key!r}"
        choices = _choices(error)
        pattern = (error.get("ctx") or {}).get("pattern")
        hint = did_you_mean(key, choices) or (
            f"one of: {', '.join(choices)}" if choices
            else f"a key matches {pattern}" if pattern else "")
    elif etype == "extra_forbidden":
        field_name = str(loc[-1])
        location = doc.locate(loc)
        message = f"unknown field {field_name!r}"
        allowed = fields_at(schema, loc[:-1])
        hint = did_you_mean(field_name, allowed) or (
            f"allowed here: {', '.join(allowed)}" if allowed else "remove it")
    elif etype == "missing":
        parent = doc.locate(loc[:-1])
        location = Location(parent.file, parent.line, parent.column, pointer(loc))
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
            message += f" (got {describe(error['input'])})"
        if etype == "literal_error" and isinstance(error.get("input"), str):
            hint = did_you_mean(error["input"], _choices(error))
    return Finding("SCHEMA", Severity.ERROR, location, message, hint=hint)


def validate_model(doc: Document, model: type[M],
                   schema: Callable[[], dict[str, Any]]) -> tuple[M | None, list[Finding]]:
    """Validate a document's data into ``model``, or into findings that say why not.

    ``schema`` gives the model's JSON Schema (for "did you mean" hints); it is asked
    for only when the document fails: generating it costs more than validating
    hundreds of documents, and most runs have no failure."""
    try:
        return model.model_validate(doc.data), []
    except ValidationError as exc:
        generated = schema()
        return None, [error_finding(doc, generated, err) for err in exc.errors()]
