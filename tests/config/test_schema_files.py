"""The checked-in schemas/ are exactly what ``campaign-gitops schema --out`` generates."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from campaign_gitops.cli.main import cli
from campaign_gitops.config.discovery import discover
from campaign_gitops.config.loader import load_file
from campaign_gitops.config.schema import all_schemas, render_schema

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "schemas"


def test_checked_in_schemas_match_the_generated_ones(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["schema", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    generated = {p.name: p.read_text() for p in tmp_path.glob("*.json")}
    checked_in = {p.name: p.read_text() for p in SCHEMAS.glob("*.json")}
    assert sorted(generated) == sorted(checked_in), "run: campaign-gitops schema --out schemas/"
    for name, text in generated.items():
        assert checked_in[name] == text, f"schemas/{name} is stale: regenerate it"


def test_schema_without_out_prints_the_dispatching_schema() -> None:
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    assert result.output == render_schema(all_schemas()["resource.json"])


@pytest.mark.parametrize("name", sorted(all_schemas()))
def test_every_schema_is_valid_2020_12_with_an_id(name: str) -> None:
    schema = json.loads((SCHEMAS / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"].endswith("/" + name)


def test_dispatching_schema_is_self_contained() -> None:
    text = (SCHEMAS / "resource.json").read_text()
    assert '"$ref": "http' not in text and '"$ref": "https' not in text


def test_example_repo_validates_against_the_schemas_and_carries_the_modeline() -> None:
    validator = jsonschema.Draft202012Validator(json.loads((SCHEMAS / "resource.json").read_text()))
    files = discover([REPO / "campaigns"])
    assert files
    for path in files:
        first = path.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema=")
        target = (path.parent / first.split("$schema=", 1)[1]).resolve()
        assert target == SCHEMAS / "resource.json", path
        result = load_file(path, REPO)
        assert not result.findings
        for doc in result.documents:
            errors = [e.message for e in validator.iter_errors(doc.data)]
            assert errors == [], f"{path}: {errors}"


def test_the_schema_rejects_what_the_models_reject() -> None:
    validator = jsonschema.Draft202012Validator(json.loads((SCHEMAS / "resource.json").read_text()))
    bad = {"apiVersion": "campaign-gitops/v1", "kind": "Goal",
           "metadata": {"name": "g", "client": "acme"}, "spec": {"outcome": "meetin"}}
    assert list(validator.iter_errors(bad))
    bad_field = {"apiVersion": "campaign-gitops/v1", "kind": "Schedule",
                 "metadata": {"name": "s", "client": "acme"}, "spec": {"dailyLimit": 501}}
    assert list(validator.iter_errors(bad_field))
