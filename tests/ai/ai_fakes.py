"""Fakes for the AI tests: realistic Messages API answers and a scripted fake API.

The fake answers like the real API (``type: message``, a ``tool_use`` block,
``stop_reason: tool_use``, usage) and records every request body and headers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2

from campaign_gitops.ai.client import make_client

Reply = tuple[int, dict[str, str], dict[str, Any]]


def tool_message(tool_input: dict[str, Any], *, model: str = "claude-haiku-5-5",
                 name: str = "propose_campaigns", n: int = 1) -> dict[str, Any]:
    """A realistic Messages API answer carrying one tool call."""
    return {
        "id": f"msg_01FakeAnswer{n:04d}", "type": "message", "role": "assistant",
        "model": model,
        "content": [{"type": "tool_use", "id": f"toolu_01Fake{n:04d}", "name": name,
                     "input": tool_input}],
        "stop_reason": "tool_use", "stop_sequence": None,
        "usage": {"input_tokens": 812, "output_tokens": 436},
    }


def rate_limited() -> Reply:
    return (429, {"retry-after-ms": "1", "x-should-retry": "true"},
            {"type": "error", "error": {"type": "rate_limit_error",
                                        "message": "Number of requests exceeded your rate limit"}})


def suggestion(name: str, pct: int, priority: int = 1, **over: Any) -> dict[str, Any]:
    item = {
        "name": name,
        "description": f"Data leaders at {name} companies.",
        "industries": ["software"], "titles": ["CTO", "Head of Data"],
        "companySizes": ["51-200", "201-1000"], "locations": ["AU", "NZ"],
        "leadAllocationPct": pct,
        "reasoning": "Teams of this size run dbt on Snowflake without a platform team, "
                     "so pipeline maintenance eats the data engineers' week.",
        "priority": priority,
    }
    item.update(over)
    return item


@dataclass
class FakeApi:
    """Scripted answers, one per request; every request body is kept."""

    replies: list[Reply]
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    def answer(self, body: bytes, headers: dict[str, str]) -> Reply:
        self.requests.append(json.loads(body))
        self.headers.append(headers)
        if not self.replies:
            return 500, {}, {"type": "error", "error": {"type": "api_error",
                                                        "message": "no scripted reply left"}}
        return self.replies.pop(0)

    def handler(self, request: httpx2.Request) -> httpx2.Response:
        status, headers, body = self.answer(request.content, dict(request.headers))
        return httpx2.Response(status, headers=headers, json=body)

    def factory(self, **kw: Any) -> Callable[[], Any]:
        def make() -> Any:
            http = httpx2.Client(transport=httpx2.MockTransport(self.handler))
            return make_client(api_key="sk-ant-test", http_client=http, **kw)
        return make


CLIENT = """\
# yaml-language-server: $schema=../../schemas/resource.json
apiVersion: campaign-gitops/v1
kind: Client
metadata: {name: acme}
spec:
  tier: TIER
  timezone: Australia/Sydney
  resources: {emailDomain: outreach.acme.test}
  icp:
    industries: [software, fintech, logistics]
    titles: [CTO, VP Engineering, Head of Data]
    companySizes: [51-200, 201-1000]
    locations: [AU, NZ]
    painPoints: [dashboards nobody trusts]
    keywords: [snowflake, dbt]
"""

LIBRARY = """\
apiVersion: campaign-gitops/v1
kind: Goal
metadata: {name: book-demo, client: acme}
spec: {outcome: meeting}
---
apiVersion: campaign-gitops/v1
kind: Writer
metadata: {name: plain, client: acme}
spec: {type: template}
---
apiVersion: campaign-gitops/v1
kind: Reviewer
metadata: {name: brand-rules, client: acme}
spec: {type: rules}
---
apiVersion: campaign-gitops/v1
kind: Schedule
metadata: {name: business-hours, client: acme}
spec: {timezone: Australia/Sydney}
---
apiVersion: campaign-gitops/v1
kind: Template
metadata: {name: intro, client: acme}
spec:
  channel: email
  subject: "Hello {{company}}"
  body: |
    Hi {{first_name | there}}, a short note from {{sender_name}}.
    Unsubscribe: {{unsubscribe_url}}
"""


def ai_campaign(name: str) -> str:
    return f"""\
apiVersion: campaign-gitops/v1
kind: Campaign
metadata: {{name: {name}, client: acme}}
spec:
  type: ai_suggested
  goal: book-demo
  writer: plain
  reviewer: brand-rules
  template: intro
"""


