"""A kopf-like recursive diff of canonical JSON: equal -> nothing, else recurse or change.

Pure and dependency-free: plan (reconcile) and the revision history (state.queries) use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class FieldDiff:
    """One changed field: a dotted path (``spec.allocation.email``, ``spec.runs[1]``)."""

    path: str
    old: Any
    new: Any


def field_path(parts: tuple[str | int, ...]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _same(old: Any, new: Any) -> bool:
    # bool is an int in Python: True must not equal 1 in a config diff.
    return (type(old) is type(new) and old == new) or (
        isinstance(old, int | float) and isinstance(new, int | float)
        and not isinstance(old, bool) and not isinstance(new, bool) and old == new)


def iter_diff(old: Any, new: Any, path: tuple[str | int, ...] = ()) -> Iterator[FieldDiff]:
    if _same(old, new):
        return
    if isinstance(old, dict) and isinstance(new, dict):
        keys = list(new) + [k for k in old if k not in new]
        for key in keys:
            yield from iter_diff(old.get(key), new.get(key), (*path, key))
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            yield from iter_diff(a, b, (*path, index))
    else:
        yield FieldDiff(field_path(path), old, new)


def diff(old: Any, new: Any, prefix: tuple[str | int, ...] = ()) -> tuple[FieldDiff, ...]:
    return tuple(iter_diff(old, new, prefix))


def leaves(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[FieldDiff]:
    """What a create sets: every non-empty leaf (lists whole), as ``None -> value``."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from leaves(inner, (*path, key))
    elif value not in (None, [], "", {}):
        yield FieldDiff(field_path(path), None, value)
