"""campaign-gitops.yaml: loaded with positions, validated, errors at line and column."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from campaign_gitops.config.project import FreezeWindow, ProjectConfig
from campaign_gitops.config.project_file import (
    ProjectConfigError,
    load_project_file,
    project_schema,
    rule_override_findings,
)
from campaign_gitops.config.schema import all_schemas

SCAFFOLD_CONFIG = (Path(__file__).resolve().parents[2] / "src" / "campaign_gitops" / "scaffold"
                   / "campaign-gitops.yaml")


def load(tmp_path: Path, text: str):
    (tmp_path / "campaign-gitops.yaml").write_text(text)
    return load_project_file(tmp_path)


def problems(tmp_path: Path, text: str) -> list[tuple[int, int, str, str]]:
    pf = load(tmp_path, text)
    assert not pf.ok
    return [(f.location.line, f.location.column, f.message, f.hint) for f in pf.findings]


def test_no_file_is_the_defaults(tmp_path: Path) -> None:
    pf = load_project_file(tmp_path)
    assert pf.path is None and pf.ok and pf.require() == ProjectConfig()


def test_empty_file_is_the_defaults(tmp_path: Path) -> None:
    assert load(tmp_path, "# nothing yet\n").require() == ProjectConfig()


def test_scaffold_config_loads_with_every_section(tmp_path: Path) -> None:
    config = load(tmp_path, SCAFFOLD_CONFIG.read_text()).require()
    assert config.database.url_env == "CAMPAIGN_GITOPS_DB"
    assert config.transports["email"].type == "outbox"
    assert config.freeze_windows == [FreezeWindow(name="weekend", cron="0 18 * * 5",
                                                  duration="2d14h", timezone="America/New_York")]
    assert config.rules == {"PF015": "error"}


def test_phone_is_an_alias_of_voice_in_transports(tmp_path: Path) -> None:
    config = load(tmp_path, "transports:\n  phone: {type: outbox}\n").require()
    assert list(config.transports) == ["voice"]


@pytest.mark.parametrize(("text", "expected"), [
    ("resourceDir: x\n", (1, 1, "unknown field 'resourceDir'", "did you mean 'resourcesDir'?")),
    ("database:\n  urlenv: DB\n", (2, 3, "unknown field 'urlenv'", "did you mean 'urlEnv'?")),
    ("tiers:\n  velocty: {ai: 1, custom: 1}\n",
     (2, 3, "tiers: unknown key 'velocty'", "did you mean 'velocity'?")),
    ("transports:\n  emial: {type: outbox}\n",
     (2, 3, "transports: unknown key 'emial'", "did you mean 'email'?")),
    ("clientDefaults:\n  subscription: trial\n",
     (2, 17, "clientDefaults.subscription: Input should be 'active', 'trialing', 'past_due' or "
             "'canceled' (got \"trial\")", "did you mean 'trialing'?")),
    ("freezeWindows:\n  - cron: '0 22 * * 8'\n    duration: 1h\n",
     (2, 11, "freezeWindows.0.cron: invalid cron expression '0 22 * * 8' (five fields: minute "
             "hour day-of-month month day-of-week)", "")),
    ("freezeWindows:\n  - {cron: '0 22 * * 5', duration: 2x}\n",
     (2, 36, "freezeWindows.0.duration: invalid duration '2x' (use e.g. 30m, 2h, 1d, 1h30m)", "")),
    ("freezeWindows:\n  - {cron: '0 22 * * 5', duration: 1h, timezone: Mars/Base}\n",
     (2, 50, "freezeWindows.0.timezone: unknown timezone 'Mars/Base' (an IANA name such as "
             "Europe/Berlin)", "")),
    ("freezeWindows:\n  - {cron: '0 22 * * 5'}\n",
     (2, 5, "missing required field 'duration' in freezeWindows.0", "")),
    ("database:\n  url: postgresql://app:hunter2@db/campaigns\n",
     (2, 8, "database.url: a password in database.url would be committed to git; put the URL "
            "in a variable and name it in database.urlEnv", "")),
    ("database: {url: 'sqlite:///x.db', urlEnv: DB}\n",
     (1, 11, "database: give database.url or database.urlEnv, not both", "")),
    ("rules:\n  pf15: error\n",
     (2, 3, "rules: unknown key 'pf15'", "a key matches ^[A-Z][A-Z0-9]*$")),
    ("failureThreshold: 2\n",
     (1, 19, "failureThreshold: Input should be less than or equal to 1 (got 2)", "")),
    ("prune: yes\n", (1, 8, "prune: Input should be a valid boolean (got \"yes\")", "")),
    ("prune: false\nprune: true\n",
     (2, 1, "duplicate key 'prune' (first defined at line 1, column 1)", "keep one of them")),
    ("- a\n- b\n", (1, 1, "campaign-gitops.yaml must be a mapping", "see schemas/project.json")),
    ("prune: true\n---\nprune: false\n",
     (3, 1, "campaign-gitops.yaml holds one document", "remove the second document (---)")),
])
def test_invalid_file_is_findings_at_line_and_column(tmp_path: Path, text: str,
                                                     expected: tuple[int, int, str, str]) -> None:
    assert problems(tmp_path, text) == [expected]


def test_yaml_syntax_error_has_the_parsers_position(tmp_path: Path) -> None:
    [(line, column, message, _hint)] = problems(tmp_path, "prune: true\nrules: [PF015\n")
    assert (line, column) == (3, 1)
    assert message.startswith("YAML syntax error")


def test_every_problem_is_reported_in_file_order(tmp_path: Path) -> None:
    found = problems(tmp_path, "prune: 3\nresourceDir: x\ntiers: {big: {ai: 1, custom: 1}}\n")
    assert [(line, col) for line, col, _, _ in found] == [(1, 8), (2, 1), (3, 9)]


def test_require_raises_with_file_line_and_column(tmp_path: Path) -> None:
    pf = load(tmp_path, "prune: true\nfreezeWindow: []\n")
    with pytest.raises(ProjectConfigError) as caught:
        pf.require()
    assert str(caught.value).startswith(
        "invalid project configuration: campaign-gitops.yaml:2:1: unknown field "
        "'freezeWindow' (did you mean 'freezeWindows'?)")
    assert caught.value.exit_code == 2
    assert [f.location.line for f in caught.value.findings] == [2]


SEVERITIES = {"PF006": {"warning", "error"}, "PF015": {"warning"}, "PF001": {"error"},
              "SCHEMA": {"error"}}


def test_rules_raise_warnings_but_never_lower_errors(tmp_path: Path) -> None:
    pf = load(tmp_path, "rules:\n  PF015: error\n  PF006: warning\n  PF001: warning\n"
                        "  PF016: error\n")
    assert pf.ok  # the shape is fine; the registry decides the rest
    found = [(f.location.line, f.location.column, f.message, f.hint)
             for f in rule_override_findings(pf, SEVERITIES)]
    assert found == [
        (3, 10, "rules.PF006: an error is never lowered to a warning",
         "remove the override; only warnings can be raised (to error)"),
        (4, 10, "rules.PF001: an error is never lowered to a warning",
         "remove the override; only warnings can be raised (to error)"),
        (5, 3, "rules: unknown rule 'PF016'", "did you mean 'PF015'?"),
    ]


def test_rule_id_pattern_rejects_garbage_before_the_registry(tmp_path: Path) -> None:
    assert not load(tmp_path, "rules:\n  PF015x: error\n").ok


def test_project_schema_is_generated_with_the_others_and_validates_the_scaffold() -> None:
    import yaml

    schema = all_schemas()["project.json"]
    assert schema == project_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    data = yaml.safe_load(SCAFFOLD_CONFIG.read_text())
    assert list(validator.iter_errors(data)) == []
    assert list(validator.iter_errors({"resourceDir": "x"}))
    assert list(validator.iter_errors({"freezeWindows": [{"cron": "0 1 * * *",
                                                          "duration": "soon"}]}))
    checked_in = Path(__file__).resolve().parents[2] / "schemas" / "project.json"
    assert json.loads(checked_in.read_text()) == schema


@pytest.mark.parametrize(("now", "frozen"), [
    ("2026-11-20T17:59:00-05:00", False),  # Friday 17:59 in New York
    ("2026-11-20T18:00:00-05:00", True),   # the window opens
    ("2026-11-23T07:59:00-05:00", True),   # Monday 07:59 (2d14h later, minus a minute)
    ("2026-11-23T08:00:00-05:00", False),  # closed
])
def test_the_scaffolds_weekend_freeze_from_the_file(tmp_path: Path, now: str,
                                                     frozen: bool) -> None:
    import datetime as dt

    from campaign_gitops.config.project import is_frozen

    config = load(tmp_path, SCAFFOLD_CONFIG.read_text()).require()
    window = is_frozen(config, dt.datetime.fromisoformat(now))
    assert (window is not None and window.name == "weekend") is frozen
