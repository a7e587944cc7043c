"""Writers: the template renderer, and the anthropic writer through the real SDK."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from campaign_gitops.ai.client import DEFAULT_MODEL
from campaign_gitops.ai.message_prompts import WRITE_TOOL
from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.runs.types import MessageContext, WriteError
from campaign_gitops.runs.writers import make_writer
from tests.runs.fake_anthropic import FakeAnthropic, error_answer, tool_answer, user_text

ADA = {"first_name": "Ada", "last_name": "Lovelace", "company": "Analytical Engines",
       "title": "CTO", "seniority": "c_suite", "company_industry": "software",
       "email": "ada@example.com", "phone": "+61400000000"}
GOAL = {"description": "Book a 20-minute demo of the scheduling product", "outcome": "meeting"}
EMAIL_TEMPLATE = {"channel": "email", "subject": "{{first_name | there}}, a question",
                  "body": "Hi {{first_name | there}},\n\nHow does {{company}} plan its "
                          "shifts today?\n\n{{sender_name}}\nUnsubscribe: {{unsubscribe_url}}"}


def context(*, template: dict[str, Any] | None = EMAIL_TEMPLATE, lead: dict[str, Any] = ADA,
            channel: str = "email", writer: dict[str, Any] | None = None,
            step: dict[str, Any] | None = None, **kw: Any) -> MessageContext:
    values: dict[str, Any] = {
        "client": "acme", "campaign": "cto-au-q1", "run": "launch", "step_index": 0,
        "step": step or {"channel": channel, "delayDays": 0, "template": "intro",
                         "purpose": "intro"},
        "channel": channel, "lead": lead, "template": template, "goal": GOAL,
        "writer": writer or {"type": "template"}, "sender_name": "Sam from Acme",
        "unsubscribe_url": "https://acme.example/u/tok123",
    }
    values.update(kw)
    return MessageContext(**values)


# ---------------------------------------------------------------- template writer


def test_template_writer_renders_the_leads_fields() -> None:
    written = make_writer({"type": "template"}).write(context())
    assert written.subject == "Ada, a question"
    assert written.body == ("Hi Ada,\n\nHow does Analytical Engines plan its shifts today?"
                            "\n\nSam from Acme\nUnsubscribe: https://acme.example/u/tok123")


@pytest.mark.parametrize("first_name", [None, "", "   "])
def test_template_writer_uses_the_fallback_for_a_missing_or_blank_value(
        first_name: str | None) -> None:
    lead = {**ADA, "first_name": first_name}
    written = make_writer({"type": "template"}).write(context(lead=lead))
    assert written.subject == "there, a question"
    assert written.body.startswith("Hi there,\n")


def test_template_writer_missing_value_without_fallback_names_it() -> None:
    lead = {key: value for key, value in ADA.items() if key != "company"}
    with pytest.raises(WriteError) as caught:
        make_writer({"type": "template"}).write(context(lead=lead))
    reason = str(caught.value)
    assert "{{company}}" in reason
    assert "step 1 (email, template intro)" in reason
    assert "body" in reason


def test_template_writer_missing_sender_name_fails() -> None:
    with pytest.raises(WriteError, match=r"\{\{sender_name\}\}"):
        make_writer({"type": "template"}).write(context(sender_name=""))


def test_subject_stays_on_one_line() -> None:
    lead = {**ADA, "first_name": "Ada\r\nBcc: everyone@example.com"}
    written = make_writer({"type": "template"}).write(context(lead=lead))
    assert written.subject == "Ada Bcc: everyone@example.com, a question"
    fake = FakeAnthropic(tool_answer(WRITE_TOOL, {"subject": "Two\nlines", "body": "Hi"}))
    assert make_writer(WRITER, client=fake.client()).write(
        context(template=None)).subject == "Two lines"


def test_template_writer_without_template_fails() -> None:
    with pytest.raises(WriteError, match="has no template"):
        make_writer({"type": "template"}).write(context(template=None))


def test_template_writer_refuses_smart_prompt() -> None:
    template = {"channel": "sms", "body": "Hi {{first_name}}, {{SMART_PROMPT}}"}
    with pytest.raises(WriteError, match=r"\{\{SMART_PROMPT\}\}.*only an anthropic writer"):
        make_writer({"type": "template"}).write(context(template=template, channel="sms"))


def test_template_writer_executes_nothing_and_never_rerenders_values() -> None:
    lead = {**ADA, "first_name": "{{unsubscribe_url}}", "company": "{{ 7*7 }}"}
    template = {"channel": "sms", "body": "Hi {{first_name}} of {{company}}"}
    written = make_writer({"type": "template"}).write(context(lead=lead, template=template,
                                                              channel="sms"))
    assert written.body == "Hi {{unsubscribe_url}} of {{ 7*7 }}"
    assert written.subject is None
    code = {"channel": "sms", "body": "{{ __import__('os').system('true') }}"}
    with pytest.raises(WriteError, match="no value for placeholder"):
        make_writer({"type": "template"}).write(context(template=code, channel="sms"))


def test_unknown_writer_type() -> None:
    with pytest.raises(CampaignGitopsError, match="unknown writer type 'jinja'"):
        make_writer({"type": "jinja"})


# ---------------------------------------------------------------- anthropic writer

SMART_TEMPLATE = {"channel": "email", "subject": "{{SMART_PROMPT_SUBJECT}} at {{company}}",
                  "body": "Hi {{first_name | there}},\n\n{{SMART_PROMPT}}\n\n{{sender_name}}\n"
                          "Unsubscribe: {{unsubscribe_url}}"}
WRITER = {"type": "anthropic", "model": "claude-sonnet-5", "instructions": "Be brief; no jargon.",
          "maxTokens": 600}


def test_anthropic_writer_fills_smart_prompts_in_the_template() -> None:
    fake = FakeAnthropic(tool_answer(WRITE_TOOL, {
        "smart_prompt_subject": "Shift planning",
        "smart_prompt": "Teams like yours cut rostering time in half. Worth 20 minutes?"}))
    writer = make_writer(WRITER, client=fake.client())
    written = writer.write(context(template=SMART_TEMPLATE, writer=WRITER))

    assert written.subject == "Shift planning at Analytical Engines"
    assert written.body == ("Hi Ada,\n\nTeams like yours cut rostering time in half. Worth 20 "
                            "minutes?\n\nSam from Acme\nUnsubscribe: https://acme.example/u/tok123")
    [request] = fake.requests
    assert fake.paths == ["/v1/messages"]
    assert request["model"] == "claude-sonnet-5"
    assert request["max_tokens"] == 600
    assert "Be brief; no jargon." in request["system"]
    assert request["tool_choice"] == {"type": "tool", "name": WRITE_TOOL}
    schema = request["tools"][0]["input_schema"]
    assert sorted(schema["required"]) == ["smart_prompt", "smart_prompt_subject"]
    prompt = user_text(request)
    assert "Book a 20-minute demo" in prompt and "meeting" in prompt
    assert '"title": "CTO"' in prompt and '"company": "Analytical Engines"' in prompt
    assert "ada@example.com" not in prompt and "+61400000000" not in prompt
    assert "Hi Ada," in prompt and "{{SMART_PROMPT}}" in prompt  # the personalised frame


def test_anthropic_writer_text_is_never_parsed_as_placeholders() -> None:
    fake = FakeAnthropic(tool_answer(WRITE_TOOL, {"smart_prompt": "Literal {{first_name}} here",
                                                  "smart_prompt_subject": "S"}))
    written = make_writer(WRITER, client=fake.client()).write(context(template=SMART_TEMPLATE))
    assert "Literal {{first_name}} here" in written.body


def test_anthropic_writer_writes_the_whole_email_without_template() -> None:
    fake = FakeAnthropic(tool_answer(WRITE_TOOL, {"subject": "Rostering at Analytical Engines",
                                                  "body": "Hi Ada, ...\n\nSam"}))
    written = make_writer(WRITER, client=fake.client()).write(context(template=None))
    assert written.subject == "Rostering at Analytical Engines"
    assert written.body == "Hi Ada, ...\n\nSam\n\n--\nUnsubscribe: https://acme.example/u/tok123"
    assert sorted(fake.requests[0]["tools"][0]["input_schema"]["required"]) == ["body", "subject"]


def test_anthropic_writer_writes_an_sms_body_only() -> None:
    fake = FakeAnthropic(tool_answer(WRITE_TOOL, {"body": "Hi Ada, Sam here. Quick chat?"}))
    step = {"channel": "sms", "delayDays": 12, "purpose": "breakup"}
    written = make_writer({"type": "anthropic"}, client=fake.client()).write(
        context(template=None, channel="sms", step=step, step_index=4))
    assert written.subject is None
    assert written.body == "Hi Ada, Sam here. Quick chat?"
    request = fake.requests[0]
    assert request["model"] == DEFAULT_MODEL
    assert request["tools"][0]["input_schema"]["required"] == ["body"]
    assert "Step 5" in user_text(request) and "breakup" in user_text(request)


def test_anthropic_writer_retries_429_then_succeeds() -> None:
    fake = FakeAnthropic(error_answer(429, "rate_limit_error", "Number of requests exceeded"),
                         error_answer(529, "overloaded_error", "Overloaded"),
                         tool_answer(WRITE_TOOL, {"body": "Hello Ada"}))
    written = make_writer(WRITER, client=fake.client()).write(
        context(template=None, channel="linkedin"))
    assert written.body == "Hello Ada"
    assert len(fake.requests) == 3
    assert fake.requests[0] == fake.requests[2]  # the same request, retried


def test_anthropic_writer_gives_up_with_a_reason() -> None:
    fake = FakeAnthropic(*[error_answer(503, "api_error", "Internal server error")] * 2)
    with pytest.raises(WriteError, match=r"step 1 \(email, template intro\): anthropic writer: "
                                         r"the Anthropic API answered 503"):
        make_writer(WRITER, client=fake.client(max_retries=1)).write(context(template=None))
    assert len(fake.requests) == 2


def test_anthropic_writer_timeout_is_a_write_error() -> None:
    def hang(request: dict[str, Any]) -> httpx2.Response:
        raise httpx2.ReadTimeout("timed out")

    fake = FakeAnthropic(hang)
    with pytest.raises(WriteError, match="timed out"):
        make_writer(WRITER, client=fake.client(max_retries=0)).write(context(template=None))


def test_anthropic_writer_bad_request_is_not_retried() -> None:
    fake = FakeAnthropic(error_answer(400, "invalid_request_error", "model: not found", None))
    with pytest.raises(WriteError, match="400"):
        make_writer(WRITER, client=fake.client()).write(context(template=None))
    assert len(fake.requests) == 1


def test_anthropic_writer_rejects_an_answer_without_the_field() -> None:
    fake = FakeAnthropic(tool_answer(WRITE_TOOL, {"subject": "Hi", "body": "   "}))
    with pytest.raises(WriteError, match="has no body"):
        make_writer(WRITER, client=fake.client()).write(context(template=None))


def test_anthropic_writer_checks_values_before_calling_the_api() -> None:
    fake = FakeAnthropic()
    lead = {**ADA, "company": None}
    with pytest.raises(WriteError, match=r"\{\{company\}\}"):
        make_writer(WRITER, client=fake.client()).write(context(template=SMART_TEMPLATE,
                                                                lead=lead))
    assert fake.requests == []


def test_anthropic_writer_renders_a_plain_template_without_the_api() -> None:
    fake = FakeAnthropic()
    written = make_writer(WRITER, client=fake.client()).write(context())
    assert written.subject == "Ada, a question"
    assert fake.requests == []


def test_anthropic_writer_without_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    writer = make_writer(WRITER)  # building it needs no key; writing does
    with pytest.raises(WriteError, match="ANTHROPIC_API_KEY"):
        writer.write(context(template=None))


def test_anthropic_writer_marks_outages_temporary_and_bad_requests_not() -> None:
    outage = FakeAnthropic(*[error_answer(529, "overloaded_error", "Overloaded")] * 2)
    with pytest.raises(WriteError) as raised:
        make_writer(WRITER, client=outage.client(max_retries=1)).write(context(template=None))
    assert raised.value.temporary

    def hang(request: dict[str, Any]) -> httpx2.Response:
        raise httpx2.ReadTimeout("timed out")

    with pytest.raises(WriteError) as raised:
        make_writer(WRITER, client=FakeAnthropic(hang).client(max_retries=0)).write(
            context(template=None))
    assert raised.value.temporary
    bad = FakeAnthropic(error_answer(400, "invalid_request_error", "model: not found", None))
    with pytest.raises(WriteError) as raised:
        make_writer(WRITER, client=bad.client()).write(context(template=None))
    assert not raised.value.temporary
    assert not WriteError("no value for first_name").temporary
