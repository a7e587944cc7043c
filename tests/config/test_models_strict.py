"""SPEC 2: only true/false are booleans and numbers are numbers, in every typed field."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaign_gitops.config.bundle import load_bundle

SEQUENCE = """\
apiVersion: campaign-gitops/v1
kind: Sequence
metadata: {{name: s, client: acme}}
spec:
  steps:
    - channel: email
      {field}: {value}
"""


@pytest.mark.parametrize(("field", "value", "column"), [
    ("skipIfReplied", "no", 22),
    ("skipIfReplied", '"false"', 22),
    ("skipIfBounced", "1", 22),
    ("delayDays", '"3"', 18),
    ("delayDays", "3.5", 18),
])
def test_a_typed_field_rejects_other_types(tmp_path: Path, field: str, value: str,
                                           column: int) -> None:
    (tmp_path / "campaigns").mkdir()
    (tmp_path / "campaigns" / "s.yaml").write_text(SEQUENCE.format(field=field, value=value))
    bundle = load_bundle(tmp_path / "campaigns", tmp_path)
    [finding] = bundle.findings
    assert (finding.rule, finding.location.line, finding.location.column) == ("SCHEMA", 7, column)
    assert field in finding.message
    assert not bundle.entries


def test_dates_and_times_still_parse_from_yaml_strings(tmp_path: Path) -> None:
    (tmp_path / "campaigns").mkdir()
    (tmp_path / "campaigns" / "s.yaml").write_text("""\
apiVersion: campaign-gitops/v1
kind: Schedule
metadata: {name: s, client: acme}
spec:
  startAt: 2026-12-01T09:00:00+11:00
  skipDates: [2026-12-25, "2026-12-26"]
  workHours: {start: 08:30, end: 17:00}
""")
    bundle = load_bundle(tmp_path / "campaigns", tmp_path)
    assert bundle.findings == []
    [entry] = bundle.entries.values()
    spec = entry.resource.spec
    assert spec.start_at.utcoffset().total_seconds() == 11 * 3600
    assert [d.isoformat() for d in spec.skip_dates] == ["2026-12-25", "2026-12-26"]
    assert spec.work_hours.start == "08:30"


SCHEDULE = """\
apiVersion: campaign-gitops/v1
kind: Schedule
metadata: {{name: s, client: acme}}
spec:
  {field}: {value}
"""


@pytest.mark.parametrize(("field", "value", "example"), [
    ("startAt", "20261201", "2026-12-01T09:00:00+11:00"),  # an integer is not a time
    ("startAt", '"2026-12-01 09:00:00+11:00"', "2026-12-01T09:00:00+11:00"),  # no T
    ("startAt", "2026-12-01T09:00+11:00", "2026-12-01T09:00:00+11:00"),  # no seconds
    ("startAt", "2026-12-01T09:00:00+1100", "2026-12-01T09:00:00+11:00"),  # offset form
    ("startAt", "2026-12-01T09:00:00", "2026-12-01T09:00:00+11:00"),  # no offset
    ("skipDates", "[2026-12-25T00:00:00Z]", "2026-12-24"),  # a date-time is not a date
    ("skipDates", "[20261225]", "2026-12-24"),
])
def test_times_are_exactly_the_schema_formats(tmp_path: Path, field: str, value: str,
                                              example: str) -> None:
    """SPEC 7: exactly RFC 3339 date-times and ISO dates, in lint as in the JSON Schema
    (check-jsonschema on schemas/ rejects the same values)."""
    (tmp_path / "campaigns").mkdir()
    (tmp_path / "campaigns" / "s.yaml").write_text(SCHEDULE.format(field=field, value=value))
    bundle = load_bundle(tmp_path / "campaigns", tmp_path)
    [finding] = bundle.findings
    assert (finding.rule, finding.location.line) == ("SCHEMA", 5)
    assert field in finding.message and f'"{example}"' in finding.message
    assert not bundle.entries


def test_the_schema_carries_the_same_patterns() -> None:
    import json
    import re

    from campaign_gitops.config.models import DATE_PATTERN, DATE_TIME_PATTERN

    schema = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "schedule.json")
                        .read_text())
    text = json.dumps(schema)
    assert json.dumps(DATE_TIME_PATTERN) in text and json.dumps(DATE_PATTERN) in text
    assert re.match(DATE_TIME_PATTERN, "2026-12-01T09:00:00.5Z")
    assert not re.match(DATE_TIME_PATTERN, "2026-12-01 09:00:00Z")
