"""The registry lists every rule with the severities of SPEC section 4's table."""

from __future__ import annotations

from campaign_gitops.preflight.registry import ACTIONS
from campaign_gitops.preflight.rules import all_rules, get_rule

E, W, NO = "error", "warning", "—"
ACTIVE = "warning if the campaign is active, else error"

# SPEC section 4: id -> (lint, test_run, run, schedule)
TABLE = {
    "PF001": (E, E, E, E),
    "PF002": (E, E, E, E),
    "PF003": (E, E, E, E),
    "PF004": (NO, ACTIVE, E, E),
    "PF005": (NO, NO, E, E),
    "PF006": (W, NO, E, E),
    "PF007": (E, E, E, E),
    "PF008": (E, E, E, E),
    "PF009": (NO, E, NO, NO),
    "PF010": (E, E, E, E),
    "PF011": (W, W, E, E),
    "PF012": (E, E, E, E),
    "PF013": (E, E, E, E),
    "PF014": (E, E, E, E),
    "PF015": (W, W, W, W),
    "PF016": (E, E, E, E),
    "PF017": (E, E, E, E),
    "PF018": (E, E, E, E),
    "PF019": (E, E, E, E),
    "PF020": (E, E, E, E),
    "PF021": (W, W, W, W),
    "PF022": (E, E, E, E),
    "SCHEMA": (E, E, E, E),
    "DISABLE": (W, W, W, W),
}


def test_severities_are_the_spec_table() -> None:
    got = {r.id: tuple(r.severity_label(a) for a in ACTIONS) for r in all_rules()}
    assert got == TABLE


def test_rules_are_sorted_and_documented() -> None:
    rules = all_rules()
    assert [r.id for r in rules] == sorted(TABLE)
    for r in rules:
        assert r.description and r.doc, r.id
        assert get_rule(r.id) is r
    assert get_rule("PF999") is None
