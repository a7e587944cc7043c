"""Renderers and the field diff: text, json, markdown, planfile round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from campaign_gitops.config.bundle import Key
from campaign_gitops.jsondiff import FieldDiff, diff, leaves
from campaign_gitops.reconcile.plan import Change, Plan, sync_states
from campaign_gitops.reconcile.planfile import (
    StalePlanError,
    check_fresh,
    load_plan,
    save_plan,
    staleness,
)
from campaign_gitops.reconcile.render import render_json, render_markdown, render_text

Q1 = Key("acme", "Campaign", "q1")
PLAN = Plan(changes=(
    Change("create", Key("acme", "Goal", "demo"), fields=(FieldDiff("spec.outcome", None,
                                                                    "meeting"),)),
    Change("update", Q1, fields=(FieldDiff("spec.dailyLimit", 60, 80),)),
    Change("transition", Q1, from_="active", to="paused"),
    Change("run", Q1, to="launch", reason="run"),
    Change("error", Key("acme", "Campaign", "bad"), reason="preflight failed: PF002 …",
           rules=("PF002",), tag="create"),
    Change("archive", Key("acme", "Campaign", "old"), from_="active", to="archived",
           reason="no file defines it any more"),
    Change("noop", Key("acme", "Campaign", "gone"), reason="orphan: …", tag="orphan"),
), base_serial=7, file_hashes={"campaigns/a.yaml": "abc"}, failed_files=("campaigns/x.yaml",))


def test_diff_is_semantic_and_recursive() -> None:
    assert diff({"a": 1, "b": [1, 2]}, {"b": [1, 2], "a": 1}) == ()
    assert diff({"x": {"y": 1, "z": 2}}, {"x": {"y": 1, "z": 3}}) == (
        FieldDiff("x.z", 2, 3),)
    assert diff({"l": [{"n": 1}]}, {"l": [{"n": 2}]}) == (FieldDiff("l[0].n", 1, 2),)
    assert diff({"l": [1]}, {"l": [1, 2]}) == (FieldDiff("l", [1], [1, 2]),)
    assert diff(True, 1, ("f",)) == (FieldDiff("f", True, 1),)  # a scalar's type counts
    assert diff({"f": 1}, {"f": 1.0}) == ()
    assert diff({"gone": 1}, {}) == (FieldDiff("gone", 1, None),)
    assert list(leaves({"a": {"b": None, "c": [1]}, "d": ""}, ("spec",))) == [
        FieldDiff("spec.a.c", None, [1])]


def test_text_has_symbols_and_the_summary_line() -> None:
    text = render_text(PLAN)
    for line in ("   + acme/Goal/demo", "      spec.outcome: \"meeting\"",
                 "   ~ acme/Campaign/q1", "      spec.dailyLimit: 60 → 80",
                 "  -> acme/Campaign/q1: active → paused",
                 "   ▶ acme/Campaign/q1: start run launch (run)",
                 "   ! acme/Campaign/bad: preflight failed: PF002 … [PF002]",
                 "   - acme/Campaign/old: archive (no file defines it any more)",
                 "   # acme/Campaign/gone: orphan: …", "   campaigns/x.yaml"):
        assert line in text.splitlines(), line
    assert text.rstrip().endswith(
        "Plan: 1 to create, 1 to update, 1 transition, 1 run, 1 to archive, 1 error; "
        "1 file held back.")
    assert "\x1b[" not in text and "\x1b[" in render_text(PLAN, color=True)
    empty = render_text(Plan(changes=()))
    assert "No changes." in empty and "0 transitions, 0 runs" in empty


def test_json_shape_is_stable() -> None:
    data = json.loads(render_json(PLAN))
    assert list(data) == ["changes", "summary", "base_serial", "failed_files"]
    assert data["changes"][1] == {
        "action": "update", "resource": "acme/Campaign/q1", "from": None, "to": None,
        "fields": {"spec.dailyLimit": {"old": 60, "new": 80}}, "reason": "", "rules": [],
        "tag": ""}
    assert data["summary"] == {"create": 1, "update": 1, "transition": 1, "run": 1,
                               "archive": 1, "noop": 1, "error": 1}


def test_markdown_is_a_table() -> None:
    md = render_markdown(PLAN)
    assert md.startswith("### campaign-gitops plan")
    assert "| \\~ | `acme/Campaign/q1` | update | `spec.dailyLimit`: `60` → `80` |" in md
    assert "| ! | `acme/Campaign/bad` | error | preflight failed: PF002 … (PF002) |" in md


def test_sync_states() -> None:
    assert sync_states(PLAN) == {
        "acme/Goal/demo": "OutOfSync", "acme/Campaign/q1": "OutOfSync",
        "acme/Campaign/bad": "OutOfSync", "acme/Campaign/old": "Orphan",
        "acme/Campaign/gone": "Orphan"}


def test_planfile_round_trip_and_staleness(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    save_plan(PLAN, path)
    loaded = load_plan(path)
    assert loaded == PLAN
    assert staleness(loaded, 7, {"campaigns/a.yaml": "abc"}) is None
    assert "serial 7, now 8" in staleness(loaded, 8, {"campaigns/a.yaml": "abc"})
    assert "changed: campaigns/a.yaml" in staleness(loaded, 7, {"campaigns/a.yaml": "x"})
    assert "added: campaigns/b.yaml" in staleness(
        loaded, 7, {"campaigns/a.yaml": "abc", "campaigns/b.yaml": "y"})
    assert "removed: campaigns/a.yaml" in staleness(loaded, 7, {})
    with pytest.raises(StalePlanError) as err:
        check_fresh(loaded, 9, {"campaigns/a.yaml": "abc"})
    assert err.value.exit_code == 1 and "plan --out" in err.value.hint
