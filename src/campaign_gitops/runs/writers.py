"""Writers: turn a MessageContext into the subject and body of one message.

``template``: renders the step's Template with the lead's fields through the one
placeholder grammar (``config/placeholders.py``): ``{{first_name}}``, ``{{first_name |
there}}``; a value missing without a fallback fails the message with a WriteError. No
code runs: the renderer substitutes text in one pass and never re-reads what it inserted.

``anthropic``: the same rendering, with ``{{SMART_PROMPT}}`` / ``{{SMART_PROMPT_SUBJECT}}``
written by Claude (model and instructions from the Writer, the lead's fields and the Goal
as context); with no Template it writes the whole message (and, for email, the subject).
A Template without smart placeholders is rendered without calling the API. Retries with
backoff on 429/5xx and the timeout live in ``ai.client.make_client``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from campaign_gitops.ai import message_prompts as prompts
from campaign_gitops.config.placeholders import (
    SMART_PLACEHOLDERS,
    MissingPlaceholderValue,
    parse_placeholders,
    render,
)
from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.runs.types import MessageContext, WriteError, Writer, WrittenMessage

# The Anthropic SDK is imported only by the code that calls it: a template writer (and
# so `tick`) does not pay for it.
if TYPE_CHECKING:
    import anthropic

LEAD_PLACEHOLDERS = ("first_name", "last_name", "company", "title")
DEFAULT_WRITER_MAX_TOKENS = 1024


def make_writer(writer_spec: Mapping[str, Any], *,
                client: anthropic.Anthropic | None = None) -> Writer:
    """The Writer for a canonical Writer spec (type template|anthropic, model, ...).

    ``client`` is an Anthropic client to use instead of ``ai.client.make_client()``
    (which is called on the first message that needs the API).
    """
    kind = writer_spec.get("type")
    if kind == "template":
        return TemplateWriter()
    if kind == "anthropic":
        from campaign_gitops.ai import client as ai_client

        return AnthropicWriter(
            model=writer_spec.get("model") or ai_client.DEFAULT_MODEL,
            instructions=writer_spec.get("instructions") or "",
            max_tokens=writer_spec.get("maxTokens") or DEFAULT_WRITER_MAX_TOKENS,
            client=client,
        )
    raise CampaignGitopsError(f"unknown writer type {kind!r}",
                              hint="a Writer's type is template or anthropic")


def placeholder_values(ctx: MessageContext) -> dict[str, str | None]:
    """The values of the non-smart placeholders; blank ones count as missing (None)."""
    values = {name: _text(ctx.lead.get(name)) for name in LEAD_PLACEHOLDERS}
    values["sender_name"] = _text(ctx.sender_name)
    values["sender_email"] = _text(ctx.sender_email)
    values["unsubscribe_url"] = _text(ctx.unsubscribe_url)
    return values


def describe_step(ctx: MessageContext) -> str:
    template = ctx.step.get("template")
    named = f", template {template}" if template else ""
    return f"step {ctx.step_index + 1} ({ctx.channel}{named})"


class TemplateWriter:
    """Renders the Template's placeholders; nothing else."""

    def write(self, ctx: MessageContext) -> WrittenMessage:
        template = ctx.template
        if template is None:
            raise WriteError(f"{describe_step(ctx)} has no template, and a template writer "
                             "can only render one: set the step's template or use an "
                             "anthropic writer")
        smart = sorted(_smart_names(template))
        if smart:
            raise WriteError(f"{describe_step(ctx)}: the template uses "
                             + ", ".join(f"{{{{{n}}}}}" for n in smart)
                             + ", which only an anthropic writer fills")
        return _render_template(ctx, template, placeholder_values(ctx))


