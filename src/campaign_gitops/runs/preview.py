"""Preview: the messages a campaign would send, written as tick writes them; nothing is
stored and nothing is sent.

The campaign is resolved from the files as they are now (``resolve_campaign``, what
apply pins a run to) into the same ``RunPlan`` tick walks; each (lead, step) goes
through tick's own ``compose.precheck`` and ``compose.write``: the same skips, the same
writer and the same reviewer. The template writer is always used unless ``ai`` is
asked for (an ``anthropic`` Writer or Reviewer otherwise falls back to the template
writer and to the reviewer's rules, and the preview says so).

Leads come from the caller (``preview_cmd`` reads them from the database without
writing: a named lead or a sample of the segment's pool), else the fixed sample lead
test runs use.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from campaign_gitops.config.models import Sender
from campaign_gitops.runs.compose import Outcome, Work, precheck, write
from campaign_gitops.runs.reviewers import Rules, RulesReviewer, make_reviewer
from campaign_gitops.runs.senders import SenderBook, run_senders
from campaign_gitops.runs.sequences import RunPlan
from campaign_gitops.runs.start import SAMPLE_LEAD
from campaign_gitops.runs.writers import TemplateWriter, make_writer

VERDICTS = {"queued": "approved"}  # an outcome tick would deliver
SENDER_RESOURCE = {"email": "emailDomain", "sms": "phoneNumber", "voice": "phoneNumber",
                   "linkedin": "linkedinSeat"}


@dataclass(frozen=True, slots=True)
class PreviewMessage:
    lead: str
    step: int  # 1-based, as `communications` shows steps
    channel: str
    sender: str
    recipient: str
    subject: str | None
    body: str
    verdict: str  # approved, rejected, pending_review, skipped, failed
    reason: str | None

    def as_json(self) -> dict[str, Any]:
        return {"lead": self.lead, "step": self.step, "channel": self.channel,
                "sender": self.sender, "recipient": self.recipient, "subject": self.subject,
                "body": self.body, "verdict": self.verdict, "reason": self.reason}


@dataclass
class Preview:
    campaign: str
    writer: str
    reviewer: str
    messages: list[PreviewMessage] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"campaign": self.campaign, "writer": self.writer, "reviewer": self.reviewer,
                "messages": [m.as_json() for m in self.messages], "notes": list(self.notes)}


def plan_for(config: dict[str, Any]) -> RunPlan:
    """The plan tick would walk for a run of this resolved campaign (never stored)."""
    return RunPlan.from_config(0, "preview", "run", 0, config)


def first_sender(plan: RunPlan) -> Sender | None:
    """The sender tick would give a new lead on a fresh day (most room; ties: list
    order), None when the client has no senders (SPEC 9)."""
    allowed = run_senders(plan.config)
    return SenderBook(allowed).choose(allowed) if allowed else None


def sender_of(plan: RunPlan, channel: str, sender: Sender | None = None) -> str:
    """Who a step comes from: an email the lead's sender (``name <email>``); else the
    sender's (or client's) name and the client's resource for the channel."""
    if sender is not None and channel == "email":
        return f"{sender.name} <{sender.email}>"
    resources = (plan.config.get("client") or {}).get("resources") or {}
    name = sender.name if sender is not None else plan.client.replace("-", " ").title()
    where = resources.get(SENDER_RESOURCE.get(channel, ""), "")
    return f"{name} via {where}" if where else name


def _writer_and_reviewer(config: dict[str, Any], ai: bool) -> tuple[Any, Any, list[str]]:
    notes: list[str] = []
    writer_spec = config.get("writer") or {"type": "template"}
    reviewer_spec = config.get("reviewer")
    if ai or writer_spec.get("type") == "template":
        writer = make_writer(writer_spec)
    else:
        writer = TemplateWriter()
        notes.append(f"the campaign's writer is {writer_spec.get('type')}: previewed with the "
                     "template writer (pass --ai to call it)")
    if reviewer_spec is None:
        return writer, make_reviewer(None), notes
    if ai or reviewer_spec.get("type") == "rules":
        return writer, make_reviewer(reviewer_spec), notes
    if reviewer_spec.get("type") == "anthropic":
        notes.append("the campaign's reviewer is anthropic: its rules are checked, the AI "
                     "review is not (pass --ai to run it)")
    return writer, (RulesReviewer(Rules.from_spec(reviewer_spec))
                    if reviewer_spec.get("type") == "anthropic"
                    else make_reviewer(reviewer_spec)), notes


def preview(name: str, config: dict[str, Any], leads: Iterable[Mapping[str, Any]], *,
            steps: Iterable[int] | None = None, ai: bool = False,
            suppressed: frozenset[str] = frozenset(),
            now: dt.datetime | None = None) -> Preview:
    """Write every step (or ``steps``, 0-based) of ``config`` for each lead."""
    plan = plan_for(config)
    writer, reviewer, notes = _writer_and_reviewer(config, ai)
    out = Preview(campaign=name, writer=(config.get("writer") or {}).get("type", "template"),
                  reviewer=(config.get("reviewer") or {}).get("type", "none"), notes=notes)
    wanted = list(steps) if steps is not None else list(range(len(plan.steps)))
    people = [dict(lead) for lead in leads]
    sender = first_sender(plan)
    if not people:
        people = [dict(SAMPLE_LEAD)]
        out.notes.append("no lead given or found: the sample lead test runs use")
    for lead in people:
        who = str(lead.get("email") or lead.get("phone") or "sample")
        for index in wanted:
            if not 0 <= index < len(plan.steps):
                continue
            work = Work(0, 0, lead.get("id"), lead, index, now, sender=sender)
            outcome = precheck(plan, work, suppressed) or write(plan, work, writer, reviewer)
            out.messages.append(_message(plan, who, outcome))
    return out


def _message(plan: RunPlan, who: str, outcome: Outcome) -> PreviewMessage:
    return PreviewMessage(
        lead=who, step=outcome.work.step_index + 1, channel=outcome.channel,
        sender=sender_of(plan, outcome.channel, outcome.work.sender),
        recipient=outcome.recipient,
        subject=outcome.subject, body=outcome.body,
        verdict=VERDICTS.get(outcome.status, outcome.status), reason=outcome.reason)


def render_text(result: Preview) -> str:
    lines = [f"Preview of {result.campaign} (writer {result.writer}, reviewer "
             f"{result.reviewer}); nothing is stored or sent."]
    lines += [f"note: {n}" for n in result.notes]
    for m in result.messages:
        lines += ["", f"── step {m.step} · {m.channel} · to {m.recipient or '-'} · from "
                      f"{m.sender} · {m.verdict}" + (f" ({m.reason})" if m.reason else "")]
        if m.subject:
            lines.append(f"Subject: {m.subject}")
        lines.append(m.body)
    return "\n".join(lines) + "\n"


def render_markdown(result: Preview) -> str:
    lines = [f"#### Preview of `{result.campaign}`", ""]
    lines += [f"> {n}" for n in result.notes]
    for m in result.messages:
        verdict = m.verdict + (f": {m.reason}" if m.reason else "")
        lines += ["", f"**Step {m.step} · {m.channel}** to `{m.recipient or '-'}` from "
                      f"`{m.sender}` — {verdict}", ""]
        text = (f"Subject: {m.subject}\n\n" if m.subject else "") + m.body
        lines += ["```text", text.replace("```", "ˋˋˋ"), "```"]
    return "\n".join(lines) + "\n"
