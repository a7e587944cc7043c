"""The values passed between tick, writers, reviewers and transports.

tick builds a MessageContext for each due (enrollment, step); a Writer turns it into a
WrittenMessage; a Reviewer decides; a Transport delivers an OutgoingMessage. Each
failure is one exception type carrying a reason in words.
"""

from __future__ import annotations

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
