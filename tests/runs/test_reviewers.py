"""Reviewers: rules, human, anthropic (through the real SDK), none."""

from __future__ import annotations

from typing import Any

import pytest

from campaign_gitops.ai.message_prompts import REVIEW_TOOL
from campaign_gitops.config.models import ReviewerSpec, canonical_spec
from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.runs.reviewers import has_unsubscribe_link, make_reviewer
from campaign_gitops.runs.types import Decision, MessageContext, WrittenMessage
from tests.runs.fake_anthropic import FakeAnthropic, error_answer, tool_answer, user_text

UNSUB = "https://acme.example/u/tok123"
EMAIL = WrittenMessage(subject="Ada, a question",
                       body=f"Hi Ada,\n\nWorth a chat?\n\nSam\nUnsubscribe: {UNSUB}")


def context(channel: str = "email") -> MessageContext:
    return MessageContext(
        client="acme", campaign="cto-au-q1", run="launch", step_index=0,
        step={"channel": channel, "purpose": "intro"}, channel=channel,
        lead={"first_name": "Ada", "company": "Analytical Engines", "title": "CTO"},
        template=None, goal={"description": "Book a demo", "outcome": "meeting"},
        writer={"type": "template"}, unsubscribe_url=UNSUB)


def spec(**fields: Any) -> dict[str, Any]:
    """A canonical Reviewer spec, exactly as tick gets it from the revision."""
    return canonical_spec(ReviewerSpec.model_validate(fields))


def review(reviewer_spec: dict[str, Any] | None, message: WrittenMessage,
           channel: str = "email") -> Decision:
    return make_reviewer(reviewer_spec).review(message, context(channel))


# ---------------------------------------------------------------- rules


def test_rules_approve_a_clean_email() -> None:
    assert review(spec(type="rules"), EMAIL) == Decision("approved")


def test_banned_phrases_are_case_and_whitespace_insensitive() -> None:
    message = WrittenMessage(subject="100% GUARANTEED results",
                             body=f"Act  now,\nno risk. Unsubscribe: {UNSUB}")
    decision = review(spec(type="rules", bannedPhrases=["guaranteed", "act now", "free"]),
                      message)
    assert decision.status == "rejected"
    assert decision.reason == "banned phrase 'guaranteed'; banned phrase 'act now'"


@pytest.mark.parametrize(("channel", "length", "status"),
                         [("sms", 320, "approved"), ("sms", 321, "rejected"),
                          ("linkedin", 300, "approved"), ("linkedin", 301, "rejected")])
def test_default_max_length_per_channel(channel: str, length: int, status: str) -> None:
    decision = review(spec(type="rules"), WrittenMessage(None, "x" * length), channel)
    assert decision.status == status
    if status == "rejected":
        assert decision.reason == f"{length} characters, over the {channel} limit of {length - 1}"


def test_max_length_override() -> None:
    rules = spec(type="rules", maxLength={"sms": 160})
    assert review(rules, WrittenMessage(None, "x" * 161), "sms").status == "rejected"
    assert review(rules, WrittenMessage(None, "x" * 160), "sms").status == "approved"
    assert review(rules, WrittenMessage(None, "x" * 300), "linkedin").status == "approved"


def test_email_needs_an_unsubscribe_link() -> None:
    bare = WrittenMessage("Hi", "Hi Ada, worth a chat?")
    decision = review(spec(type="rules"), bare)
    assert decision == Decision("rejected", "no unsubscribe link in the email body")
    assert review(spec(type="rules", requireUnsubscribe=False), bare).status == "approved"
    assert review(spec(type="rules"), bare, "sms").status == "approved"  # email only


@pytest.mark.parametrize(("body", "found"), [
    (f"bye: {UNSUB}", True),
    ("Opt out: https://mail.example/unsubscribe?u=1", True),
    ("<a href=\"https://x.example/Opt-Out/9\">stop</a>", True),
    ("mailto:list@acme.example?subject=unsubscribe", True),
    ("To unsubscribe, reply STOP.", False),  # the word, but no link
    ("https://acme.example/pricing", False),
])
def test_unsubscribe_link_detection(body: str, found: bool) -> None:
    assert has_unsubscribe_link(body, UNSUB) is found


