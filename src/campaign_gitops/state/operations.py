"""Operational state outside git, as ``client set`` and ``halt``/``resume`` change it: a
client's subscription and credits, the global halt and a client's halt.

Each change is made in the caller's session and appends to the apply log (so a saved
plan made before it is stale) with the actor ``cli``, at the ``now`` the caller gives.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.state import kv, tables as t
from campaign_gitops.state.queries import client_names

if TYPE_CHECKING:
    from campaign_gitops.config.project import ClientDefaults


def _log(session: Session, action: str, resource: str, detail: dict[str, Any],
         now: dt.datetime) -> None:
    session.add(t.ApplyLog(action=action, resource=resource, detail=detail, actor="cli",
                           at=now))


def _require_known(session: Session, client: str, file_clients: Iterable[str]) -> None:
    """A client row is made only for a client in the database or the files (as ``halt``
    needs one)."""
    known = set(file_clients) | set(client_names(session))
    if client in known:
        return
    names = ", ".join(sorted(known)[:20]) or "none"
    raise CampaignGitopsError(
        f"no client {client!r} in the database or the files",
        f"known clients: {names} (campaign-gitops client list; a new client starts "
        "with a Client file and apply)")


def set_client(session: Session, client: str, *, subscription: str | None,
               credits: int | None, defaults: ClientDefaults,
               file_clients: Callable[[], Iterable[str]], now: dt.datetime
               ) -> dict[str, Any]:
    """Set ``client``'s subscription and/or credits (None: unchanged) and return them.

    A client without a row gets one with ``defaults`` first, when the database or the
    files know it (``file_clients`` is only called then: it reads the files)."""
    row = session.get(t.Client, client)
    if row is None:
        _require_known(session, client, file_clients())
        row = t.Client(name=client, subscription=defaults.subscription,
                       credits=defaults.credits, created_at=now)
        session.add(row)
    before = {"subscription": row.subscription, "credits": row.credits}
    if subscription is not None:
        row.subscription = subscription
    if credits is not None:
        row.credits = credits
    row.updated_at = now
    after = {"subscription": row.subscription, "credits": row.credits}
    _log(session, "client", f"{client}/Client/{client}", {"before": before, "after": after},
         now)
    return after


def set_halt(session: Session, client: str | None, *, halted: bool, reason: str | None,
             now: dt.datetime) -> None:
    """Halt (or resume) all delivery (``client`` None) or one client's; an unknown client
    is an error."""
    action = "halt" if halted else "resume"
    if client is None:
        kv.write(session, kv.HALT_GLOBAL,
                 {"halted": halted, "reason": reason, "at": now.isoformat()}, now)
        _log(session, action, "*", {"reason": reason}, now)
        return
    target = session.get(t.Client, client)
    if target is None:
        raise CampaignGitopsError(f"no client {client!r} in the database",
                                  "campaign-gitops client list shows them")
    target.halted = halted
    target.updated_at = now
    _log(session, action, f"{client}/Client/{client}", {"reason": reason}, now)
