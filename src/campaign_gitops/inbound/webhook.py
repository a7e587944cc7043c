"""Signed provider events (SMS and voice replies, keywords) arriving on ``/hooks/inbound``.

The body is JSON ``{"channel", "from", "body", "kind"?, "in_reply_to"?, "received_at"?,
"id"?}``, signed ``X-Campaign-Gitops-Signature: sha256=<hex HMAC-SHA256 of the raw
body>`` with the secret in the variable ``inbound.webhook.secretEnv`` names.

- A message whose whole text is a stop keyword (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END,
  QUIT, OPTOUT, REVOKE; any case) suppresses the number on that channel for the client
  (the client of the message it answers, else every client that wrote to the number);
- START / UNSTOP lifts only that channel's STOP suppression, and only one a STOP made
  (never a bounce, a complaint or an unsubscribe link); without one it is only recorded;
- HELP is recorded (``help``);
- anything else is a ``reply`` (or the given ``kind``) and stops the sequence.

An event with an ``id`` is recorded once. This module parses, verifies and names the
keyword (pure); runs/inbound.py ``handle_event`` applies an event.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass

SIGNATURE_HEADER = "X-Campaign-Gitops-Signature"
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT",
                        "REVOKE"})
START_WORDS = frozenset({"START", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})
PHONE_CHANNELS = ("sms", "voice")


class BadEvent(ValueError):
    """The body is not an event this endpoint understands (400, nothing changed)."""


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    return bool(header) and hmac.compare_digest(signature(secret, body).encode(),
                                                (header or "").strip().encode())


def keyword(text: str) -> str | None:
    """``stop``, ``start`` or ``help`` when the whole text is such a keyword, else None."""
    word = text.strip().strip(".!").upper()
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    if word in HELP_WORDS:
        return "help"
    return None


@dataclass(frozen=True, slots=True)
class Event:
    channel: str
    sender: str
    body: str
    kind: str | None = None
    in_reply_to: str | None = None
    received_at: dt.datetime | None = None
    event_id: str | None = None


def parse(body: bytes) -> Event:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadEvent(f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadEvent("the body is not a JSON object")
    channel, sender = data.get("channel"), data.get("from")
    if not isinstance(channel, str) or not isinstance(sender, str) or not sender.strip():
        raise BadEvent('"channel" and "from" are required strings')
    text = data.get("body") or ""
    if not isinstance(text, str):
        raise BadEvent('"body" is a string')
    when = None
    if data.get("received_at"):
        try:
            when = dt.datetime.fromisoformat(str(data["received_at"]).replace("Z", "+00:00"))
        except ValueError:
            raise BadEvent('"received_at" is not an ISO 8601 time') from None
        if when.tzinfo is None:
            raise BadEvent('"received_at" needs a UTC offset')
    kind = data.get("kind")
    event_id = data.get("id")
    return Event(channel=channel, sender=sender, body=text,
                 kind=str(kind) if kind else None,
                 in_reply_to=str(data["in_reply_to"]) if data.get("in_reply_to") else None,
                 received_at=when, event_id=str(event_id) if event_id else None)
