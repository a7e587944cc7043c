"""ai/client through the real anthropic SDK with a fake transport (httpx2.MockTransport)."""

from __future__ import annotations

from typing import Any

import pytest

from campaign_gitops.ai.client import DEFAULT_MODEL, call_tool, make_client
from campaign_gitops.findings import CampaignGitopsError
from tests.ai.ai_fakes import FakeApi, rate_limited, tool_message

SCHEMA = {"type": "object", "properties": {"answer": {"type": "integer"}},
          "required": ["answer"]}


def _call(api: FakeApi, **kw: Any) -> dict[str, Any]:
    client = api.factory(**kw)()
    return call_tool(client, model=DEFAULT_MODEL, system="Be brief.",
                     messages=[{"role": "user", "content": "6 x 7?"}],
                     tool_name="answer", tool_schema=SCHEMA, max_tokens=200)


def test_no_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(CampaignGitopsError) as err:
        make_client()
    assert "ANTHROPIC_API_KEY" in err.value.message
    assert "export ANTHROPIC_API_KEY" in err.value.hint


def test_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-env")
    assert make_client().api_key == "sk-ant-from-env"


def test_forced_tool_call_returns_its_input() -> None:
    api = FakeApi([(200, {}, tool_message({"answer": 42}, name="answer"))])
    assert _call(api) == {"answer": 42}
    sent = api.requests[0]
    assert sent["tool_choice"] == {"type": "tool", "name": "answer"}
    assert sent["tools"][0]["input_schema"] == SCHEMA
    assert sent["model"] == DEFAULT_MODEL and sent["max_tokens"] == 200
    sent_key = api.headers[0].get("x-api-key") or api.headers[0].get("authorization", "")
    assert sent_key.removeprefix("Bearer ") == "sk-ant-test"


def test_429_then_200_is_retried() -> None:
    api = FakeApi([rate_limited(), (200, {}, tool_message({"answer": 42}, name="answer"))])
    assert _call(api, max_retries=2) == {"answer": 42}
    assert len(api.requests) == 2


def test_5xx_until_retries_run_out_is_a_clear_error() -> None:
    overloaded = (529, {"retry-after-ms": "1"},
                  {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    api = FakeApi([overloaded] * 3)
    with pytest.raises(CampaignGitopsError) as err:
        _call(api, max_retries=2)
    assert "529" in err.value.message and "retried" in err.value.hint
    assert len(api.requests) == 3


def test_refusal_is_a_clear_error() -> None:
    refusal = {**tool_message({}, name="answer"), "content": [], "stop_reason": "refusal"}
    with pytest.raises(CampaignGitopsError, match="declined"):
        _call(FakeApi([(200, {}, refusal)]))


def test_prose_instead_of_a_tool_call_is_a_clear_error() -> None:
    prose = {**tool_message({}, name="answer"), "stop_reason": "end_turn",
             "content": [{"type": "text", "text": "It is 42."}]}
    with pytest.raises(CampaignGitopsError, match=r"did not call the answer tool.*It is 42"):
        _call(FakeApi([(200, {}, prose)]))
