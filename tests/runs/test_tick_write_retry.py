"""tick retries a message whose AI writer failed temporarily (API outage, timeout).

The real anthropic SDK talks to a local HTTP server that answers from the scripted
FakeAnthropic (tests/runs/fake_anthropic.py): overloaded (529) first, then a real
answer. The step is not lost: it is written again after the delivery backoff.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import select

from campaign_gitops.ai.message_prompts import WRITE_TOOL
from campaign_gitops.config.project import ProjectConfig
from campaign_gitops.runs.leads import import_csv
from campaign_gitops.runs.policy import BACKOFF, MAX_ATTEMPTS
from campaign_gitops.runs.tick import tick
from campaign_gitops.state.db import Database, open_database
from campaign_gitops.state.tables import Enrollment, Message
from tests.runs.fake_anthropic import FakeAnthropic, error_answer, tool_answer
from tests.runs.runs_helpers import base_resources, lead_row, start_runs, write_leads, write_repo

MONDAY_9 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
OVERLOADED = error_answer(529, "overloaded_error", "Overloaded")
SMS = [{"channel": "sms", "delayDays": 0, "template": "smart"}]


@contextmanager
def anthropic_server(fake: FakeAnthropic) -> Iterator[str]:
    """An HTTP server answering like the Messages API, from ``fake``'s script."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            request = httpx2.Request("POST", f"http://fake{self.path}", content=body)
            answer = fake.handle(request)
            self.send_response(answer.status_code)
            for name, value in answer.headers.items():
                if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(name, value)
            self.send_header("content-length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _setup(tmp_path: Path, db_url: str) -> Database:
    db = open_database(db_url)
    with db.session() as s:
        assert not import_csv(s, write_leads(tmp_path / "leads.csv", [lead_row(1)])).errors
    docs = base_resources(sequence=SMS, campaign={"channel": "sms", "allocation": None,
                                                  "template": "smart"})
    for doc in docs:
        if doc["kind"] == "Writer":
            doc["spec"] = {"type": "anthropic", "model": "claude-haiku-4-5"}
    docs.insert(1, {"apiVersion": "campaign-gitops/v1", "kind": "Template",
                    "metadata": {"name": "smart", "client": "acme"},
                    "spec": {"channel": "sms", "body": "{{SMART_PROMPT}} Reply STOP to opt out"}})
    write_repo(tmp_path / "repo", docs)
    start_runs(db, tmp_path / "repo", now=MONDAY_9)
    return db


def _state(db: Database) -> tuple[list[tuple[str, int, str]], list[Any]]:
    with db.session() as s:
        msgs = [(m.status, m.attempts, m.status_reason or "")
                for m in s.execute(select(Message).order_by(Message.id)).scalars()]
        enr = [(e.state, e.next_step, e.next_due_at and e.next_due_at.astimezone(dt.UTC))
               for e in s.execute(select(Enrollment)).scalars()]
    return msgs, enr


def test_a_temporary_write_failure_is_retried_with_backoff_not_lost(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = _setup(tmp_path, db_url)
    # two ticks meet an outage (the SDK's 1 + 3 retries each), the third gets an answer
    fake = FakeAnthropic(*[OVERLOADED] * 8,
                         tool_answer(WRITE_TOOL, {"smart_prompt": "Worth a chat?"}))
    with anthropic_server(fake) as url:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
        first = tick(db, now=MONDAY_9, config=ProjectConfig())
        assert first.counts == {"sms": {"failed": 1}}
        msgs, enr = _state(db)
        retry_at = MONDAY_9 + BACKOFF[0]
        assert [(s, a) for s, a, _ in msgs] == [("failed", 1)]
        assert "529" in msgs[0][2] and f"attempt 1 of {MAX_ATTEMPTS}" in msgs[0][2]
        assert enr == [("active", 0, retry_at)]  # the step is kept, due again later
        assert tick(db, now=retry_at - dt.timedelta(minutes=1),
                    config=ProjectConfig()).totals() == {}
        assert len(fake.requests) == 4
        second = tick(db, now=retry_at, config=ProjectConfig())
        assert second.counts == {"sms": {"failed": 1}}
        msgs, enr = _state(db)
        assert [(s, a) for s, a, _ in msgs] == [("failed", 2)]
        assert enr == [("active", 0, retry_at + BACKOFF[1])]
        third = tick(db, now=retry_at + BACKOFF[1], config=ProjectConfig())
        assert third.counts == {"sms": {"sent": 1}}
    msgs, enr = _state(db)
    assert msgs == [("sent", 1, "")]  # one row per step, now delivered (one attempt)
    with db.session() as s:
        assert s.execute(select(Message.body)).scalar() == "Worth a chat? Reply STOP to opt out"
    assert enr[0][:2] == ("finished", 1)


def test_temporary_write_failures_give_up_after_the_last_attempt(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = _setup(tmp_path, db_url)
    fake = FakeAnthropic(*[OVERLOADED] * 4 * MAX_ATTEMPTS)
    now = MONDAY_9
    with anthropic_server(fake) as url:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
        for _ in range(MAX_ATTEMPTS + 1):  # each tick when the step is due again
            tick(db, now=now, config=ProjectConfig())
            now = _state(db)[1][0][2] or now  # the last retry (+12 h) waits for a window
    assert now == dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)  # 23:35 -> Tuesday 09:00
    msgs, enr = _state(db)
    assert [(s, a) for s, a, _ in msgs] == [("failed", MAX_ATTEMPTS)]
    assert msgs[0][2].endswith(f"(gave up after {MAX_ATTEMPTS} attempts)")
    assert enr[0][:2] == ("finished", 1)
    assert len(fake.requests) == 4 * MAX_ATTEMPTS