def test_all_problems_in_one_reason() -> None:
    message = WrittenMessage("Hi", "Buy now " + "x" * 10_000)
    decision = review(spec(type="rules", bannedPhrases=["buy now"]), message)
    assert decision.reason == ("banned phrase 'buy now'; 10008 characters, over the email limit "
                               "of 10000; no unsubscribe link in the email body")


# ---------------------------------------------------------------- none, human


def test_no_reviewer_approves() -> None:
    assert review(None, WrittenMessage(None, "Hello from the voice script"), "voice").status == (
        "approved")


def test_human_reviewer_queues_after_the_rules() -> None:
    decision = review(spec(type="human"), EMAIL)
    assert decision.status == "pending_review"
    assert "human" in decision.reason
    banned = review(spec(type="human", bannedPhrases=["chat"]), EMAIL)
    assert banned == Decision("rejected", "banned phrase 'chat'")


def test_unknown_reviewer_type() -> None:
    with pytest.raises(CampaignGitopsError, match="unknown reviewer type"):
        make_reviewer({"type": "crowd"})


# ---------------------------------------------------------------- anthropic

AI = spec(type="anthropic", model="claude-opus-5", instructions="Reject anything about pricing.",
          bannedPhrases=["guarantee"])


def ai_review(fake: FakeAnthropic, message: WrittenMessage = EMAIL, *,
              max_retries: int = 3) -> Decision:
    reviewer = make_reviewer(AI, client=fake.client(max_retries=max_retries))
    return reviewer.review(message, context())


def test_anthropic_reviewer_approves() -> None:
    fake = FakeAnthropic(tool_answer(REVIEW_TOOL, {"decision": "approve",
                                                   "reason": "Relevant and polite."}))
    assert ai_review(fake) == Decision("approved", "anthropic reviewer: Relevant and polite.")
    [request] = fake.requests
    assert request["model"] == "claude-opus-5"
    assert "Reject anything about pricing." in request["system"]
    assert request["tool_choice"] == {"type": "tool", "name": REVIEW_TOOL}
    assert request["tools"][0]["input_schema"]["properties"]["decision"]["enum"] == [
        "approve", "reject"]
    prompt = user_text(request)
    assert "Subject: Ada, a question" in prompt and "Worth a chat?" in prompt
    assert "Book a demo" in prompt


def test_anthropic_reviewer_rejects_with_its_reason() -> None:
    fake = FakeAnthropic(tool_answer(REVIEW_TOOL, {"decision": "reject",
                                                   "reason": "Mentions pricing."}))
    assert ai_review(fake) == Decision("rejected", "anthropic reviewer: Mentions pricing.")


def test_anthropic_reviewer_applies_the_rules_first() -> None:
    fake = FakeAnthropic()
    message = WrittenMessage("Hi", f"We guarantee it. {UNSUB}")
    assert ai_review(fake, message) == Decision("rejected", "banned phrase 'guarantee'")
    assert fake.requests == []


def test_anthropic_reviewer_retries_then_decides() -> None:
    fake = FakeAnthropic(error_answer(429, "rate_limit_error", "Too many requests"),
                         tool_answer(REVIEW_TOOL, {"decision": "approve", "reason": "Fine."}))
    assert ai_review(fake).status == "approved"
    assert len(fake.requests) == 2


def test_anthropic_reviewer_failure_waits_for_a_human() -> None:
    fake = FakeAnthropic(*[error_answer(500, "api_error", "Internal server error")] * 2)
    decision = ai_review(fake, max_retries=1)
    assert decision.status == "pending_review"
    assert "answered 500" in decision.reason and "waiting for a human" in decision.reason
