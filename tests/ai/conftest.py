"""Fixtures for the AI tests: a small client repo and the fake Messages API served
as a real local HTTP server (the CLI reaches it through ``ANTHROPIC_BASE_URL``)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.ai.ai_fakes import CLIENT, LIBRARY, FakeApi, Reply, ai_campaign


@pytest.fixture
def api_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., FakeApi]]:
    """Serve a FakeApi on 127.0.0.1 and point ANTHROPIC_BASE_URL at it."""
    current: list[FakeApi] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            status, headers, body = current[0].answer(self.rfile.read(length),
                                                      dict(self.headers))
            data = json.dumps(body).encode()
            self.send_response(status)
            for key, value in {**headers, "content-type": "application/json"}.items():
                self.send_header(key, value)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")

    def start(*replies: Reply | dict[str, Any]) -> FakeApi:
        api = FakeApi([r if isinstance(r, tuple) else (200, {}, r) for r in replies])
        current[:] = [api]
        return api

    yield start
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[..., Path]:
    """A repo root (an empty .git folder marks it) holding client acme."""
    def make(tier: str = "velocity", ai_campaigns: int = 0) -> Path:
        root = tmp_path / "repo"
        folder = root / "campaigns" / "acme"
        (folder / "campaigns").mkdir(parents=True)
        (root / ".git").mkdir()
        (folder / "client.yaml").write_text(CLIENT.replace("TIER", tier))
        (folder / "library.yaml").write_text(LIBRARY)
        for i in range(ai_campaigns):
            (folder / "campaigns" / f"old-{i}.yaml").write_text(ai_campaign(f"old-{i}"))
        return root
    return make
