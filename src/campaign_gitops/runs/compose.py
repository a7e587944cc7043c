"""One due (enrollment, step) becomes an outcome: skipped, written and reviewed, or failed.

No database here: tick hands in the lead, the run's plan, its writer and reviewer and
the client's suppressions, and gets back what to record and whether to deliver.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from campaign_gitops.config.models import Sender
from campaign_gitops.inbound.tokens import Unsubscribe
from campaign_gitops.runs.sequences import RunPlan
from campaign_gitops.runs.types import (
    MessageContext,
    Reviewer,
    WriteError,
    Writer,
)

# SMS and voice say how to opt out (TCPA); a body that already names STOP keeps its words.
OPT_OUT_CHANNELS = ("sms", "voice")
OPT_OUT_LINE = "Reply STOP to opt out"
_MENTIONS_STOP = re.compile(r"\bSTOP\b")

# Outcome statuses: "queued" wants delivery; the rest are final for this step
# (pending_review waits for a human).
DELIVER = "queued"


@dataclass(frozen=True, slots=True)
class Work:
    """A claimed enrollment with its next step due."""

    enrollment_id: int
    run_id: int
    lead_id: int | None
    lead: dict[str, Any]
    step_index: int
    due: dt.datetime | None
    replied: bool = False
    bounced: bool = False
    lead_sender: str | None = None  # the enrollment's sender (its email), if it has one
    sender: Sender | None = None  # the lead's sender for this email step (SPEC 9)


@dataclass(frozen=True, slots=True)
class Outcome:
    work: Work
    channel: str
    recipient: str
    status: str  # queued, skipped, rejected, pending_review, failed
    reason: str | None = None
    subject: str | None = None
    body: str = ""
    temporary: bool = False  # a failed write worth retrying later (WriteError.temporary)

    @property
    def wants_delivery(self) -> bool:
        return self.status == DELIVER


def message_key(work: Work) -> str:
    """A message's idempotency key: one per (enrollment, step)."""
    return f"{work.enrollment_id}:{work.step_index}"


def unsubscribe_url(plan: RunPlan, lead: dict[str, Any], message: str = "") -> str:
    """THE one builder of a message's unsubscribe link.

    With ``publicUrl`` configured (``plan.links``): ``{publicUrl}/u/{token}``, the token
    signed and naming client, contact and message; a test run's token is marked test and
    unsubscribes nobody. Without: the old unsigned link, which nothing serves.
    """
    if plan.links is not None:
        return plan.links.unsubscribe_url(Unsubscribe(
            client=plan.client, contact=str(lead.get("email") or ""), message=message,
            test=plan.is_test))
    domain = ((plan.config.get("client") or {}).get("resources") or {}).get("emailDomain")
    seed = f"{plan.client}:{lead.get('email', '')}" + (":test" if plan.is_test else "")
    token = hashlib.sha256(seed.encode()).hexdigest()[:20]  # a test run's never the lead's
    return f"https://{domain or 'unsubscribe.invalid'}/unsubscribe/{token}"


def context(plan: RunPlan, work: Work, step: dict[str, Any]) -> MessageContext:
    return MessageContext(
        client=plan.client, campaign=plan.campaign, run=plan.run_name,
        step_index=work.step_index, step=step, channel=step["channel"], lead=work.lead,
        template=plan.template_for(step), goal=plan.config.get("goal"),
        writer=plan.config.get("writer") or {"type": "template"},
        client_spec=plan.config.get("client") or {},
        sender_name=work.sender.name if work.sender else plan.client.replace("-", " ").title(),
        sender_email=work.sender.email if work.sender else "",
        unsubscribe_url=unsubscribe_url(plan, work.lead, message_key(work)),
    )


def _stop_reason(plan: RunPlan, step: dict[str, Any], work: Work) -> str | None:
    reason = plan.skip_reason(step, work.lead)
    if reason:
        return reason
    if work.replied and step.get("skipIfReplied", True):
        return "replied"
    if work.bounced and step.get("skipIfBounced", True):
        return "bounced"
    return None


def precheck(plan: RunPlan, work: Work,
             suppressed: frozenset[str] | set[str]) -> Outcome | None:
    """The step's outcome when it is skipped (cheap, nothing written), else None."""
    step = plan.steps[work.step_index]
    channel = step["channel"]
    recipients = plan.recipients(channel, work.lead)
    recipient = ", ".join(recipients)
    reason = _stop_reason(plan, step, work)
    if reason:
        return Outcome(work, channel, recipient, "skipped", reason)
    if not recipients:
        who = "no testRecipients for" if plan.is_test else "the lead has no contact for"
        return Outcome(work, channel, "", "skipped", f"{who} {channel}")
    if any(r.lower() in suppressed for r in recipients):
        return Outcome(work, channel, recipient, "skipped", "suppressed")
    return None


def write(plan: RunPlan, work: Work, writer: Writer, reviewer: Reviewer) -> Outcome:
    """Write and review one step for one lead (after ``precheck`` let it through)."""
    step = plan.steps[work.step_index]
    channel = step["channel"]
    recipient = ", ".join(plan.recipients(channel, work.lead))
    ctx = context(plan, work, step)
    try:
        written = writer.write(ctx)
    except WriteError as exc:
        return Outcome(work, channel, recipient, "failed", f"write failed: {exc}",
                       temporary=exc.temporary)
    if channel in OPT_OUT_CHANNELS and not _MENTIONS_STOP.search(written.body):
        written = dataclasses.replace(written, body=f"{written.body.rstrip()}\n{OPT_OUT_LINE}")
    decision = reviewer.review(written, ctx)
    status = {"approved": DELIVER}.get(decision.status, decision.status)
    return Outcome(work, channel, recipient, status, decision.reason or None,
                   written.subject, written.body)
