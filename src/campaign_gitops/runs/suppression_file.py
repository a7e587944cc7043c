"""``suppressions import FILE``: a CSV (header ``contact[,client][,channel][,reason]``) or
the JSON that ``suppressions export --format json`` writes (``{"suppressions": [...]}``),
so an export imports back unchanged.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.inbound import suppressions as supp
from campaign_gitops.runs import csvfile
from campaign_gitops.runs.leads import RowError


@dataclass(frozen=True, slots=True)
class Item:
    client: str
    contact: str
    channel: str
    reason: str


def _item(raw: dict[str, Any], client: str | None) -> Item:
    contact = str(raw.get("contact") or raw.get("email") or raw.get("phone") or "").strip()
    if not contact:
        raise ValueError("no contact (email or phone)")
    owner = str(raw.get("client") or client or "").strip()
    if not owner:
        raise ValueError("no client: give a client column or --client")
    if client and owner != client:
        raise ValueError(f"client {owner!r} is not --client {client!r}")
    channel = str(raw.get("channel") or supp.ALL).strip()
    reason = str(raw.get("reason") or "manual").strip()
    if channel not in supp.CHANNELS:
        raise ValueError(f"channel {channel!r} is not one of {', '.join(supp.CHANNELS)}")
    if reason not in supp.REASONS:
        raise ValueError(f"reason {reason!r} is not one of {', '.join(supp.REASONS)}")
    return Item(owner, contact, channel, reason)


def read(path: Path, client: str | None) -> tuple[list[Item], list[RowError]]:
    good: list[Item] = []
    bad: list[RowError] = []
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(csvfile.read_text(path))
        except json.JSONDecodeError as exc:
            raise CampaignGitopsError(f"{path}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}",
                                      hint="give the JSON of 'suppressions export "
                                           "--format json', or a CSV") from None
        rows = data.get("suppressions") if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise CampaignGitopsError(f"{path}: no \"suppressions\" list",
                                      hint='the file looks like {"suppressions": [{...}]}')
        numbered: list[tuple[int, Any]] = list(enumerate(rows, start=1))
    else:
        numbered = list(csvfile.rows(path)[1])
    for number, raw in numbered:
        try:
            if not isinstance(raw, dict):
                raise ValueError("not an object")
            good.append(_item(raw, client))
        except ValueError as exc:
            bad.append(RowError(number, str(exc)))
    return good, bad


def import_file(session: Session, path: Path, *, client: str | None, now: dt.datetime,
                actor: str = "cli") -> tuple[int, int, list[RowError]]:
    """(new, already there, bad rows); nothing is written when a row is bad."""
    items, bad = read(path, client)
    if bad:
        return 0, 0, bad
    new = sum(supp.suppress(session, i.client, i.contact, reason=i.reason, source="import",
                            actor=actor, now=now, channel=i.channel) for i in items)
    return new, len(items) - new, []
