"""The one place that builds the Anthropic client and calls a tool with a JSON schema.

Everything that talks to Claude (suggest, the anthropic writer and reviewer) goes
through ``make_client`` (key, retries with backoff on 429/5xx, timeout) and
``call_tool`` (structured output via a forced tool call). SDK failures become a
``CampaignGitopsError`` with a hint, never a traceback.

The installed SDK (anthropic 2.x) runs on ``httpx2``: a custom ``http_client`` must be
an ``httpx2.Client`` (tests pass one with an ``httpx2.MockTransport``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx2
from anthropic.types import (
    AssistantMessageParam,
    Message,
    MessageParam,
    ToolParam,
    ToolResultBlockParam,
    ToolUseBlockParam,
    UserMessageParam,
)

from campaign_gitops.findings import CampaignGitopsError

API_KEY_ENV = "ANTHROPIC_API_KEY"
DEFAULT_MODEL = "claude-haiku-5-5"
DEFAULT_MAX_TOKENS = 4096


def make_client(
    *,
    api_key: str | None = None,
    http_client: httpx2.Client | None = None,
    timeout: float = 30.0,
    max_retries: int = 3,
) -> anthropic.Anthropic:
    """An Anthropic client: key from the argument or ANTHROPIC_API_KEY.

    The SDK retries 429, 408, 409 and 5xx answers (and connection errors) up to
    ``max_retries`` times with exponential backoff, honouring ``retry-after``; the base
    URL follows ``ANTHROPIC_BASE_URL`` when set (a local server in tests).
    """
    key = api_key or os.environ.get(API_KEY_ENV, "").strip()
    if not key:
        raise CampaignGitopsError(
            f"no Anthropic API key: {API_KEY_ENV} is not set",
            hint=f"export {API_KEY_ENV}=sk-ant-... (create a key at "
                 "https://console.anthropic.com/settings/keys), then run the command again",
        )
    return anthropic.Anthropic(
        api_key=key, http_client=http_client, timeout=timeout, max_retries=max_retries,
    )


@dataclass(frozen=True, slots=True)
class ToolUse:
    """The tool call Claude answered with: its id (for a tool_result) and its input."""

    id: str
    name: str
    input: dict[str, Any]
    model: str

    def as_assistant_message(self) -> AssistantMessageParam:
        """The assistant turn to put back in the conversation before a tool_result."""
        block: ToolUseBlockParam = {"type": "tool_use", "id": self.id, "name": self.name,
                                    "input": self.input}
        return {"role": "assistant", "content": [block]}


def tool_error_reply(tool_use: ToolUse, error: str) -> UserMessageParam:
    """The user turn telling Claude its tool input was rejected, and why."""
    block: ToolResultBlockParam = {"type": "tool_result", "tool_use_id": tool_use.id,
                                   "is_error": True, "content": error}
    return {"role": "user", "content": [block]}


def request_tool(
    client: anthropic.Anthropic,
    *,
    model: str,
    system: str,
    messages: Iterable[MessageParam],
    tool_name: str,
    tool_schema: Mapping[str, Any],
    max_tokens: int = DEFAULT_MAX_TOKENS,
    tool_description: str = "",
) -> ToolUse:
    """Force Claude to answer by calling ``tool_name``; return that call."""
    tool: ToolParam = {"name": tool_name, "description": tool_description or tool_name,
            "input_schema": dict(tool_schema)}
    try:
        message = client.messages.create(
            model=model,
            system=system,
            messages=list(messages),
            tools=[tool],
            tool_choice={"type": "tool", "name": tool_name},
            max_tokens=max_tokens,
        )
    except anthropic.APIError as exc:
        raise _api_error(exc) from exc
    return _tool_use(message, tool_name)


def call_tool(
    client: anthropic.Anthropic,
    *,
    model: str,
    system: str,
    messages: Iterable[MessageParam],
    tool_name: str,
    tool_schema: Mapping[str, Any],
    max_tokens: int = DEFAULT_MAX_TOKENS,
) -> dict[str, Any]:
    """The input of the forced tool call: structured output as a plain dict."""
    return request_tool(client, model=model, system=system, messages=messages,
                        tool_name=tool_name, tool_schema=tool_schema,
                        max_tokens=max_tokens).input


def _tool_use(message: Message, tool_name: str) -> ToolUse:
    if message.stop_reason == "refusal":
        raise CampaignGitopsError(
            f"Claude ({message.model}) declined to answer (stop_reason: refusal)",
            hint="rephrase the request or check the client's ICP for content it refuses",
        )
    for block in message.content:
        if block.type == "tool_use" and block.name == tool_name:
            if message.stop_reason == "max_tokens":
                raise CampaignGitopsError(
                    f"Claude's {tool_name} answer was cut off at max_tokens",
                    hint="ask for fewer items or raise max_tokens",
                )
            return ToolUse(id=block.id, name=block.name, input=dict(block.input),
                           model=message.model)
    text = " ".join(b.text for b in message.content if b.type == "text").strip()
    raise CampaignGitopsError(
        f"Claude ({message.model}) did not call the {tool_name} tool "
        f"(stop_reason: {message.stop_reason})" + (f": {text[:300]}" if text else ""),
        hint="try again, or another model with --model",
    )


def _api_error(exc: anthropic.APIError) -> CampaignGitopsError:
    if isinstance(exc, anthropic.AuthenticationError):
        return CampaignGitopsError(
            f"the Anthropic API rejected the key (401): {exc.message}",
            hint=f"check {API_KEY_ENV}",
        )
    if isinstance(exc, anthropic.APITimeoutError):
        return CampaignGitopsError("the Anthropic API timed out (after retries)",
                                   hint="try again later, or raise the timeout")
    if isinstance(exc, anthropic.APIConnectionError):
        return CampaignGitopsError(f"cannot reach the Anthropic API: {exc.message}",
                                   hint="check the network or ANTHROPIC_BASE_URL")
    if isinstance(exc, anthropic.APIStatusError):
        return CampaignGitopsError(
            f"the Anthropic API answered {exc.status_code}: {exc.message}",
            hint="429/5xx were already retried with backoff; try again later"
                 if exc.status_code == 429 or exc.status_code >= 500 else "",
        )
    return CampaignGitopsError(f"Anthropic API error: {exc}")
