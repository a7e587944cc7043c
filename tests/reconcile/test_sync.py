"""The two sync vocabularies of reconcile/sync.py and the mapping between them."""

from __future__ import annotations

from pathlib import Path

from campaign_gitops.reconcile import sync
from campaign_gitops.reconcile.health import Metrics

CSS = Path(sync.__file__).parents[1] / "web" / "static" / "app.css"


def test_every_daemon_state_has_the_word_a_person_reads() -> None:
    assert set(sync.SYNC_OF_DAEMON_STATE) == set(sync.DAEMON_STATES)
    assert set(sync.SYNC_OF_DAEMON_STATE.values()) <= set(sync.SYNC_STATES)


def test_the_daemon_exports_a_zero_for_every_state_before_its_first_pass() -> None:
    text = Metrics().render().decode()
    for state in sync.DAEMON_STATES:
        assert f'campaign_gitops_resources{{state="{state}"}} 0.0' in text


def test_the_web_has_a_badge_colour_for_every_word() -> None:
    css = CSS.read_text(encoding="utf-8")
    for word in sync.SYNC_STATES:
        assert f".sync-{word.lower()} " in css
