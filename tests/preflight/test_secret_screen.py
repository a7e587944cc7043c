"""PF016 skips a file whose text can hold no secret, and the skip never changes a finding.

The loader screens each file's text once (``secret_screen.holds_no_secret``); PF016
then leaves that file's documents and comments alone. The property: for any text, the
findings of PF016 are the same with the screen's answer as without it.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from campaign_gitops.config.bundle import build_bundle
from campaign_gitops.config.loader import FileResult, parse_text
from campaign_gitops.preflight.engine import run_preflight
from campaign_gitops.secret_screen import could_hold_secret, holds_no_secret
from tests.helpers.repo import ACME

ROOT = Path("/repo")
CLIENT = textwrap.dedent(ACME["acme/client.yaml"]).lstrip()  # the example repo's client
FILE = "campaigns/acme/goal.yaml"


def pf016(result: FileResult) -> list[tuple[int, int, str]]:
    client = parse_text(CLIENT, "campaigns/acme/client.yaml", lazy_positions=True)
    bundle = build_bundle([client, result], ROOT, ROOT / "campaigns")
    return [(f.location.line, f.location.column, f.message)
            for f in run_preflight(bundle) if f.rule == "PF016"]


def goal(description: str, labels: str = "{team: growth}", comment: str = "") -> str:
    return ("apiVersion: campaign-gitops/v1\nkind: Goal\n"
            f"metadata:\n  name: g\n  client: acme\n  labels: {labels}\n{comment}"
            f"spec:\n  outcome: reply\n  description: {description}\n")


def test_a_file_that_can_hold_no_secret_is_skipped_and_one_that_can_is_not() -> None:
    clean = parse_text(goal("Book a demo with the team."), FILE, lazy_positions=True)
    assert clean.secret_free and pf016(clean) == []
    leaked = parse_text(goal("key AKIAIOSFODNN7EXAMPLE"), FILE, lazy_positions=True)
    assert not leaked.secret_free
    assert [m for *_, m in pf016(leaked)] and "AWS" in pf016(leaked)[0][2]
    commented = parse_text(goal("fine", comment="# AKIAIOSFODNN7EXAMPLE\n"), FILE,
                           lazy_positions=True)
    assert not commented.secret_free and len(pf016(commented)) == 1


def test_an_escape_is_never_cleared() -> None:
    # "\x41KIA..." reads as AKIA...: nothing in the text says so, the escape does.
    text = goal('"\\x41KIAIOSFODNN7EXAMPLE"')
    assert not holds_no_secret(text)
    result = parse_text(text, FILE, lazy_positions=True)
    assert not result.secret_free and len(pf016(result)) == 1


# ---------------------------------------------------------------- the property

FRAGMENTS = st.sampled_from([
    "AKIA", "IOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE", "ghp_wWPw5k4aXcaT4fNP0UcnZwJUVF",
    "k6LO0pINUx", "xo", "x", "xoxb-123456789012-abcdefABCDEF", "postgresql://", "user:pw",
    "@db/x", "pass", "word: hunter2!", "password: hunter22", "to", "ken", "api", "Key",
    "sec", "ret", "p", "wd", "eyJhbGciOiJIUzI1NiJ9", "''", "AAAAAAAAAAAA", "BBBBBBBBBBBB",
    "-----BEGIN RSA PRIVATE KEY-----", "plain", "hello world", "é", "\u212aey", "://a@",
])
# In double quotes an escape spells what the text does not hold (a secret, or a line
# joined without a space); in the other styles a backslash is just a character.
ESCAPES = st.sampled_from(["\\x41KIAIOSFODNN7EXAMPLE", "AKIAIOSFOD\\\nNN7EXAMPLE",
                           "to\\x6ben: hunter2!"])
JOINS = st.sampled_from(["", " ", "\n", "  ", "\n\n"])


@st.composite
def description(draw: st.DrawFn) -> str:
    """A scalar of fragments in one of YAML's styles: folded across lines, quoted, block."""
    parts = draw(st.lists(st.tuples(st.one_of(FRAGMENTS, ESCAPES), JOINS), min_size=1,
                          max_size=6))
    raw = "".join(f + j for f, j in parts).rstrip()
    lines = [line.strip() for line in raw.split("\n")] or [""]
    style = draw(st.sampled_from(["plain", "single", "double", "literal", "folded"]))
    if style == "plain":
        return "\n    ".join(lines)
    if style == "single":
        return "'" + "\n    ".join(line.replace("'", "''") for line in lines) + "'"
    if style == "double":
        return '"' + "\n    ".join(line.replace('"', "'") for line in lines) + '"'
    indicator = "|" if style == "literal" else ">"
    return indicator + "\n" + "".join(f"    {line}\n" for line in lines).rstrip("\n")


@st.composite
def goal_texts(draw: st.DrawFn) -> str:
    # Mostly harmless labels, so that what the description hides decides the screen.
    key = draw(st.sampled_from(["team"] * 6 + ["apiKey", "token", "passwd", "tok", "PASSWORD"]))
    value = draw(st.sampled_from(["growth"] * 6 + ["x1", "''", "AKIAIOSFODNN7EXAMPLE"]))
    comment = ""
    if draw(st.booleans()):
        comment = "# " + "".join(draw(st.lists(FRAGMENTS, max_size=3))) + "\n"
    return goal(draw(description()), f"{{{key}: {value}}}", comment)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(goal_texts())
def test_the_screen_never_changes_what_pf016_finds(text: str) -> None:
    result = parse_text(text, FILE, lazy_positions=True)
    assert result.secret_free == holds_no_secret(text)
    screened = pf016(result)
    result.secret_free = False  # as if the loader had not screened it
    assert pf016(result) == screened, text
    if holds_no_secret(text):  # and no key, string or comment parsed from it passes
        for document in result.documents:
            assert not any(could_hold_secret(s) for s in strings(document.data)), text
        assert not any(could_hold_secret(comment) for *_, comment in result.comments)


def strings(data: object) -> list[str]:
    """Every key and string value of plain data."""
    if isinstance(data, dict):
        return [s for k, v in data.items() for s in (k, *strings(v))]
    if isinstance(data, list):
        return [s for v in data for s in strings(v)]
    return [data] if isinstance(data, str) else []
