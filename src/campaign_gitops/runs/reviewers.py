"""Reviewers: approve, reject (with a reason) or queue a written message for a human.

Every reviewer first applies the Reviewer spec's rules, which have defaults for all
types: banned phrases (case-insensitive, whitespace-insensitive, subject and body), a
maximum body length per channel (``maxLength`` overrides DEFAULT_MAX_LENGTH), and for
email an unsubscribe link in the body (``requireUnsubscribe``, default true). Then:

- ``rules``: approved when the rules pass;
- ``human``: ``pending_review`` (``review approve|reject ID``);
- ``anthropic``: Claude approves or rejects with a reason through a forced tool call;
  when the API fails after its retries the message waits for a human (``pending_review``
  with the failure as reason): nothing unreviewed is sent and nothing is lost.

No reviewer (``None``: voice needs none) approves everything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from campaign_gitops.ai import message_prompts as prompts
from campaign_gitops.config.unsubscribe import has_unsubscribe_link
from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.runs.types import Decision, MessageContext, Reviewer, WrittenMessage

# The Anthropic SDK is imported only by the code that calls it (see runs/writers.py).
if TYPE_CHECKING:
    import anthropic

# Characters of the body. LinkedIn connection notes stop at 300; two SMS segments at 320.
DEFAULT_MAX_LENGTH: dict[str, int] = {
    "sms": 320,
    "linkedin": 300,
    "email": 10_000,
    "mail": 6_000,
    "voice": 2_000,
}
DEFAULT_REVIEWER_MAX_TOKENS = 512


def make_reviewer(reviewer_spec: Mapping[str, Any] | None, *,
                  client: anthropic.Anthropic | None = None) -> Reviewer:
    """The Reviewer for a canonical Reviewer spec, or one that approves for None.

    ``client`` is an Anthropic client to use instead of ``ai.client.make_client()``.
    """
    if reviewer_spec is None:
        return ApproveAll()
    rules = Rules.from_spec(reviewer_spec)
    kind = reviewer_spec.get("type")
    if kind == "rules":
        return RulesReviewer(rules)
    if kind == "human":
        return HumanReviewer(rules)
    if kind == "anthropic":
        from campaign_gitops.ai import client as ai_client

        return AnthropicReviewer(
            rules, model=reviewer_spec.get("model") or ai_client.DEFAULT_MODEL,
            instructions=reviewer_spec.get("instructions") or "", client=client)
    raise CampaignGitopsError(f"unknown reviewer type {kind!r}",
                              hint="a Reviewer's type is rules, human or anthropic")


@dataclass(frozen=True, slots=True)
class Rules:
    banned_phrases: tuple[str, ...] = ()
    max_length: tuple[tuple[str, int], ...] = ()
    require_unsubscribe: bool = True
    _banned_normal: tuple[str, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_banned_normal", tuple(_normal(p) for p in self.banned_phrases))

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Rules:
        banned = _get(spec, "bannedPhrases", "banned_phrases") or []
        lengths = {**DEFAULT_MAX_LENGTH, **(_get(spec, "maxLength", "max_length") or {})}
        require = _get(spec, "requireUnsubscribe", "require_unsubscribe")
        return cls(banned_phrases=tuple(p for p in banned if str(p).strip()),
                   max_length=tuple(sorted(lengths.items())),
                   require_unsubscribe=True if require is None else bool(require))

    def problems(self, message: WrittenMessage, ctx: MessageContext) -> list[str]:
        """Every rule the message breaks, in words."""
        found: list[str] = []
        if self.banned_phrases:
            text = _normal(f"{message.subject or ''}\n{message.body}")
            found.extend(f"banned phrase {phrase!r}" for phrase, normal in
                         zip(self.banned_phrases, self._banned_normal, strict=True)
                         if normal in text)
        limit = dict(self.max_length).get(ctx.channel)
        if limit is not None and len(message.body) > limit:
            found.append(f"{len(message.body)} characters, over the {ctx.channel} limit "
                         f"of {limit}")
        if (ctx.channel == "email" and self.require_unsubscribe
                and not has_unsubscribe_link(message.body, ctx.unsubscribe_url)):
            found.append("no unsubscribe link in the email body")
        return found


class ApproveAll:
    def review(self, message: WrittenMessage, ctx: MessageContext) -> Decision:
        return Decision("approved", "no reviewer for this channel")


class RulesReviewer:
    def __init__(self, rules: Rules) -> None:
        self.rules = rules

    def review(self, message: WrittenMessage, ctx: MessageContext) -> Decision:
        return _rejected(self.rules.problems(message, ctx)) or Decision("approved")


class HumanReviewer:
    def __init__(self, rules: Rules) -> None:
        self.rules = rules

    def review(self, message: WrittenMessage, ctx: MessageContext) -> Decision:
        return _rejected(self.rules.problems(message, ctx)) or Decision(
            "pending_review", "waiting for a human reviewer (review approve|reject ID)")


class AnthropicReviewer:
    def __init__(self, rules: Rules, *, model: str, instructions: str = "",
                 client: anthropic.Anthropic | None = None,
                 max_tokens: int = DEFAULT_REVIEWER_MAX_TOKENS) -> None:
        self.rules = rules
        self.model = model
        self.instructions = instructions
        self.max_tokens = max_tokens
        self._client = client

    def review(self, message: WrittenMessage, ctx: MessageContext) -> Decision:
        rejected = _rejected(self.rules.problems(message, ctx))
        if rejected:
            return rejected
        import anthropic

        from campaign_gitops.ai import client as ai_client

        prompt = prompts.reviewer_prompt(
            channel=ctx.channel, purpose=str(ctx.step.get("purpose") or "follow_up"),
            lead=ctx.lead, goal=ctx.goal, subject=message.subject, body=message.body)
        try:
            answer = ai_client.call_tool(
                self.client(), model=self.model,
                system=prompts.reviewer_system(self.instructions),
                messages=[{"role": "user", "content": prompt}], tool_name=prompts.REVIEW_TOOL,
                tool_schema=prompts.REVIEW_TOOL_SCHEMA, max_tokens=self.max_tokens)
        except (CampaignGitopsError, anthropic.APIError) as exc:
            reason = exc.message if isinstance(exc, CampaignGitopsError) else str(exc)
            return Decision("pending_review",
                            f"anthropic review failed ({reason}); waiting for a human reviewer")
        verdict = answer.get("decision")
        reason = str(answer.get("reason") or "").strip()
        if verdict == "approve":
            return Decision("approved", f"anthropic reviewer: {reason}" if reason else "")
        if verdict == "reject":
            return Decision("rejected", f"anthropic reviewer: {reason or 'rejected'}")
        return Decision("pending_review", f"anthropic reviewer answered {verdict!r}, neither "
                        "approve nor reject; waiting for a human reviewer")

    def client(self) -> anthropic.Anthropic:
        if self._client is None:
            from campaign_gitops.ai import client as ai_client

            self._client = ai_client.make_client()
        return self._client


def _rejected(problems: Iterable[str]) -> Decision | None:
    found = list(problems)
    return Decision("rejected", "; ".join(found)) if found else None


def _normal(text: str) -> str:
    return " ".join(text.casefold().split())


def _get(spec: Mapping[str, Any], camel: str, snake: str) -> Any:
    return spec[camel] if camel in spec else spec.get(snake)
