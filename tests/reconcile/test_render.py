"""Renderers and the field diff: text, json, markdown, planfile round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from campaign_gitops.config.bundle import Key
from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.jsondiff import FieldDiff, diff, leaves
from campaign_gitops.reconcile.plan import Action, Change, LeftAlone, Plan, sync_states
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
    Change(Action.CREATE, Key("acme", "Goal", "demo"), fields=(FieldDiff("spec.outcome", None,
                                                                    "meeting"),)),
    Change(Action.UPDATE, Q1, fields=(FieldDiff("spec.dailyLimit", 60, 80),)),
    Change(Action.TRANSITION, Q1, from_="active", to="paused"),
    Change(Action.RUN, Q1, to="launch", reason="run"),
    Change(Action.ERROR, Key("acme", "Campaign", "bad"), reason="preflight failed: PF002 …",
           rules=("PF002",), instead_of=Action.CREATE),
    Change(Action.ARCHIVE, Key("acme", "Campaign", "old"), from_="active", to="archived",
           reason="no file defines it any more"),
    Change(Action.NOOP, Key("acme", "Campaign", "gone"), reason="orphan: …",
           left_alone=LeftAlone.ORPHAN),
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


TYPED = Plan(changes=(
    Change(Action.CANCEL, Q1, from_="wave", reason="no longer declared"),
    Change(Action.NOOP, Q1, to="launch", reason="run launch waits",
           left_alone=LeftAlone.FROZEN, instead_of=Action.RUN),
    Change(Action.NOOP, Q1, from_="draft", to="active", reason="activation held",
           left_alone=LeftAlone.FROZEN, instead_of=Action.TRANSITION),
    Change(Action.ERROR, Q1, to="launch", reason="run launch: …", rules=("PF006",),
           instead_of=Action.RUN),
), base_serial=3)


def test_cancel_and_tags_keep_the_spec_json_shape() -> None:
    data = json.loads(render_json(TYPED))
    assert [(c["action"], c["from"], c["to"], c["tag"]) for c in data["changes"]] == [
        ("run", "wave", None, "cancel"), ("noop", None, "launch", "frozen"),
        ("noop", "draft", "active", "frozen"), ("error", None, "launch", "run")]
    assert data["summary"]["run"] == 1 and data["summary"]["noop"] == 2
    assert "instead_of" not in data["changes"][1]


def test_planfile_keeps_the_typed_fields(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    save_plan(TYPED, path)
    assert load_plan(path) == TYPED
    # a file saved before ``instead_of`` was written: an error's tag says what it replaced
    data = json.loads(path.read_text())
    for change in data["changes"]:
        change.pop("instead_of", None)
    path.write_text(json.dumps(data))
    old = load_plan(path)
    assert [(c.action, c.left_alone, c.instead_of) for c in old.changes] == [
        (Action.CANCEL, None, None), (Action.NOOP, LeftAlone.FROZEN, None),
        (Action.NOOP, LeftAlone.FROZEN, None), (Action.ERROR, None, Action.RUN)]


def test_planfile_with_an_unknown_action_is_damaged(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    save_plan(TYPED, path)
    path.write_text(path.read_text().replace('"action": "noop"', '"action": "explode"'))
    with pytest.raises(CampaignGitopsError, match="is damaged"):
        load_plan(path)
