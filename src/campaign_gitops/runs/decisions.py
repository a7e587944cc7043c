"""An operator's word on one message (``review approve|reject``, ``communications
settle``): the message is read locked, and the decision applies only to a message in the
status it expects; the answer is one ``Decided`` per message, in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Row, Select, Table
from sqlalchemy.orm import Session

from campaign_gitops.state.tables import Message

messages = cast(Table, Message.__table__)


@dataclass(frozen=True, slots=True)
class Decided:
    message_id: int
    status: str  # the message's new status, or "unchanged": the reason says why not
    reason: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"id": self.message_id, "status": self.status, "reason": self.reason}


def locked(session: Session, query: Select[*tuple[Any, ...]], message_id: int,
           expected: str) -> Row[*tuple[Any, ...]] | Decided:
    """The row of ``query`` (a select of ``messages.c.status`` and more) for the message,
    locked until the caller commits; or ``unchanged`` when there is no such message or it
    is not ``expected``."""
    row = session.execute(query.where(messages.c.id == message_id)
                          .with_for_update(of=messages)).first()
    if row is None:
        return Decided(message_id, "unchanged", "no such message")
    if row.status != expected:
        return Decided(message_id, "unchanged", f"it is {row.status}, not {expected}")
    return row
