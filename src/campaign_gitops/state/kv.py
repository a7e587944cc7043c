"""The small operational facts kept in the ``kv`` table: their keys, one reader, one writer.

``halt:global`` is ``{"halted": bool, "reason": str | None, "at": iso}`` (set by
``halt``/``resume``); ``reconcile:last`` is what the daemon's last pass did (read by
``status``'s callers and the web header); ``ui-session:<token fingerprint>:<hash>`` is one
login session of the web UI (``web/sessions.py``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from campaign_gitops.state.tables import KeyValue

HALT_GLOBAL = "halt:global"
RECONCILE_LAST = "reconcile:last"
UI_SESSION_PREFIX = "ui-session:"


def read(session: Session, key: str) -> dict[str, Any] | None:
    row = session.get(KeyValue, key)
    return dict(row.value or {}) if row is not None else None


def write(session: Session, key: str, value: dict[str, Any], at: dt.datetime) -> None:
    """Insert or replace ``key`` in the caller's transaction."""
    row = session.get(KeyValue, key)
    if row is None:
        session.add(KeyValue(key=key, value=value, updated_at=at))
    else:
        row.value = value
        row.updated_at = at


def global_halt(session: Session) -> dict[str, Any] | None:
    """The global halt (with its reason) when delivery is halted, else None."""
    value = read(session, HALT_GLOBAL)
    return value if value is not None and value.get("halted", True) else None
