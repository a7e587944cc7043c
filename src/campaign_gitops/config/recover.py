"""The identity a document declares when it does not load: its ``kind`` and its
``metadata`` ``name`` and ``client``, read leniently from the composed nodes (a
duplicate key, a bad tag) or from the text the parser could not read (after a syntax
error), so what refers to it says it does not load, and where."""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from campaign_gitops.findings import Location


@dataclass(frozen=True, slots=True)
class BrokenDocument:
    """A document that did not load (duplicate key, bad tag, syntax error), with the
    identity it declares as far as it can be read, and where its error is."""

    kind: str
    name: str
    client: str | None
    error: Location


def _value_node(node: yaml.Node, key: str) -> yaml.Node | None:
    """The value of the first ``key`` of a mapping node (duplicates tolerated)."""
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return value_node  # type: ignore[no-any-return]
    return None


def _scalar(node: yaml.Node | None) -> str | None:
    return node.value if isinstance(node, yaml.ScalarNode) and node.value else None


def broken_from_node(node: yaml.Node, error: Location) -> BrokenDocument | None:
    """The identity a document declares, read leniently from its composed nodes."""
    kind = _scalar(_value_node(node, "kind"))
    meta = _value_node(node, "metadata")
    name = _scalar(_value_node(meta, "name")) if meta is not None else None
    if kind is None or name is None:
        return None
    return BrokenDocument(kind, name, _scalar(_value_node(meta, "client")), error)  # type: ignore[arg-type]


_DOC_START = re.compile(r"^(?:---|\.\.\.)(?:[ \t]|$)", re.MULTILINE)
_KIND_LINE = re.compile(r"^kind:[ \t]*[\"']?([A-Za-z]+)", re.MULTILINE)
_META_FLOW = re.compile(r"^metadata:[ \t]*\{([^}\n]*)", re.MULTILINE)
_META_BLOCK = re.compile(r"^metadata:[ \t]*(?:#.*)?\n((?:[ \t]+\S.*(?:\n|$)|[ \t]*\n)+)",
                         re.MULTILINE)
_FIELD = re.compile(r"(?:^|[{,\s])(name|client):[ \t]*[\"']?([a-z0-9][-a-z0-9]*)")


def broken_from_text(text: str, error: Location) -> list[BrokenDocument]:
    """Identities declared in text the parser could not read (after a syntax error):
    a top-level ``kind:`` and the ``name``/``client`` of ``metadata``, per document."""
    out = []
    for chunk in _DOC_START.split(text):
        kind = _KIND_LINE.search(chunk)
        fields: dict[str, str] = {}
        flow = _META_FLOW.search(chunk)
        block = None if flow else _META_BLOCK.search(chunk)
        if flow:
            for m in _FIELD.finditer(flow.group(1)):
                fields.setdefault(m.group(1), m.group(2))
        elif block:
            lines = [ln for ln in block.group(1).splitlines() if ln.strip()]
            indent = len(lines[0]) - len(lines[0].lstrip())
            for ln in lines:
                line = (_FIELD.match(ln[indent:]) if len(ln) - len(ln.lstrip()) == indent
                        else None)
                if line:
                    fields.setdefault(line.group(1), line.group(2))
        if kind and "name" in fields:
            out.append(BrokenDocument(kind.group(1), fields["name"], fields.get("client"),
                                      error))
    return out


def unread_text(text: str, after_line: int) -> str:
    """The text from 0-based line ``after_line`` on (what the parser did not load)."""
    at = 0
    for _ in range(after_line):
        at = text.find("\n", at) + 1
        if at == 0:
            return ""
    return text[at:]

