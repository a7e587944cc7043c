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
from campaign_gitops.preflight.secret_detectors import find_secrets, mask
from campaign_gitops.secret_screen import could_hold_secret

# Keys whose value is a secret; keys naming where a secret lives (passwordEnv) are fine.
SECRET_KEY = re.compile(
    r"(?i)(?:password|passwd|pwd|secret|api[_-]?key|apikey|token|private[_-]?key|"
    r"access[_-]?key)$")


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
        if could_hold_secret(text):
            for what, offset, length in find_secrets(text):
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
            f"this comment holds what looks like a secret: {what} ({mask(secret)})", (),
            "remove it and rotate it: comments are committed to git too",
            location=Location(file, line, column)))
    return out


@rule("PF016", KINDS, always(E),
      description="what looks like a secret (API key, password) in a file")
def secret_in_file(entry: Entry, ctx: RuleContext) -> Iterator[Hit]:
    """No credentials in git, found by detect-secrets' detectors: API keys and tokens
    (AWS, Anthropic, OpenAI, GitHub, GitLab, Slack tokens and webhook URLs, Stripe,
    SendGrid, Google, Twilio, JWTs, private keys, ...), passwords in URLs
    (``postgresql://user:pass@host``), high-entropy strings such as an AWS secret
    access key (detect-secrets' entropy limits and filters); a ``password: …`` inside
    a text; a key such as ``password``/``apiKey``/``token`` with a value, anywhere in
    the document (metadata too); and the same in the file's comments (each reported
    once, on the resource whose document holds the comment). Links without
    credentials and placeholders (``{{unsubscribe_url}}``) are no secrets. Keep
    secrets in the environment; campaign-gitops.yaml names the variables
    (``passwordEnv``)."""
    loaded = ctx.bundle.files.get(entry.file)
    if loaded is not None and loaded.secret_free:  # its text can hold none (the loader saw)
        return
    per_file: dict[str, dict[Key, list[Hit]]] = ctx.memo("PF016:comments", dict)
    in_comments = per_file.get(entry.file)
    if in_comments is None:
        in_comments = per_file[entry.file] = _by_entry(ctx, entry.file)
    yield from in_comments.get(entry.key, ())
    data = entry.document.data
    if not could_hold_secret(repr(data)):  # the whole document at once, keys too
        return
    for path, value, key in _walk(data, ()):
        if key is not None and SECRET_KEY.search(key) and value not in (None, "", False) \
                and not (isinstance(value, str) and value.lstrip().startswith(("${", "{{"))):
            yield Hit(f"{key!r} holds what looks like a secret ({mask(str(value))})", path,
                      "keep secrets out of git: use an environment variable", value=True)
            continue
        if not isinstance(value, str) or not could_hold_secret(value):
            continue
        for what, offset, length in find_secrets(value):
            where = ctx.locate_in_scalar(entry, path, value, offset, length)
            yield Hit(f"this looks like a secret: {what} "
                      f"({mask(value[offset:offset + length])})", path, _hint(what),
                      location=where)


def _hint(what: str) -> str:
    if what == "Basic Auth Credentials":
        return ("take the password out of the URL and rotate it; keep it in the environment "
                "(campaign-gitops.yaml names the variable)")
    return "remove it and rotate it; keep secrets in the environment"
