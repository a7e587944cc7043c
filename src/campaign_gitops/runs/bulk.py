"""Bulk writes of tick: many rows per statement, on both backends.

PostgreSQL gets one statement per batch whatever its size: the rows travel as one JSON
parameter expanded by ``json_to_recordset`` (a short statement the driver prepares once,
instead of thousands of bound parameters; JSON encodes at C speed). SQLite uses
``executemany`` (prepared once, run per row inside one transaction: fast there).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, cast

from sqlalchemy import Table, any_, bindparam, insert, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import BigInteger, String

from campaign_gitops.state.tables import Enrollment, Message

messages = cast(Table, Message.__table__)
enrollments = cast(Table, Enrollment.__table__)

# messages columns tick fills, with their PostgreSQL array types
MESSAGE_COLUMNS: dict[str, str] = {
    "enrollment_id": "bigint", "run_id": "bigint", "campaign_id": "bigint", "client": "text",
    "lead_id": "bigint", "step_index": "integer", "channel": "text", "recipient": "text",
    "subject": "text", "body": "text", "status": "text", "status_reason": "text",
    "idempotency_key": "text", "attempts": "integer", "scheduled_for": "timestamptz",
    "created_at": "timestamptz", "updated_at": "timestamptz", "sender": "text",
}
MOVE_COLUMNS: dict[str, str] = {
    "e_id": "bigint", "next_step": "integer", "state": "text", "next_due_at": "timestamptz",
    "updated_at": "timestamptz", "last_step_at": "timestamptz"}
SENT_COLUMNS: dict[str, str] = {"m_id": "bigint", "m_transport": "text", "m_provider": "text"}


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def one_of(session: Session, column: Any, values: list[Any]) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL ``= ANY(array)`` (one parameter, any length)."""
    if is_postgres(session):
        item = String() if values and isinstance(values[0], str) else BigInteger()
        return column == any_(bindparam(None, list(values), type_=ARRAY(item), unique=True))
    return column.in_(list(values))  # type: ignore[no-any-return]


def _json(rows: list[dict[str, Any]], columns: dict[str, str]) -> str:
    """The rows as a JSON array of objects with ``columns`` (timestamps as ISO 8601)."""
    stamps = [name for name, kind in columns.items() if kind == "timestamptz"]
    iso: dict[dt.datetime, str] = {}  # a batch shares few distinct times: format once
    out = []
    for row in rows:
        item = {name: row.get(name) for name in columns}
        for name in stamps:
            value = item[name]
            if value is not None:
                item[name] = iso.get(value) or iso.setdefault(value, value.isoformat())
        out.append(item)
    return json.dumps(out, separators=(",", ":"))


def _recordset(columns: dict[str, str]) -> str:
    return ", ".join(f"{name} {kind}" for name, kind in columns.items())


def insert_messages(session: Session, rows: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """Insert message rows; their (id, idempotency_key)."""
    if not rows:
        return []
    if not is_postgres(session):
        stmt = insert(messages).returning(messages.c.id, messages.c.idempotency_key)
        return [(r[0], r[1]) for r in session.execute(stmt, rows).all()]
    names = ", ".join(MESSAGE_COLUMNS)
    query = text(f"INSERT INTO messages ({names}) SELECT {names} FROM "
                 f"json_to_recordset(CAST(:rows AS json)) AS v({_recordset(MESSAGE_COLUMNS)}) "
                 "RETURNING id, idempotency_key")
    return [(r[0], r[1]) for r in session.execute(query, {"rows": _json(rows, MESSAGE_COLUMNS)})]


def move_enrollments(session: Session, moves: list[dict[str, Any]], worker: str,
                     with_last_step: bool) -> None:
    """Set each enrollment's step, state and due time (and ``last_step_at``), release it.

    Only enrollments still claimed by ``worker`` move.
    """
    if not moves:
        return
    if not is_postgres(session):
        values: dict[str, Any] = {
            "next_step": bindparam("next_step"), "state": bindparam("state"),
            "next_due_at": bindparam("next_due_at"), "updated_at": bindparam("updated_at"),
            "claimed_by": None, "claimed_until": None}
        if with_last_step:
            values["last_step_at"] = bindparam("last_step_at")
        session.execute(update(enrollments).where(
            enrollments.c.id == bindparam("e_id"), enrollments.c.claimed_by == worker)
            .values(**values), moves)
        return
    last = ", last_step_at = v.last_step_at" if with_last_step else ""
    stmt = text(
        "UPDATE enrollments AS e SET next_step = v.next_step, state = v.state, "
        f"next_due_at = v.next_due_at, updated_at = v.updated_at{last}, "
        "claimed_by = NULL, claimed_until = NULL "
        f"FROM json_to_recordset(CAST(:rows AS json)) AS v({_recordset(MOVE_COLUMNS)}) "
        "WHERE e.id = v.e_id AND e.claimed_by = :worker")
    session.execute(stmt, {"rows": _json(moves, MOVE_COLUMNS), "worker": worker})


def mark_sent(session: Session, rows: list[dict[str, Any]], now: dt.datetime) -> None:
    """Record delivered messages: ``m_id``, ``m_transport``, ``m_provider`` per row."""
    if not rows:
        return
    if not is_postgres(session):
        session.execute(
            update(messages).where(messages.c.id == bindparam("m_id")).values(
                status="sent", sent_at=now, updated_at=now, status_reason=None,
                transport=bindparam("m_transport"),
                transport_message_id=bindparam("m_provider"),
                attempts=messages.c.attempts + 1, next_attempt_at=None), rows)
        return
    stmt = text(
        "UPDATE messages AS m SET status = 'sent', sent_at = :now, updated_at = :now, "
        "status_reason = NULL, transport = v.m_transport, "
        "transport_message_id = v.m_provider, attempts = m.attempts + 1, "
        "next_attempt_at = NULL "
        f"FROM json_to_recordset(CAST(:rows AS json)) AS v({_recordset(SENT_COLUMNS)}) "
        "WHERE m.id = v.m_id")
    session.execute(stmt, {"now": now, "rows": _json(rows, SENT_COLUMNS)})
