"""A person clicks through the unsubscribe confirmation page in Chromium (Playwright):
opening the link changes nothing, the button suppresses. Skips like the other browser
tests where Chromium is missing; CAMPAIGN_GITOPS_REQUIRE_BROWSER=1 makes that a failure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from campaign_gitops.state.tables import Suppression
from campaign_gitops.web.app import create_app, start_in_thread
from tests.inbound.recipients_world import KEY, build, config, path_of
from tests.web.test_browser import browser  # noqa: F401 - the module's Chromium fixture

pytestmark = pytest.mark.browser


def test_clicking_through_the_confirmation_page(browser: Any, tmp_path: Path,  # noqa: F811
                                                 monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CAMPAIGN_GITOPS_SIGNING_KEY", KEY)
    world = build(tmp_path, f"sqlite:///{tmp_path / 'state.db'}", config(), leads=1)
    running = start_in_thread(create_app(world.db, config=world.config, token="ui-token"))
    try:
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"http://127.0.0.1:{running.port}"
                  f"{path_of(world.links['lead0000@example.com'])}")
        assert page.locator("h1").inner_text() == "Unsubscribe from Acme"

        def suppressed() -> list[str]:
            with world.db.reading() as s:
                return list(s.execute(select(Suppression.contact)).scalars())

        assert suppressed() == []
        page.get_by_role("button", name="Unsubscribe").click()
        page.wait_for_selector("text=You are unsubscribed")
        assert "Acme will not contact you again." in page.content()
        assert suppressed() == ["lead0000@example.com"]
        assert errors == []
    finally:
        running.stop()
        world.db.dispose()
