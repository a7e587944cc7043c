"""The plain fast path (``yaml12.plain_documents``): documents of plain data straight
from libyaml's events, the same as the composer's path gives, and None whenever the
text holds anything only that path decides (it then decides, with its findings)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from campaign_gitops.config.discovery import discover
from campaign_gitops.config.loader import load_bytes, parse_text
from campaign_gitops.config.yaml12 import MAX_DEPTH, PLAIN_PATH_CHARS, plain_documents

EXAMPLE = Path(__file__).resolve().parents[2] / "campaigns"


def composed(text: str) -> list[tuple[int, str, int, int]]:
    """What the composer's path (positions recorded, so never the fast path) gives."""
    result = parse_text(text, "x.yaml", record_positions=True)
    assert not result.findings, result.findings
    return [(d.index, repr(d.data), d.line, d.column) for d in result.documents]


def fast(text: str) -> list[tuple[int, str, int, int]] | None:
    documents = plain_documents(text)
    if documents is None:
        return None
    return [(index, repr(data), line, column) for index, data, line, column in documents]


def test_every_example_file_takes_the_fast_path_with_the_same_documents() -> None:
    files = discover([EXAMPLE])
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert fast(text) == composed(text), path


@pytest.mark.parametrize("text", [
    "a: 1\n--- \n\"b\": [x, 'y', {c: NO, d: 17:00, e: 0o17, f: 1e3}]\n---\n",
    "--- null\n--- 3\n...\n--- [a, -1, .inf, ~, true, True, 'true']\n",
    "k: |\n  block\n  text\nl: >-\n  folded\n  text\n\"q\": \"a\\tb\"\n",
    "", "# only a comment\n", "x", "   \n  - a\n  - [b, {c: d}]\n",
    "%YAML 1.2\n---\na: b\n",
    "? a\n: 1\n",
])
def test_same_documents_as_the_composer(text: str) -> None:
    assert fast(text) == composed(text)


@pytest.mark.parametrize("text", [
    "a: &x 1\nb: *x\n",  # anchors and aliases: the builder counts and checks them
    "a: !!str 1\n", "a: !custom x\n", "!!map {a: 1}\n", "a: ! x\n",  # tags
    "a: 1\na: 2\n",  # a duplicate key (the composer's path reports it)
    "[a]: 1\n", "{a: 1}: 2\n",  # a key that is no scalar
    'a: "x\\0y"\n', '"a\\0": 1\n',  # a NUL
    "a: [1\n", "a: b: c\n", "a: 1\n---\n[x\n",  # a syntax error, also in a later document
    "a: " + "9" * 200 + "\n",  # an integer too long
    "a: " + "[" * (MAX_DEPTH + 2) + "]" * (MAX_DEPTH + 2) + "\n",  # deeper than allowed
])
def test_anything_else_is_left_to_the_composer(text: str) -> None:
    assert plain_documents(text) is None


def test_long_texts_are_left_to_the_composer() -> None:
    text = "a: [" + ", ".join(["1"] * (PLAIN_PATH_CHARS // 3)) + "]\n"
    assert len(text) >= PLAIN_PATH_CHARS
    assert plain_documents(text) is None
    assert plain_documents("a: [1, 2]\n") == [(0, {"a": [1, 2]}, 1, 1)]


def test_lazy_loading_takes_it_and_positions_still_come() -> None:
    raw = b"apiVersion: v1\nkind: Goal\nmetadata:\n  name: g\n  client: acme\n"
    result = load_bytes(raw, "campaigns/g.yaml", lazy_positions=True)
    (doc,) = result.documents
    assert doc.recorded is None and doc.source is not None  # no positions recorded yet
    assert doc.data["metadata"] == {"name": "g", "client": "acme"}
    assert doc.locate(("metadata", "client"), value=True).line == 5
    assert doc.locate(("metadata", "client"), value=True).column == 11


# ---------------------------------------------------------------- the property

KEYS = st.sampled_from(["a", "b", "name", "true", "1", "NO", "a b", "x:y", "-", "?"])
SCALARS = st.one_of(
    st.integers(-10**20, 10**20), st.floats(allow_nan=True), st.booleans(), st.none(),
    st.text(max_size=10),
    st.sampled_from(["17:00", "NO", "yes", "~", "0o17", "0x1F", "1e3", ".inf", "-.nan",
                     "&a", "*a", "!!str", "|", ">", "#", " # x", "{{first_name}}", "- x",
                     "@", "%", "'", '"', "\\0", "\t", "a\nb"]))
DATA = st.recursive(SCALARS, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=4)),
    max_leaves=12)
