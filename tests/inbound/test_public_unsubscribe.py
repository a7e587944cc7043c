"""The public routes against the running server (uvicorn) from a real HTTP client:
one-click unsubscribe, its confirmation page, forged and test-run tokens, the UI token
rule, the per-client rate limit, and the signed inbound webhook (STOP/START/HELP)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from campaign_gitops.inbound import suppressions as supp
from campaign_gitops.inbound.tokens import Signer, Unsubscribe
from campaign_gitops.inbound.webhook import signature
from campaign_gitops.state.tables import Enrollment, Reply, Suppression
from campaign_gitops.web.app import create_app, start_in_thread
from tests.inbound.recipients_world import HOOK_SECRET, KEY, World, build, config, path_of

ONE_CLICK = {"content": b"List-Unsubscribe=One-Click",
             "headers": {"Content-Type": "application/x-www-form-urlencoded"}}


@pytest.fixture
def served(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
           ) -> Iterator[tuple[httpx.Client, World]]:
    monkeypatch.setenv("CAMPAIGN_GITOPS_SIGNING_KEY", KEY)
    monkeypatch.setenv("HOOK_SECRET", HOOK_SECRET)
    world = build(tmp_path, db_url, config(per_minute=1000))
    running = start_in_thread(create_app(world.db, config=world.config, token="ui-token"))
    with httpx.Client(base_url=f"http://127.0.0.1:{running.port}") as client:
        yield client, world
    running.stop()
    world.db.dispose()


def _suppressions(world: World) -> set[tuple[str, str, str, str]]:
    with world.db.reading() as s:
        return {(r.client, r.contact, r.channel, r.reason)
                for r in s.execute(select(Suppression)).scalars()}


def test_one_click_post_suppresses_once_and_get_never(served: tuple[httpx.Client, World]):
    http, world = served
    link = path_of(world.links["lead0001@example.com"])
    page = http.get(link)  # a mail scanner prefetching, or the person looking
    assert page.status_code == 200
    assert "Unsubscribe from Acme" in page.text and "<form method=\"post\"" in page.text
    assert _suppressions(world) == set()
    answer = http.post(link, **ONE_CLICK)  # RFC 8058: no cookie, no CSRF token
    assert answer.status_code == 200 and "You are unsubscribed" in answer.text
    # committed before the 200: a fresh connection sees it
    assert _suppressions(world) == {("acme", "lead0001@example.com", "*", "unsubscribe")}
    assert http.post(link, **ONE_CLICK).status_code == 200  # again: harmless
    assert http.post(link).status_code == 200  # the page's button (an empty form)
    with world.db.reading() as s:
        assert _suppressions(world) == {("acme", "lead0001@example.com", "*", "unsubscribe")}
        kinds = s.execute(select(Reply.kind, Reply.contact, Reply.message_id)).all()
        assert [(k, c) for k, c, _ in kinds] == [("unsubscribe", "lead0001@example.com")]
        assert kinds[0][2] is not None  # matched to the message the link was in
        states = dict(s.execute(select(Enrollment.lead_id, Enrollment.state)).all())
        assert list(states.values()).count("unsubscribed") == 1
        assert supp.suppressed(s, "acme", ["lead0001@example.com"], "email")
        assert not supp.suppressed(s, "acme", ["lead0002@example.com"], "email")


def test_forged_tampered_and_test_run_tokens_change_nothing(
        served: tuple[httpx.Client, World]):
    http, world = served
    forged = Signer(["not-our-key"]).sign(Unsubscribe("acme", "lead0001@example.com", "1:0"))
    link = path_of(world.links["lead0002@example.com"])
    for bad in (f"/u/{forged}", link[:-3] + "xyz", "/u/nonsense"):
        assert http.get(bad).status_code == 404
        assert http.post(bad, **ONE_CLICK).status_code == 404
    test_link = path_of(world.links["test"])
    assert "test message" in http.get(test_link).text
    answer = http.post(test_link, **ONE_CLICK)
    assert answer.status_code == 200 and "nobody was unsubscribed" in answer.text
    assert _suppressions(world) == set()
    with world.db.reading() as s:
        assert s.execute(select(func.count()).select_from(Reply)).scalar() == 0


def test_public_paths_skip_the_ui_token_the_rest_does_not(
        served: tuple[httpx.Client, World]):
    http, world = served
    assert http.get("/api/v1/status").status_code == 401
    assert http.get(path_of(world.links["lead0000@example.com"]),
                    headers={"Host": "outreach.example.com"}).status_code == 200


def test_rate_limit_per_client(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CAMPAIGN_GITOPS_SIGNING_KEY", KEY)
    world = build(tmp_path, db_url, config(per_minute=3), leads=1)
    running = start_in_thread(create_app(world.db, config=world.config))
    try:
        link = path_of(world.links["lead0000@example.com"])
        with httpx.Client(base_url=f"http://127.0.0.1:{running.port}") as http:
            codes = [http.get(link).status_code for _ in range(4)]
            assert codes == [200, 200, 200, 429]
            other = Signer([KEY]).sign(Unsubscribe("globex", "x@example.com", "9:0"))
            assert http.get(f"/u/{other}").status_code == 200  # another client's budget
    finally:
        running.stop()
        world.db.dispose()


def _hook(http: httpx.Client, event: dict[str, object], secret: str = HOOK_SECRET
          ) -> httpx.Response:
    body = json.dumps(event).encode()
    return http.post("/hooks/inbound", content=body, headers={
        "Content-Type": "application/json",
        "X-Campaign-Gitops-Signature": signature(secret, body)})


def test_inbound_webhook_stop_start_help(served: tuple[httpx.Client, World]):
    http, world = served
    number = "+15550000001"  # lead 1's phone: it was sent the SMS step
    assert _hook(http, {"channel": "sms", "from": number, "body": "STOP"},
                 secret="wrong").status_code == 401
    assert http.post("/hooks/inbound", content=b"{}").status_code == 401
    assert _suppressions(world) == set()
    assert _hook(http, {"channel": "sms", "from": number, "body": "start"}).json()[
        "resubscribed"] == []  # START without an earlier STOP lifts nothing
    answer = _hook(http, {"channel": "sms", "from": "+1 555 000 0001", "body": " Stop ",
                          "id": "evt-1"})
    assert answer.status_code == 200 and answer.json()["suppressed_for"] == ["acme"]
    assert _suppressions(world) == {("acme", number, "sms", "stop")}
    assert _hook(http, {"channel": "sms", "from": number, "body": "STOP",
                        "id": "evt-1"}).json()["duplicate"] is True
    with world.db.reading() as s:
        assert supp.suppressed(s, "acme", [number], "sms")
        assert not supp.suppressed(s, "acme", [number], "voice")  # only that channel
    assert _hook(http, {"channel": "sms", "from": number, "body": "please stop"}
                 ).json()["kind"] == "reply"  # not the whole text: a reply
    assert _hook(http, {"channel": "sms", "from": number, "body": "HELP"}).json()[
        "kind"] == "help"
    assert _hook(http, {"channel": "voice", "from": number, "body": "UNSTOP"}).json()[
        "resubscribed"] == []  # another channel's START lifts nothing
    assert _hook(http, {"channel": "sms", "from": number, "body": "UNSTOP"}).json()[
        "resubscribed"] == ["acme"]
    assert _suppressions(world) == set()
    with world.db.reading() as s:
        kinds = sorted(s.execute(select(Reply.kind)).scalars())
    assert kinds == ["help", "reply", "resubscribe", "resubscribe", "resubscribe",
                     "unsubscribe"]
    assert _hook(http, {"channel": "sms"}).status_code == 400


def test_ui_shows_a_clients_suppressions_and_the_classified_replies(
        served: tuple[httpx.Client, World]):
    http, world = served
    http.post(path_of(world.links["lead0001@example.com"]), **ONE_CLICK)
    _hook(http, {"channel": "sms", "from": "+15550000002", "body": "STOP"})
    auth = {"Authorization": "Bearer ui-token"}
    page = http.get("/suppressions?client=acme", headers=auth)
    assert page.status_code == 200
    rows = [line for line in page.text.splitlines() if 'class="suppression"' in line]
    assert len(rows) == 2
    assert "+15550000002</td><td>sms</td>" in page.text
    assert "lead0001@example.com</td><td>*</td>" in page.text
    assert "No suppressions." in http.get("/suppressions?client=globex", headers=auth).text
    inbox = http.get("/replies?client=acme", headers=auth).text
    assert 'kind-unsubscribe">unsubscribe</span> <span class="hint">sms' in inbox
    assert 'kind-unsubscribe">unsubscribe</span> <span class="hint">email' in inbox
    assert "<option >complaint</option>" in inbox or "<option>complaint</option>" in inbox