class AnthropicWriter:
    """Claude writes the smart parts of the Template, or the whole message without one."""

    def __init__(self, *, model: str, instructions: str = "",
                 max_tokens: int = DEFAULT_WRITER_MAX_TOKENS,
                 client: anthropic.Anthropic | None = None) -> None:
        self.model = model
        self.instructions = instructions
        self.max_tokens = max_tokens
        self._client = client

    def write(self, ctx: MessageContext) -> WrittenMessage:
        template = ctx.template
        if template is None:
            return self._write_whole(ctx)
        smart = _smart_names(template)
        values = placeholder_values(ctx)
        if not smart:
            return _render_template(ctx, template, values)
        # Render once with a marker where Claude's text goes: missing values fail before
        # the API is called, and nothing Claude writes is ever parsed as a placeholder.
        marker = uuid.uuid4().hex
        marks = {name: f"\x00{marker}:{name}\x00" for name in SMART_PLACEHOLDERS}
        framed = _render_template(ctx, template, {**values, **marks})
        shown = {"subject": _unmark(framed.subject or "", marks),
                 "body": _unmark(framed.body, marks)}
        fields = prompts.write_fields(channel=ctx.channel, frame=shown,
                                      smart_body="SMART_PROMPT" in smart,
                                      smart_subject="SMART_PROMPT_SUBJECT" in smart)
        answer = self._ask(ctx, shown, fields)
        filled = {marks["SMART_PROMPT"]: answer.get("smart_prompt", ""),
                  marks["SMART_PROMPT_SUBJECT"]: answer.get("smart_prompt_subject", "")}
        subject = one_line(_replace(framed.subject, filled))
        return WrittenMessage(subject=subject, body=_replace(framed.body, filled) or "")

    def _write_whole(self, ctx: MessageContext) -> WrittenMessage:
        fields = prompts.write_fields(channel=ctx.channel, frame=None,
                                      smart_body=False, smart_subject=False)
        answer = self._ask(ctx, None, fields)
        body = answer["body"]
        if ctx.channel == "email" and ctx.unsubscribe_url and ctx.unsubscribe_url not in body:
            body = f"{body}\n\n--\nUnsubscribe: {ctx.unsubscribe_url}"
        return WrittenMessage(subject=one_line(answer.get("subject")), body=body)

    def _ask(self, ctx: MessageContext, frame: Mapping[str, str] | None,
             fields: Mapping[str, str]) -> dict[str, str]:
        import anthropic

        from campaign_gitops.ai import client as ai_client

        prompt = prompts.writer_prompt(
            channel=ctx.channel, purpose=str(ctx.step.get("purpose") or "follow_up"),
            step_number=ctx.step_index + 1, lead=ctx.lead, goal=ctx.goal,
            sender_name=ctx.sender_name, frame=frame, fields=fields)
        try:
            answer = ai_client.call_tool(
                self.client(), model=self.model, system=prompts.writer_system(self.instructions),
                messages=[{"role": "user", "content": prompt}], tool_name=prompts.WRITE_TOOL,
                tool_schema=prompts.write_tool_schema(fields), max_tokens=self.max_tokens)
        except CampaignGitopsError as exc:
            raise WriteError(f"{describe_step(ctx)}: anthropic writer: {exc.message}",
                             temporary=_temporary(exc.__cause__)) from exc
        except anthropic.APIError as exc:  # call_tool converts these; belt and braces
            raise WriteError(f"{describe_step(ctx)}: anthropic writer: {exc}",
                             temporary=_temporary(exc)) from exc
        result: dict[str, str] = {}
        for name in fields:
            value = answer.get(name)
            if not isinstance(value, str) or not value.strip():
                raise WriteError(f"{describe_step(ctx)}: anthropic writer: Claude's answer "
                                 f"has no {name}")
            result[name] = value.strip()
        return result

    def client(self) -> anthropic.Anthropic:
        if self._client is None:
            from campaign_gitops.ai import client as ai_client

            self._client = ai_client.make_client()
        return self._client


# ---------------------------------------------------------------- helpers


def _temporary(exc: BaseException | None) -> bool:
    """An API failure that may pass: timeout, no connection, 408/409/429 or 5xx (after
    the SDK's own retries). A refused key or a bad request is not."""
    import anthropic

    if isinstance(exc, anthropic.APIConnectionError):  # APITimeoutError is one
        return True
    if isinstance(exc, anthropic.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return False


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _smart_names(template: Mapping[str, Any]) -> set[str]:
    parts = [str(part) for part in (template.get("subject"), template.get("body")) if part]
    if not any("SMART_PROMPT" in part for part in parts):  # the common case, cheaply
        return set()
    names = {p.name for part in parts for p in parse_placeholders(part)}
    return names & SMART_PLACEHOLDERS


def _render_template(ctx: MessageContext, template: Mapping[str, Any],
                     values: Mapping[str, str | None]) -> WrittenMessage:
    rendered: dict[str, str | None] = {}
    for part in ("subject", "body"):
        text = template.get(part)
        if not text:
            rendered[part] = None
            continue
        try:
            rendered[part] = render(str(text), values)
        except MissingPlaceholderValue as exc:
            raise WriteError(f"{describe_step(ctx)}: {part}: {exc.message} "
                             f"({exc.hint})") from exc
    return WrittenMessage(subject=one_line(rendered["subject"]), body=rendered["body"] or "")


def one_line(subject: str | None) -> str | None:
    """A subject on one line: line breaks (from a value or Claude) never reach a header."""
    return " ".join(subject.split()) if subject is not None else None


def _unmark(text: str, marks: Mapping[str, str]) -> str:
    for name, mark in marks.items():
        text = text.replace(mark, f"{{{{{name}}}}}")
    return text


def _replace(text: str | None, filled: Mapping[str, str]) -> str | None:
    if text is None:
        return None
    for mark, value in filled.items():
        text = text.replace(mark, value)
    return text
