"""Whatever valid resources a repo holds, preflight returns findings and never raises."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from campaign_gitops.config.bundle import load_bundle
from campaign_gitops.preflight.engine import RUN_ACTIONS, run_preflight

BASE = yaml.safe_load((Path(__file__).parent / "base_repo.yaml").read_text())
NAMES = st.sampled_from(["book-demo", "cto-au", "plain", "claude", "house-rules",
                         "intro-email", "intro-sms", "business-hours", "seq", "nope", "t1",
                         "sched2"])
CHANNELS = st.sampled_from(["email", "sms", "voice", "linkedin", "mail", "phone"])
HHMM = st.sampled_from(["00:00", "07:59", "08:00", "09:00", "17:00", "21:00", "21:01", "24:00"])
TEXT = st.lists(st.sampled_from([
    "Hi ", "{{", "}}", "{", "first_name", "SMART_PROMPT", " | ", "bogus", "\n", "\u00e9",
    "sk-ant-api03-ABCDEFGHIJKLMNOPQRSTUV", "password: x1y2z3!", "https://x.test/unsubscribe",
]), min_size=1, max_size=12).map("".join)


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


@st.composite
def campaign(draw: st.DrawFn, i: int) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "status": draw(st.sampled_from(["draft", "active", "paused", "completed"])),
        "type": draw(st.sampled_from(["custom", "ai_suggested"])),
        "channel": draw(CHANNELS),
    }
    if draw(st.booleans()):
        spec["allocation"] = draw(st.dictionaries(CHANNELS.filter(lambda c: c != "phone"),
                                                  st.integers(0, 100), min_size=1))
    for field in ("goal", "segment", "writer", "reviewer", "template", "sequence", "schedule"):
        value = draw(_maybe(NAMES))
        if value is not None:
            spec[field] = value
    if draw(st.booleans()):
        spec["testRecipients"] = ["qa@acme.test"]
    runs = draw(st.lists(st.sampled_from(["test_run", "run", "schedule"]), max_size=3,
                         unique=True))
    spec["runs"] = [{"name": f"r-{t.replace('_', '-')}", "type": t} for t in runs]
    meta: dict[str, Any] = {"name": f"c{i}", "client": "acme"}
    if draw(st.booleans()):
        meta["annotations"] = {"campaign-gitops/disable": draw(st.sampled_from(
            ["PF006", "PF011,PF015", "PF001", "XX1", ""]))}
    return {"apiVersion": "campaign-gitops/v1", "kind": "Campaign", "metadata": meta,
            "spec": spec}


@st.composite
def repo(draw: st.DrawFn) -> list[dict[str, Any]]:
    resources = draw(st.fixed_dictionaries({}, optional={
        "emailDomain": st.just("acme.test"), "phoneNumber": st.just("+6125550100"),
        "linkedinSeat": st.just("seat")}))
    docs = [{"apiVersion": "campaign-gitops/v1", "kind": "Client", "metadata": {"name": "acme"},
             "spec": {"tier": draw(st.sampled_from(["ignition", "velocity", "dominance"])),
                      "resources": resources}}]
    docs += [draw(campaign(i)) for i in range(draw(st.integers(1, 6)))]
    docs.append({"apiVersion": "campaign-gitops/v1", "kind": "Template",
                 "metadata": {"name": "t1", "client": "acme"},
                 "spec": {"channel": draw(CHANNELS), "subject": draw(TEXT),
                          "body": draw(TEXT)}})
    docs.append({"apiVersion": "campaign-gitops/v1", "kind": "Sequence",
                 "metadata": {"name": "seq", "client": "acme"},
                 "spec": {"steps": draw(st.lists(st.fixed_dictionaries(
                     {"channel": CHANNELS}, optional={
                         "template": NAMES, "skipIf": st.sampled_from(["phone_missing"])}),
                     min_size=1, max_size=4))}})
    docs.append({"apiVersion": "campaign-gitops/v1", "kind": "Schedule",
                 "metadata": {"name": "sched2", "client": "acme"},
                 "spec": {"timezone": draw(st.text(max_size=20)),
                          "workHours": {"start": draw(HHMM), "end": draw(HHMM)},
                          "workDays": draw(st.lists(st.integers(-2, 9), max_size=8)),
                          "cron": draw(st.text(max_size=20))}})
    return docs


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(repo())
def test_preflight_never_raises_and_locates_every_finding(docs: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, text in BASE.items():
            if name.endswith("client.yaml"):
                continue
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        (root / "campaigns/acme/gen.yaml").write_text(yaml.safe_dump_all(docs))
        bundle = load_bundle(root / "campaigns", root)
        for action in (None, *RUN_ACTIONS):
            findings = run_preflight(bundle, action=action)
            assert findings == sorted(findings, key=lambda f: f.sort_key())
            for f in findings:
                assert f.location.file.startswith("campaigns/acme/")
                assert f.location.line >= 1 and f.location.column >= 1
                assert f.message
