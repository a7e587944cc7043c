"""The YAML loader: YAML 1.2 core scalars, positions, and every kind of bad input as a finding."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from campaign_gitops.config.discovery import discover, discover_sources, relative_name, sources
from campaign_gitops.config.loader import load_bytes, load_file, parse_text, read_to_end
from campaign_gitops.config.yaml12 import HAVE_C_PARSER, MAX_DEPTH, resolve_core_scalar


def load(text: str | bytes, file: str = "campaigns/x.yaml"):
    raw = text.encode() if isinstance(text, str) else text
    return load_bytes(raw, file)


def only_finding(text: str | bytes):
    result = load(text)
    assert len(result.findings) == 1, result.findings
    finding = result.findings[0]
    assert finding.rule == "SCHEMA" and finding.severity == "error"
    assert finding.location.file == "campaigns/x.yaml"
    return finding


def test_the_c_parser_is_used() -> None:
    assert HAVE_C_PARSER


@pytest.mark.parametrize(("text", "expected"), [
    ("17:00", "17:00"),          # YAML 1.1 would read sexagesimal 1020
    ("NO", "NO"),                # Norway, not false
    ("no", "no"),
    ("yes", "yes"),
    ("Yes", "Yes"),
    ("on", "on"),
    ("off", "off"),
    ("y", "y"),
    ("true", True),
    ("True", True),
    ("FALSE", False),
    ("0o17", 15),
    ("0x1F", 31),
    ("017", 17),
    ("1e3", 1000.0),
    ("-2.5", -2.5),
    ("~", None),
    ("null", None),
    ("1_000", "1_000"),
    ("2026-12-25", "2026-12-25"),  # dates stay strings; the models parse them
    ("+12", 12),
])
def test_yaml_12_core_scalars(text: str, expected: object) -> None:
    result = load(f"value: {text}\n")
    assert not result.findings
    value = result.documents[0].data["value"]
    assert value == expected and type(value) is type(expected)


def test_special_floats() -> None:
    assert resolve_core_scalar(".inf") == math.inf
    assert resolve_core_scalar("-.Inf") == -math.inf
    assert math.isnan(resolve_core_scalar(".NaN"))


def test_quoted_scalars_stay_strings() -> None:
    data = load('a: "true"\nb: \'12\'\n').documents[0].data
    assert data == {"a": "true", "b": "12"}


def test_workhours_and_countries_as_the_spec_says() -> None:
    doc = load("workHours: {start: 09:00, end: 17:00}\ncountries: [NO, SE]\n").documents[0]
    assert doc.data == {"workHours": {"start": "09:00", "end": "17:00"},
                        "countries": ["NO", "SE"]}


def test_positions_of_keys_and_values() -> None:
    doc = load("a: 1\nspec:\n  steps:\n    - channel: email\n      delayDays: 3\n").documents[0]
    loc = doc.locate(("spec", "steps", 0, "delayDays"))
    assert (loc.line, loc.column, loc.path) == (5, 7, "/spec/steps/0/delayDays")
    value = doc.locate(("spec", "steps", 0, "delayDays"), value=True)
    assert (value.line, value.column) == (5, 18)
    missing = doc.locate(("spec", "steps", 0, "template"))  # nearest ancestor
    assert (missing.line, missing.column, missing.path) == (4, 7, "/spec/steps/0/template")


def test_duplicate_key_points_at_the_second() -> None:
    finding = only_finding("spec:\n  goal: a\n  segment: s\n  goal: b\n")
    assert (finding.location.line, finding.location.column) == (4, 3)
    assert "duplicate key 'goal'" in finding.message and "line 2, column 3" in finding.message


@pytest.mark.parametrize("text", [
    "a: !!python/object:os.system {}\n",
    "a: !!python/object/apply:os.system ['echo hi']\n",
    "a: !!python/name:os.system ''\n",
    "a: !custom value\n",
    "a: !!binary aGVsbG8=\n",
    "a: !!set {x}\n",
    "a: !!timestamp 2026-01-01\n",
])
def test_tags_that_are_not_plain_data_are_rejected(text: str) -> None:
    finding = only_finding(text)
    assert "is not plain data" in finding.message
    assert (finding.location.line, finding.location.column) == (1, 4)


def test_plain_data_tags_are_allowed_when_they_fit() -> None:
    assert load("a: !!str 12\nb: !!int 7\n").documents[0].data == {"a": "12", "b": 7}
    assert "not a valid !!bool" in only_finding("a: !!bool yes\n").message


def test_billion_laughs_is_bounded() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    finding = only_finding("\n".join(lines) + "\n")
    assert "alias bomb" in finding.message


def test_recursive_alias() -> None:
    finding = only_finding("a: &x\n  b: *x\n")
    assert "alias" in finding.message
    assert (finding.location.line, finding.location.column) == (1, 4)  # the anchor


def test_undefined_alias() -> None:
    finding = only_finding("a: *nowhere\n")
    assert "undefined alias" in finding.message
    assert (finding.location.line, finding.location.column) == (1, 4)


@pytest.mark.parametrize("text", [
    "[" * 50_000 + "]" * 50_000,      # crashed the C composer before the bound
    "- " * 40_000 + "x\n",
    "a:\n" + "".join(" " * i + "b:\n" for i in range(1, 200)),
])
def test_deep_nesting_is_a_finding_not_a_crash(text: str) -> None:
    finding = only_finding(text)
    assert f"deeper than {MAX_DEPTH}" in finding.message


def test_file_over_the_size_bound(tmp_path: Path) -> None:
    path = tmp_path / "campaigns" / "big.yaml"
    path.parent.mkdir()
    path.write_text("a: " + "x" * 2000 + "\n")
    result = load_file(path, tmp_path, max_bytes=1000)
    assert [f.message for f in result.findings] == [
        "file is 2004 bytes, over the limit of 1000"]
    assert result.findings[0].location.file == "campaigns/big.yaml"
    assert load_bytes(b"a: " + b"x" * 2000, "f", max_bytes=1000).findings


def test_non_utf8_points_at_the_byte() -> None:
    finding = only_finding(b"a: 1\nname: caf\xe9\n")
    assert (finding.location.line, finding.location.column) == (2, 10)
    assert "not UTF-8" in finding.message and "0xe9" in finding.message


def test_nul_byte_and_control_characters() -> None:
    assert "NUL" in only_finding(b"a: 1\nb: \x00\n").message
    finding = only_finding("a: 1\nb: x\x01y\n")
    assert (finding.location.line, finding.location.column) == (2, 5)
    assert "U+0001" in finding.message


def test_utf8_bom_is_accepted() -> None:
    assert load(b"\xef\xbb\xbfa: 1\n").documents[0].data == {"a": 1}


def test_symlink_leaving_the_repo(tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text("a: 1\n")
    repo = tmp_path / "repo"
    (repo / "campaigns").mkdir(parents=True)
    link = repo / "campaigns" / "link.yaml"
    os.symlink(outside, link)
    inside = repo / "campaigns" / "real.yaml"
    inside.write_text("b: 2\n")
    os.symlink(inside, repo / "campaigns" / "alias.yaml")
    results = {r.file: r for r in (load_file(p, repo) for p in discover([repo / "campaigns"]))}
    [finding] = results["campaigns/link.yaml"].findings
    assert "symlink points outside the repository" in finding.message
    assert not results["campaigns/alias.yaml"].findings  # a link inside the repo is fine


def test_syntax_error_with_the_parser_position() -> None:
    finding = only_finding("spec:\n  steps: [a, b\n  goal: x\n")
    assert finding.message.startswith("YAML syntax error")
    assert "started at line 2, column 10" in finding.message
    assert finding.location.line == 3


def test_tab_indentation_gets_a_hint() -> None:
    finding = only_finding("a: 1\n\tb: 2\n")
    assert (finding.location.line, finding.location.column) == (2, 1)
    assert "tabs" in finding.hint


def test_multi_document_files_and_empty_documents() -> None:
    result = load("---\n---\na: 1\n---\n# only a comment\n---\nb: 2\n...\n")
    assert not result.findings
    assert [d.data for d in result.documents] == [{"a": 1}, {"b": 2}]
    assert [d.line for d in result.documents] == [3, 7]
    assert [d.index for d in result.documents] == [1, 3]


def test_a_syntax_error_in_a_later_document_keeps_the_earlier_ones() -> None:
    result = load("a: 1\n---\nb: [\n")
    assert [d.data for d in result.documents] == [{"a": 1}]
    assert result.failed and result.findings[0].location.line == 4


def test_empty_file() -> None:
    result = load("")
    assert not result.findings and not result.documents


def test_non_string_keys_are_rejected() -> None:
    finding = only_finding("? [a, b]\n: 1\n")
    assert "keys must be plain strings" in finding.message


def test_discover_finds_yaml_and_yml_sorted_skipping_hidden(tmp_path: Path) -> None:
    for name in ("b.yaml", "a/c.yml", "a/readme.md", ".hidden/x.yaml", "a/.x.yaml"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("a: 1\n")
    found = [p.relative_to(tmp_path).as_posix() for p in discover([tmp_path])]
    assert found == ["a/c.yml", "b.yaml"]


def test_parse_text_without_positions_keeps_data() -> None:
    result = parse_text("a: {b: 1}\n", "f", record_positions=False)
    assert result.documents[0].data == {"a": {"b": 1}}
    assert result.documents[0].positions == {}


def test_lazy_positions_parse_again_only_when_asked() -> None:
    text = "a: 1\n---\nspec:\n  goal: x\n"
    result = parse_text(text, "f", lazy_positions=True)
    first, second = result.documents
    assert first.recorded is None and second.recorded is None
    assert second.locate(("spec", "goal"), value=True).line == 4
    assert first.positions == parse_text(text, "f").documents[0].positions
    assert second.positions == parse_text(text, "f").documents[1].positions


@pytest.mark.parametrize(("text", "column"), [
    ("a: " + "1" * 4301 + "\n", 4),  # Python refuses to convert it: was an internal error
    ("a: [x, -" + "9" * 200 + "]\n", 8),
    ("a: !!int " + "7" * 5000 + "\n", 4),
])
def test_an_integer_too_long_is_a_positioned_finding(text: str, column: int) -> None:
    finding = only_finding(text)
    assert (finding.location.line, finding.location.column) == (1, column)
    assert "digits is too long" in finding.message and "quote" in finding.hint


def test_integers_load_up_to_the_64_bit_range_and_beyond_are_findings() -> None:
    assert not load(f"a: {2**63 - 1}\nb: {-(2**63)}\nc: 0x{2**63 - 1:x}\n").findings
    for text in (f"a: {2**63}\n", f"a: -{2**63 + 1}\n", f"a: 0x{2**63:x}\n",
                 f"a: 0o{2**64:o}\n", "a: " + "1" * 100 + "\n"):
        findings = load(text).findings
        assert [(f.rule, f.location.line, f.location.column) for f in findings] == [
            ("SCHEMA", 1, 4)], text


@pytest.mark.parametrize("path", [
    "campaigns/acme/q1.yaml", "campaigns/./acme/q1.yaml", "campaigns//acme/q1.yaml",
    "campaigns/../campaigns/acme/q1.yaml", "campaigns/acme/.hidden.yaml", "q1.yaml",
    "../elsewhere/q1.yaml", "campaigns/acme/", "campaigns/a.b/q1.yml",
])
@pytest.mark.parametrize("trailing", ["", "/"])
def test_sources_name_every_path_as_relative_name_does(tmp_path: Path, path: str,
                                                       trailing: str) -> None:
    root = Path(str(tmp_path) + trailing)
    for given in (f"{tmp_path}/{path}", path):
        assert sources([given], root) == [(relative_name(given, root), given)]
    listed = discover_sources([tmp_path / "campaigns"], root)
    assert listed == [(relative_name(p, root), p) for _, p in listed]


def test_discover_sources_names_the_files_of_discover(tmp_path: Path) -> None:
    (tmp_path / "campaigns" / "acme").mkdir(parents=True)
    (tmp_path / "campaigns" / "acme" / "q1.yaml").write_text("a: 1\n")
    (tmp_path / "campaigns" / "top.yml").write_text("a: 1\n")
    assert discover_sources([tmp_path / "campaigns"], tmp_path) == [
        ("campaigns/acme/q1.yaml", str(tmp_path / "campaigns" / "acme" / "q1.yaml")),
        ("campaigns/top.yml", str(tmp_path / "campaigns" / "top.yml"))]
    assert discover_sources([tmp_path / "campaigns"], tmp_path / "campaigns")[0][0] \
        == "acme/q1.yaml"


def test_a_file_is_read_to_its_end_even_when_it_grew() -> None:
    read, write = os.pipe()  # fstat says 0 bytes; the data says otherwise
    os.write(write, b"a: 1\nb: 2\n")
    os.close(write)
    try:
        assert read_to_end(read, 0, 1000) == b"a: 1\nb: 2\n"
    finally:
        os.close(read)
    read, write = os.pipe()
    os.write(write, b"x" * 50)
    os.close(write)
    try:  # never more than one byte over the bound (load_bytes refuses it then)
        assert read_to_end(read, 0, 20) == b"x" * 21
    finally:
        os.close(read)


def test_a_file_of_exactly_its_size_is_read_once(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes(b"a: 1\n")
    fd = os.open(path, os.O_RDONLY)
    try:
        assert read_to_end(fd, 5, 1000) == b"a: 1\n"
    finally:
        os.close(fd)
    assert load_file(path, tmp_path).documents[0].data == {"a": 1}
