"""Prompts and tool schemas for writing and reviewing one outreach message.

Pure text building on plain dicts (the runs layer passes the lead's fields, the Goal,
the step and the template frame); no SDK calls here. The anthropic writer and reviewer
in ``runs/`` send these through ``ai.client.call_tool``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# Lead fields worth giving the model; contact details (email, phone) are left out.
LEAD_CONTEXT_FIELDS = (
    "first_name", "last_name", "title", "seniority", "company", "company_industry",
    "company_country", "company_employee_count", "company_technologies",
)

CHANNEL_GUIDANCE = {
    "email": "An email: a short subject line and a plain-text body of 50-150 words.",
    "sms": "An SMS: one or two sentences, at most 300 characters, no links unless given.",
    "linkedin": "A LinkedIn connection note: at most 280 characters, friendly, no links.",
    "voice": "A voice call script or voicemail: about 30 seconds spoken, natural sentences.",
    "mail": "A short printed letter: plain text, three short paragraphs at most.",
}

WRITE_TOOL = "write_message"
REVIEW_TOOL = "record_review"

WRITER_SYSTEM = (
    "You write one outreach message of a multi-step sequence for a B2B sales team. "
    "Write to the person, specific to their role and company, honest and concise. "
    "Never invent facts about the recipient or their company beyond what is given, "
    "never promise results, and never include placeholders like {{...}} or [brackets] "
    "in your text. Answer only by calling the tool."
)

REVIEWER_SYSTEM = (
    "You review one outreach message before it is sent, for a B2B sales team. Reject it "
    "when it is misleading, pushy or spammy, makes promises or claims it cannot back, "
    "is inappropriate for the channel, addresses the wrong person, contains leftover "
    "placeholders or template syntax, or breaks the team's instructions. Otherwise "
    "approve it. Give a one-sentence reason either way. Answer only by calling the tool."
)


def lead_context(lead: Mapping[str, Any]) -> dict[str, Any]:
    """The lead's fields the model may use, without empty ones."""
    return {key: lead[key] for key in LEAD_CONTEXT_FIELDS if lead.get(key) not in (None, "", [])}


def writer_system(instructions: str | None) -> str:
    if not instructions:
        return WRITER_SYSTEM
    return f"{WRITER_SYSTEM}\n\nThe team's instructions for this writer:\n{instructions.strip()}"


def write_fields(*, channel: str, frame: Mapping[str, str] | None,
                 smart_body: bool, smart_subject: bool) -> dict[str, str]:
    """What the model must produce: tool property -> what it is, in words.

    With a template ``frame``, only the ``{{SMART_PROMPT}}`` / ``{{SMART_PROMPT_SUBJECT}}``
    parts it contains; without one, the whole message (a subject too for email).
    """
    if frame is None:
        fields = {"body": "The whole message body, ready to send."}
        if channel == "email":
            fields = {"subject": "The subject line, at most 80 characters.", **fields}
        return fields
    fields = {}
    if smart_subject:
        fields["smart_prompt_subject"] = (
            "The text that replaces {{SMART_PROMPT_SUBJECT}} in the subject line.")
    if smart_body:
        fields["smart_prompt"] = "The text that replaces {{SMART_PROMPT}} in the body."
    return fields


def write_tool_schema(fields: Mapping[str, str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: {"type": "string", "description": description}
                       for name, description in fields.items()},
        "required": list(fields),
        "additionalProperties": False,
    }


def writer_prompt(*, channel: str, purpose: str, step_number: int,
                  lead: Mapping[str, Any], goal: Mapping[str, Any] | None,
                  sender_name: str, frame: Mapping[str, str] | None,
                  fields: Mapping[str, str]) -> str:
    """The user turn asking for one message (or its smart parts)."""
    parts = [
        f"Channel: {channel}. {CHANNEL_GUIDANCE.get(channel, '')}".rstrip(),
        f"Step {step_number} of the sequence; its purpose: {purpose}.",
    ]
    if goal:
        goal_text = goal.get("description") or ""
        parts.append(f"Campaign goal ({goal.get('outcome', 'reply')}): {goal_text}".rstrip(": "))
    if sender_name:
        parts.append(f"Sender: {sender_name}.")
    parts.append("Recipient:\n" + json.dumps(lead_context(lead), indent=2, ensure_ascii=False))
    if frame is not None:
        frame_text = "\n".join(f"<{key}>\n{value}\n</{key}>" for key, value in frame.items()
                               if value)
        parts.append("The message is already written around the SMART_PROMPT placeholders; "
                     "write only the parts asked for, so that they read naturally in place "
                     "(no greeting, sign-off or unsubscribe line of your own):\n" + frame_text)
    elif channel == "email":
        parts.append("An unsubscribe line is added below your body; do not write one.")
    parts.append("Produce: " + "; ".join(f"{name} ({what})" for name, what in fields.items()))
    return "\n\n".join(parts)


def reviewer_system(instructions: str | None) -> str:
    if not instructions:
        return REVIEWER_SYSTEM
    return f"{REVIEWER_SYSTEM}\n\nThe team's review instructions:\n{instructions.strip()}"


REVIEW_TOOL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "decision": {"type": "string", "enum": ["approve", "reject"]},
        "reason": {"type": "string", "description": "One sentence: why."},
    },
    "required": ["decision", "reason"],
    "additionalProperties": False,
}


def reviewer_prompt(*, channel: str, purpose: str, lead: Mapping[str, Any],
                    goal: Mapping[str, Any] | None, subject: str | None, body: str) -> str:
    """The user turn asking for a verdict on one written message."""
    parts = [f"Channel: {channel}; sequence step purpose: {purpose}."]
    if goal:
        parts.append(f"Campaign goal ({goal.get('outcome', 'reply')}): "
                     f"{goal.get('description') or ''}".rstrip(": "))
    parts.append("Recipient:\n" + json.dumps(lead_context(lead), indent=2, ensure_ascii=False))
    message = (f"Subject: {subject}\n\n{body}" if subject else body)
    parts.append(f"The message:\n<message>\n{message}\n</message>")
    return "\n\n".join(parts)
