"""The UI in a real browser: Playwright driving the machine's Chromium, headless.

The example repo is applied and ticked, the app served by uvicorn on a free port. Skips
with a reason where no Chromium or Playwright exists; ``CAMPAIGN_GITOPS_REQUIRE_BROWSER=1``
(CI) turns that skip into a failure. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from campaign_gitops.web.app import create_app, start_in_thread
from tests.web.web_world import REPO, World, build_world

pytestmark = pytest.mark.browser
REQUIRE = os.environ.get("CAMPAIGN_GITOPS_REQUIRE_BROWSER") == "1"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
ARTIFACTS = REPO / "test-artifacts"


def _chromium() -> str | None:
    for candidate in (os.environ.get("CAMPAIGN_GITOPS_CHROMIUM"), "/usr/bin/chromium",
                      shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def _unavailable(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"{reason} (CAMPAIGN_GITOPS_REQUIRE_BROWSER=1 forbids skipping)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install playwright)")
    executable = _chromium()
    if executable is None:
        _unavailable("no Chromium on this machine (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, World]]:
    tmp = tmp_path_factory.mktemp("webui")
    world = build_world(tmp, f"sqlite:///{tmp / 'state.db'}")
    running = start_in_thread(create_app(world.db, project=world.project,
                                         config=world.config))
    yield f"http://127.0.0.1:{running.port}", world
    running.stop()
    world.db.dispose()


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_campaigns_pane_run_and_review(browser: Any, site: tuple[str, World]) -> None:
    base, _world = site
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base}/campaigns")
    row = page.locator('tr[data-campaign="acme/cto-au-q1"]')
    assert "Synced" in row.inner_text()
    row.locator("td").first.click()
    pane = page.locator('#pane article.overview[data-campaign="acme/cto-au-q1"]')
    pane.wait_for()
    assert "book-demo" in pane.locator("dd.goal").inner_text()
    assert "cto-au" in pane.locator("dd.segment").inner_text()
    assert "plain-template" in pane.locator("dd.writer").inner_text()
    assert "brand-rules" in pane.locator("dd.reviewer").inner_text()
    assert page.locator("table.campaigns").is_visible()  # the table stays beside the pane
    assert "selected" in (row.get_attribute("class") or "")
    assert page.url.endswith("selected=acme/cto-au-q1")  # the pane has a URL of its own
    other = page.locator('tr[data-campaign="globex/emea-ops-default"]')
    other.focus()
    page.keyboard.press("Enter")
    page.locator('#pane article.overview[data-campaign="globex/emea-ops-default"]').wait_for()
    assert "selected" not in (row.get_attribute("class") or "")
    page.goto(f"{base}/campaigns?selected=acme%2Fcto-au-q1")
    assert "book-demo" in pane.locator("dd.goal").inner_text()
    _shot(page, "campaigns")

    page.locator("#pane table.runs a", has_text="launch").click()
    page.wait_for_url("**/runs/*")
    assert "cto-au-q1 / launch" in page.locator("h1").inner_text()
    assert page.locator("svg.chart rect").count() > 0
    messages = page.locator("table.messages tr.message")
    assert messages.count() > 0
    assert "sent" in messages.first.inner_text()
    _shot(page, "run")

    page.goto(f"{base}/communications?status=sent")
    assert page.locator("table.messages tr.message").count() > 0
    _shot(page, "communications")
    page.goto(f"{base}/plan")
    _shot(page, "plan")

    page.goto(f"{base}/review")
    item = page.locator("article.review-item").first
    message_id = item.get_attribute("data-id")
    item.locator("button.approve").click()
    decided = page.locator(f"#msg-{message_id}.decided")
    decided.wait_for()
    assert "approved" in decided.inner_text()
    _shot(page, "review")
    page.goto(f"{base}/review")
    assert page.locator(f'article.review-item[data-id="{message_id}"]').count() == 0
    assert errors == []
    page.close()


def test_filters_swap_the_rows_in_place(browser: Any, site: tuple[str, World]) -> None:
    base, _world = site
    page = browser.new_page()
    page.goto(f"{base}/campaigns")
    page.select_option("select[name=client]", "globex")
    page.wait_for_url("**client=globex**")
    page.locator('tr[data-campaign="acme/cto-au-q1"]').wait_for(state="detached")
    names = page.locator("tr.row").evaluate_all(
        "rows => rows.map(r => r.dataset.campaign)")
    assert names == ["globex/emea-ops-default", "globex/plant-managers-voice"]
    page.fill("input[name=q]", "plant")
    page.locator('tr[data-campaign="globex/emea-ops-default"]').wait_for(state="detached")
    assert page.locator("tr.row").count() == 1
    page.close()


def test_drift_is_visible_at_a_glance(browser: Any, tmp_path: Path) -> None:
    """Edit, delete and break files after apply: the table shows each state's badge."""
    from campaign_gitops.state.tables import KeyValue

    world = build_world(tmp_path, f"sqlite:///{tmp_path / 'state.db'}", ticks=3)
    folder = world.project.resources_dir
    cto = folder / "acme" / "campaigns" / "cto-au-q1.yaml"
    cto.write_text(cto.read_text().replace("dailyLimit: 60", "dailyLimit: 80"))
    (folder / "acme" / "campaigns" / "ops-sms-reminders.yaml").unlink()
    broken = folder / "globex" / "campaigns" / "plant-managers-voice.yaml"
    broken.write_text(broken.read_text() + "\n  dailyLimit: [unclosed\n")
    with world.db.session() as session:
        session.add(KeyValue(key="reconcile:last", value={
            "at": "2026-12-04T02:30:05+00:00", "commit": "9f3c2e1a7b", "ok": False,
            "mode": "full", "applied": 0, "errors": [],
            "failing_files": ["campaigns/globex/campaigns/plant-managers-voice.yaml"]}))
    running = start_in_thread(create_app(world.db, project=world.project,
                                         config=world.config, plan_in_background=False))
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"http://127.0.0.1:{running.port}/campaigns")
        badges = dict(page.locator("tr.row").evaluate_all(
            "rows => rows.map(r => [r.dataset.campaign, "
            "r.querySelector('[class*=sync-]').textContent])"))
        assert badges["acme/cto-au-q1"] == "OutOfSync"
        assert badges["acme/ops-sms-reminders"] == "Orphan"
        assert badges["globex/plant-managers-voice"] == "Unknown"
        assert badges["acme/review-demo"] == "Synced"
        assert "failed" in page.locator("header.top .reconcile").inner_text()
        page.locator('tr[data-campaign="acme/cto-au-q1"] td').first.click()
        pane = page.locator('#pane article.overview[data-campaign="acme/cto-au-q1"]')
        pane.wait_for()
        assert "update spec.dailyLimit 60 → 80" in " ".join(
            pane.locator(".pending").inner_text().split())
        _shot(page, "campaigns-drift")
        page.close()
    finally:
        running.stop()
        world.db.dispose()
