"""A scripted Messages API behind the real anthropic SDK (httpx2.MockTransport).

Answers are realistic Messages API bodies (id, type, role, content blocks, model,
stop_reason, usage) or errors with the API's error envelope; every request is kept,
parsed, so tests can check what the SDK sent.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import anthropic
import httpx2

from campaign_gitops.ai.client import make_client

_ids = itertools.count(1)


def tool_answer(name: str, payload: dict[str, Any], *, model: str = "claude-haiku-5-5",
                stop_reason: str = "tool_use") -> httpx2.Response:
    n = next(_ids)
    body = {
        "id": f"msg_01Fake{n:06d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [
            {"type": "text", "text": "Here is the result."},
            {"type": "tool_use", "id": f"toolu_01Fake{n:06d}", "name": name, "input": payload},
        ],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 412, "output_tokens": 87,
                  "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
    }
    return httpx2.Response(200, json=body, headers={"request-id": f"req_{n}"})


def error_answer(status: int, kind: str, message: str,
                 retry_after_ms: str | None = "5") -> httpx2.Response:
    headers = {"request-id": "req_err"}
    if retry_after_ms is not None:
        headers["retry-after-ms"] = retry_after_ms  # keeps the SDK's backoff short in tests
    return httpx2.Response(status, json={"type": "error",
                                         "error": {"type": kind, "message": message}},
                           headers=headers)


class FakeAnthropic:
    """Pops one scripted answer per request; records each request's JSON body."""

    def __init__(self, *answers: httpx2.Response | Callable[[dict[str, Any]], httpx2.Response]
                 ) -> None:
        self.answers = list(answers)
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        self.paths.append(request.url.path)
        if not self.answers:
            return error_answer(500, "api_error", "no scripted answer left", None)
        answer = self.answers.pop(0)
        return answer(body) if callable(answer) else answer

    def client(self, *, max_retries: int = 3) -> anthropic.Anthropic:
        http = httpx2.Client(transport=httpx2.MockTransport(self.handle))
        return make_client(api_key="sk-ant-test", http_client=http, max_retries=max_retries)


def user_text(request: dict[str, Any]) -> str:
    content = request["messages"][0]["content"]
    return content if isinstance(content, str) else " ".join(b.get("text", "") for b in content)
