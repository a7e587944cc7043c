"""Secrets do not belong in git: API keys and passwords anywhere in a file, comments too."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator
from typing import Any

import yaml

from campaign_gitops.config.bundle import Entry, Key
from campaign_gitops.config.models import KINDS
from campaign_gitops.findings import Location
from campaign_gitops.preflight.context import RuleContext
from campaign_gitops.preflight.registry import E, Hit, always, rule

# Token formats with a recognisable prefix (anchored so "task-..." is no "sk-...").
_EDGE = r"(?<![A-Za-z0-9_-])"
TOKEN_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("Anthropic API key", re.compile(_EDGE + r"sk-ant-[A-Za-z0-9_-]{20,}")),
    ("OpenAI-style API key", re.compile(_EDGE + r"sk-(?!ant-)(?:proj-)?[A-Za-z0-9_-]{20,}")),
    ("AWS access key id", re.compile(_EDGE + r"(?:AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Z])")),
    ("GitHub token", re.compile(_EDGE + r"gh[pousr]_[A-Za-z0-9]{30,}")),
    ("Slack token", re.compile(_EDGE + r"xox[abprs]-[A-Za-z0-9-]{10,}")),
    ("private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
)
# "password: hunter2" inside a text; the value needs a digit or symbol ("Password: click
# here" in an email body is no secret).
INLINE_PASSWORD = re.compile(
    r"(?i)\b(?:password|passwd|pwd|api[_-]?key|secret)\s*[:=]\s*(?=\S*[0-9!@#$%^&*])(\S{6,})")
# Keys whose value is a secret; keys naming where a secret lives (passwordEnv) are fine.
SECRET_KEY = re.compile(
    r"(?i)(?:password|passwd|pwd|secret|api[_-]?key|apikey|token|private[_-]?key|"
    r"access[_-]?key)$")
# Cheap test on the whole document's lowercased repr before the exact walk (a
# case-insensitive pattern is several times slower than lower() and this one).
PREFILTER = re.compile(
    r"sk-|akia|asia|gh[pousr]_|xox|private key|passw|pwd|secret|api[_-]?key|apikey|token|"
    r"access")


def _mask(secret: str) -> str:
    return f"{secret[:6]}… ({len(secret)} characters)"


def _in_text(text: str) -> Iterator[tuple[str, int, int]]:
    """(what, offset, length) of every secret-looking piece of a string."""
    for what, pattern in TOKEN_PATTERNS:
        for m in pattern.finditer(text):
            yield what, m.start(), m.end() - m.start()
    for m in INLINE_PASSWORD.finditer(text):
        yield "password", m.start(1), m.end(1) - m.start(1)


def _walk(data: Any, path: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], Any,
                                                                     str | None]]:
    """(path, scalar, key) of every scalar; key is the mapping key that holds it."""
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, dict | list):
                yield from _walk(value, (*path, key))
            else:
                yield (*path, key), value, key
    elif isinstance(data, list):
        for i, value in enumerate(data):
            if isinstance(value, dict | list):
                yield from _walk(value, (*path, i))
            else:
                yield (*path, i), value, None


Span = tuple[tuple[int, int], tuple[int, int]]  # (line, column) from, to (0-based)


def _scalar_spans(text: str) -> list[Span]:
    """Where each scalar token of a text lies (a '#' inside one is no comment)."""
    spans: list[Span] = []
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if isinstance(token, yaml.ScalarToken):
                start, end = token.start_mark, token.end_mark
                spans.append(((start.line, start.column), (end.line, end.column)))
    except yaml.YAMLError:
        pass  # what follows a syntax error counts as comment: better reported than missed
    return spans


def _comment_hits(ctx: RuleContext, file: str) -> list[tuple[int, int, str, str]]:
    """(line, column, what, secret) of each secret in a real comment of the file.

    The loader lists comment candidates (a '#' at a line start or after a blank); the
    rare ones holding a secret are checked against the file's scalar tokens, since a
    '#' inside a quoted or block scalar is text (scanned with the values already).
    """
    result = ctx.bundle.files.get(file)
    found: list[tuple[int, int, str, str]] = []
    for line, column, text in result.comments if result is not None else ():
        if PREFILTER.search(text.lower()):
            for what, offset, length in _in_text(text):
                found.append((line, column + offset, what, text[offset:offset + length]))
    if not found:
        return found
    loaded = ctx.text_of(file)
    spans = _scalar_spans(loaded[0]) if loaded is not None else []
    starts = [start for start, _ in spans]  # in text order, never overlapping
    out = []
    for hit in found:
        here = (hit[0] - 1, hit[1] - 1)
        i = bisect_right(starts, here) - 1  # the last scalar starting before it
        if i < 0 or not here < spans[i][1]:
            out.append(hit)
    return out


def _by_entry(ctx: RuleContext, file: str) -> dict[Key, list[Hit]]:
    """The file's comment secrets, each given to the resource whose document holds it
    (the nearest one above; the first for comments above every document)."""
    hits = _comment_hits(ctx, file)
    if not hits:
        return {}
    entries = sorted((e for e in ctx.bundle.entries.values() if e.file == file),
                     key=lambda e: e.document.line)
    out: dict[Key, list[Hit]] = {}
    for line, column, what, secret in hits:
        if not entries:
            break
        owner = entries[0]
        for e in entries:
            if e.document.line <= line:
                owner = e
        out.setdefault(owner.key, []).append(Hit(
            f"this comment holds what looks like a {what} ({_mask(secret)})", (),
            "remove it and rotate it: comments are committed to git too",
            location=Location(file, line, column)))
    return out


@rule("PF016", KINDS, always(E),
      description="what looks like a secret (API key, password) in a file")
def secret_in_file(entry: Entry, ctx: RuleContext) -> Iterator[Hit]:
    """No credentials in git: API keys (sk-ant-, sk-, AKIA, ghp_, xox…, private keys), a
    ``password: …`` inside a text, or a key such as ``password``/``apiKey``/``token``
    with a value, anywhere in the document (metadata too), and the API keys and
    ``password: …`` in the file's comments (each reported once, on the resource whose
    document holds the comment). Keep secrets in the environment;
    campaign-gitops.yaml names the variables (``passwordEnv``)."""
    per_file: dict[str, dict[Key, list[Hit]]] = ctx.memo("PF016:comments", dict)
    in_comments = per_file.get(entry.file)
    if in_comments is None:
        in_comments = per_file[entry.file] = _by_entry(ctx, entry.file)
    yield from in_comments.get(entry.key, ())
    data = entry.document.data
    if not PREFILTER.search(repr(data).lower()):
        return
    for path, value, key in _walk(data, ()):
        if key is not None and SECRET_KEY.search(key) and value not in (None, "", False) \
                and not (isinstance(value, str) and value.lstrip().startswith(("${", "{{"))):
            yield Hit(f"{key!r} holds what looks like a secret ({_mask(str(value))})", path,
                      "keep secrets out of git: use an environment variable", value=True)
            continue
        if not isinstance(value, str):
            continue
        for what, offset, length in _in_text(value):
            where = ctx.locate_in_scalar(entry, path, value, offset, length)
            yield Hit(f"this looks like a {what} ({_mask(value[offset:offset + length])})",
                      path, "remove it and rotate it; keep secrets in the environment",
                      location=where)
