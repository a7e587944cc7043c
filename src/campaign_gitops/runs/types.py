"""The values passed between tick, writers, reviewers and transports.

tick builds a MessageContext for each due (enrollment, step); a Writer turns it into a
WrittenMessage; a Reviewer decides; tick records an OutboundMessage (the one typed
message from composition to delivery: its row, its unsubscribe link, its sender and
thread); delivery hands each to a Transport as an OutgoingMessage. Each failure is one
exception type carrying a reason in words.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass(frozen=True, slots=True)
class MessageContext:
    """Everything needed to write one message of one step for one recipient."""

    client: str
    campaign: str
    run: str
    step_index: int
    step: dict[str, Any]  # canonical Step: channel, delayDays, template, purpose, ...
    channel: str
    lead: dict[str, Any]  # first_name, last_name, title, company, email, phone, ...
    template: dict[str, Any] | None  # canonical Template spec, or None
    goal: dict[str, Any] | None
    writer: dict[str, Any]  # canonical Writer spec
    client_spec: dict[str, Any] = field(default_factory=dict)
    sender_name: str = ""
    unsubscribe_url: str = ""
    sender_email: str = ""


@dataclass(frozen=True, slots=True)
class WrittenMessage:
    subject: str | None
    body: str


@dataclass(frozen=True, slots=True)
class Decision:
    status: Literal["approved", "rejected", "pending_review"]
    reason: str = ""


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    idempotency_key: str  # stable per (enrollment, step): the transport dedupes on it
    channel: str
    recipient: str
    subject: str | None
    body: str
    client: str
    campaign: str
    headers: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The JSON form of a message (outbox lines, webhook bodies)."""
        return {
            "id": self.idempotency_key,
            "channel": self.channel,
            "recipient": self.recipient,
            "subject": self.subject,
            "body": self.body,
            "client": self.client,
            "campaign": self.campaign,
            "headers": dict(self.headers),
            "metadata": dict(self.metadata),
        }


@dataclass(frozen=True, slots=True)
class Envelope:
    """Who an email comes from and which thread it continues (SPEC 9).

    Empty (no ``sender``): the transport's ``fromAddress``, as before senders existed.
    """

    sender: str | None = None  # the sender's address
    sender_name: str = ""
    reply_to: str | None = None
    in_reply_to: str | None = None  # the Message-ID of the lead's previous email
    references: tuple[str, ...] = ()
    transport: str | None = None  # a named transport of campaign-gitops.yaml
    dkim: dict[str, Any] | None = None  # the sender's own dkim settings (canonical)

    def headers(self) -> dict[str, str]:
        """The email headers this envelope sets (none without a sender or thread)."""
        out: dict[str, str] = {}
        if self.sender:
            from email.utils import formataddr

            out["From"] = formataddr((self.sender_name, self.sender))
        if self.reply_to:
            out["Reply-To"] = self.reply_to
        if self.in_reply_to:
            out["In-Reply-To"] = self.in_reply_to
        if self.references:
            out["References"] = " ".join(self.references)
        return out


NO_ENVELOPE = Envelope()


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One message from composition to delivery: its ``messages`` row (``row()``) and
    what delivery needs beside it. ``message_id`` is 0 until the row is inserted."""

    run_id: int
    campaign_id: int
    campaign: str
    client: str
    enrollment_id: int | None
    lead_id: int | None
    step_index: int
    channel: str
    recipient: str
    subject: str | None
    body: str
    status: str
    status_reason: str | None
    idempotency_key: str
    created_at: dt.datetime
    attempts: int = 0
    next_attempt_at: dt.datetime | None = None
    is_test: bool = False
    unsubscribe_url: str = ""
    envelope: Envelope = NO_ENVELOPE
    replaces: int | None = None  # the row of an earlier temporary write failure, rewritten
    message_id: int = 0

    def row(self) -> dict[str, Any]:
        """The ``messages`` columns of a new row."""
        return {
            "enrollment_id": self.enrollment_id, "run_id": self.run_id,
            "campaign_id": self.campaign_id, "client": self.client, "lead_id": self.lead_id,
            "step_index": self.step_index, "channel": self.channel,
            "recipient": self.recipient[:320], "subject": self.subject, "body": self.body,
            "status": self.status, "status_reason": self.status_reason,
            "idempotency_key": self.idempotency_key, "attempts": self.attempts,
            "scheduled_for": self.created_at, "created_at": self.created_at,
            "updated_at": self.created_at, "transport": None, "transport_message_id": None,
            "next_attempt_at": self.next_attempt_at, "sent_at": None,
            "sender": self.envelope.sender,
        }

    def outgoing(self, recipient: str, key: str,
                 headers: dict[str, str] | None = None) -> OutgoingMessage:
        """What a transport receives for ``recipient`` (a test run's may be several)."""
        metadata: dict[str, Any] = {"unsubscribe_url": self.unsubscribe_url,
                                    "run_id": self.run_id, "message_id": self.message_id}
        if self.envelope.dkim:
            metadata["dkim"] = dict(self.envelope.dkim)
        return OutgoingMessage(idempotency_key=key, channel=self.channel, recipient=recipient,
                               subject=self.subject, body=self.body, client=self.client,
                               campaign=self.campaign, metadata=metadata,
                               headers={**self.envelope.headers(), **(headers or {})})


class WriteError(Exception):
    """The message cannot be written (e.g. a placeholder without value or fallback).

    ``temporary`` failures (an AI API outage or timeout after the SDK's retries) are
    retried by tick with the delivery backoff; the others fail the step for good.
    """

    def __init__(self, reason: str, *, temporary: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.temporary = temporary


class DeliveryError(Exception):
    """Delivery failed; ``permanent`` failures are not retried.

    ``bounce`` says the server refused the recipient itself (SMTP RCPT): ``hard`` (5xx,
    the contact is suppressed) or ``soft`` (4xx, recorded, retried); None otherwise.
    ``ambiguous``: the failure came after the message was handed over (a timeout or a
    dropped connection after SMTP DATA or an HTTP request body), so the server may have
    accepted it: the message becomes ``unknown`` and is never retried by itself.
    """

    def __init__(self, reason: str, *, permanent: bool = False,
                 bounce: str | None = None, ambiguous: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.bounce = bounce
        self.ambiguous = ambiguous


class Writer(Protocol):
    def write(self, ctx: MessageContext) -> WrittenMessage: ...


class Reviewer(Protocol):
    def review(self, message: WrittenMessage, ctx: MessageContext) -> Decision: ...


class Transport(Protocol):
    name: str

    def send(self, message: OutgoingMessage) -> str:
        """Deliver; return the provider's message id. Raise DeliveryError on failure."""
        ...


# A committed ``queued`` message, ready to hand to its transport (``message_id`` set).
Queued = OutboundMessage