SNIPPETS = st.sampled_from(["&a ", "*a", "!!str ", "!x ", "? ", "a: 1\n", "- ", "---\n",
                            "...\n", "# c\n", "{", "}", "[", "]", ", ", ": ", "\"", "'",
                            "\\0", "\t", "%YAML 1.2\n", "\n", "  "])


@st.composite
def yaml_texts(draw: st.DrawFn) -> str:
    documents = draw(st.lists(DATA, min_size=1, max_size=3))
    flow = draw(st.sampled_from([None, True, False]))
    text = yaml.safe_dump_all(documents, default_flow_style=flow, allow_unicode=True,
                              explicit_start=draw(st.booleans()))
    for _ in range(draw(st.integers(0, 3))):  # break it here and there
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(SNIPPETS) + text[at:]
    return text


PLAIN_WORDS = st.sampled_from(["a", "x y", "17:00", "NO", "~", "null", "0o17", "1e3", "-1",
                                ".nan", "{{company}}", "b#c", "9" * 120])
QUOTED = st.sampled_from(["'a'", '"b"', '"x\\ty"', "''", '""', "'it''s'", '"nul\\0"'])
DECORATIONS = st.sampled_from(["&a ", "!!str ", "!!int ", "!!float ", "!!bool ", "!!null ",
                               "!x ", "! ", "!!binary "])


@st.composite
def flow_node(draw: st.DrawFn, depth: int = 0) -> str:
    """A flow node with now and then an anchor, alias or tag, keys that repeat."""
    decoration = draw(DECORATIONS) if draw(st.integers(0, 19)) == 0 else ""
    kind = draw(st.sampled_from(["plain", "plain", "quoted", "seq", "map"] if depth < 3
                                else ["plain", "quoted"]))
    if draw(st.integers(0, 29)) == 0:
        kind = "alias"
    if kind == "plain":
        return decoration + draw(PLAIN_WORDS)
    if kind == "quoted":
        return decoration + draw(QUOTED)
    if kind == "alias":
        return "*a"
    items = draw(st.lists(flow_node(depth + 1), max_size=3))
    if kind == "seq":
        return decoration + "[" + ", ".join(items) + "]"
    keys = draw(st.lists(st.one_of(KEYS, QUOTED, flow_node(depth + 1)), min_size=len(items),
                         max_size=len(items)))
    return decoration + "{" + ", ".join(f"{k}: {v}" for k, v in zip(keys, items, strict=True)) + "}"


@st.composite
def block_texts(draw: st.DrawFn) -> str:
    """Block mappings of flow values, documents apart: repeated keys, tags, anchors."""
    documents = []
    for _ in range(draw(st.integers(1, 3))):
        pairs = draw(st.lists(st.tuples(KEYS, flow_node()), max_size=5))
        documents.append("".join(f"{k}: {v}\n" for k, v in pairs) or draw(flow_node()) + "\n")
    return "---\n".join(documents)


@st.composite
def example_texts(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(discover([EXAMPLE]))).read_text(encoding="utf-8")
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 3))
        text = text[:at] + draw(SNIPPETS) + text[at + cut:]
    return text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(yaml_texts(), block_texts(), example_texts()))
def test_fast_path_agrees_with_the_composer_or_steps_aside(text: str) -> None:
    """Whatever the text: the fast path either gives what the composer's path gives (and
    that path finds nothing wrong), or None; lazy loading gives the same either way."""
    slow = parse_text(text, "x.yaml", record_positions=True)
    slow_documents = [(d.index, repr(d.data), d.line, d.column) for d in slow.documents]
    got = fast(text)
    if got is not None:
        assert not slow.findings, (text, slow.findings)
        assert got == slow_documents, text
    lazy = parse_text(text, "x.yaml", lazy_positions=True)
    assert [(d.index, repr(d.data), d.line, d.column) for d in lazy.documents] \
        == slow_documents
    assert [f.to_dict() for f in lazy.findings] == [f.to_dict() for f in slow.findings]
    assert json.dumps(lazy.comments) == json.dumps(slow.comments)
