"""Property: whatever a file becomes, lint reports findings with places and never crashes.

Valid example files are mutated (keys dropped, values of the wrong type, truncated text,
random bytes, deep nesting); both the library path (load -> bundle -> preflight) and
the real CLI (click's CliRunner) must never raise, exit 0 or 1, and give every finding
a file and a line and column >= 1.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st

from campaign_gitops.cli.main import cli
from campaign_gitops.config.bundle import build_bundle, load_bundle
from campaign_gitops.config.discovery import discover
from campaign_gitops.config.loader import load_bytes
from campaign_gitops.preflight.engine import run_preflight

EXAMPLE = Path(__file__).resolve().parents[2] / "campaigns"
FILES = sorted(p.relative_to(EXAMPLE).as_posix() for p in discover([EXAMPLE]))

SCALARS = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.booleans(), st.none(), st.text(max_size=12),
                    st.sampled_from(["17:00", "NO", "yes", "~", "0o17", "1e3", "[", "{",
                                     "&a", "*a", "!!python/object:os.system", "|", ">",
                                     "{{SMART_PROMPT}}", "- x", "@", "%", "'", '"']))


def _drop_line(text: str, data: st.DataObject) -> str:
    lines = text.splitlines(keepends=True)
    if not lines:
        return text
    i = data.draw(st.integers(0, len(lines) - 1))
    return "".join(lines[:i] + lines[i + 1:])


def _wrong_type(text: str, data: st.DataObject) -> str:
    lines = text.splitlines(keepends=True)
    candidates = [i for i, line in enumerate(lines) if ": " in line and not line.lstrip()
                  .startswith("#")]
    if not candidates:
        return text
    i = data.draw(st.sampled_from(candidates))
    key = lines[i].split(": ", 1)[0]
    value = data.draw(st.one_of(SCALARS.map(json.dumps), st.lists(SCALARS, max_size=3)
                                .map(json.dumps), st.just("{a: 1}"), st.just("[]")))
    lines[i] = f"{key}: {value}\n"
    return "".join(lines)


def _truncate(text: str, data: st.DataObject) -> str:
    return text[:data.draw(st.integers(0, len(text)))]


def _nest(text: str, data: st.DataObject) -> str:
    depth = data.draw(st.sampled_from([10, 70, 300, 5000]))
    opener = data.draw(st.sampled_from(["[", "{a: "]))
    closer = "]" if opener == "[" else "}"
    return text + "---\n" + opener * depth + "1" + closer * depth + "\n"


MUTATIONS = [_drop_line, _wrong_type, _truncate, _nest]


@st.composite
def mutated_file(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(FILES))
    text = (EXAMPLE / name).read_text()
    data = draw(st.data())
    for _ in range(draw(st.integers(1, 3))):
        text = draw(st.sampled_from(MUTATIONS))(text, data)
    raw = text.encode()
    if draw(st.booleans()):  # random bytes somewhere
        pos = draw(st.integers(0, len(raw)))
        raw = raw[:pos] + draw(st.binary(min_size=1, max_size=8)) + raw[pos:]
    return name, raw


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("prop")
    (root / ".git").mkdir()
    shutil.copytree(EXAMPLE, root / "campaigns")
    return root


def _check_findings(findings: list[dict]) -> None:
    for f in findings:
        assert f["file"], f
        assert f["line"] >= 1 and f["column"] >= 1, f
        assert f["severity"] in ("error", "warning") and f["rule"]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(mutated_file())
def test_library_never_raises_and_places_every_finding(repo: Path,
                                                       case: tuple[str, bytes]) -> None:
    name, raw = case
    result = load_bytes(raw, f"campaigns/{name}")
    others = [load_bytes((EXAMPLE / n).read_bytes(), f"campaigns/{n}") for n in FILES
              if n != name]
    bundle = build_bundle([*others, result], repo, repo / "campaigns")
    for action in (None, "test_run", "run", "schedule"):
        findings = run_preflight(bundle, action=action)
        _check_findings([f.to_dict() for f in findings])


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(mutated_file(), st.sampled_from(["json", "sarif", "github", "text"]))
def test_cli_exits_0_or_1_with_placed_findings(repo: Path, case: tuple[str, bytes],
                                               fmt: str) -> None:
    name, raw = case
    target = repo / "campaigns" / name
    original = target.read_bytes()
    target.write_bytes(raw)
    try:
        result = CliRunner().invoke(cli, ["--dir", str(repo / "campaigns"), "lint", "--format",
                                          fmt, "--no-cache"])
        assert result.exception is None or isinstance(result.exception, SystemExit), \
            result.output
        assert result.exit_code in (0, 1), result.output
        if fmt == "json":
            data = json.loads(result.output)
            _check_findings(data["findings"])
            assert (result.exit_code == 1) == (data["summary"]["errors"] > 0)
        bundle = load_bundle(repo / "campaigns", repo)
        _check_findings([f.to_dict() for f in bundle.findings])
    finally:
        target.write_bytes(original)
