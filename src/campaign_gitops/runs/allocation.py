"""Allocation: hand leads from the pool to a client, exclusively, best first.

A Segment's criteria become one SQL filter (industries, countries, employee range,
seniorities, titles as case-insensitive substrings, technologies overlap, email
status), over leads that are in the pool (``client IS NULL``) and not suppressed for
the client, ordered by ``enrichment_confidence`` (best first).

Exclusive: on PostgreSQL the chosen rows are locked with ``FOR NO KEY UPDATE SKIP LOCKED``
and assigned in the same statement, so concurrent allocators never take the same lead; on
SQLite the transaction already holds the write lock (``BEGIN IMMEDIATE`` in state/db.py)
and the update re-checks ``client IS NULL``.

Cost on PostgreSQL: no index covers ``client`` or ``assigned_at`` and the table keeps 20%
of each page free (state/tables.py), so assigning a lead is a heap-only (HOT) update on
its own page when few leads of that page are taken: one lock and one update record, no
index entry. ``leads import`` writes new leads best first (runs/leads.py), so a run's
audience lies on a few pages rather than one page per lead: fewer pages to read and
image in the WAL, at the price of ordinary (non-HOT) updates where a page's free space
runs out. ``ix_leads_best`` also lists leads already held by a client, and the scan
reads past those (a heap visit each, ~2-5 µs) before it reaches free ones.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import (
    ColumnClause,
    ColumnElement,
    Table,
    and_,
    column as sql_column,
    exists,
    func,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from campaign_gitops.state.db import rowcount
from campaign_gitops.state.tables import Lead, Suppression

leads = cast(Table, Lead.__table__)
suppressions = cast(Table, Suppression.__table__)
_UPDATE_CHUNK = 900  # stays under SQLite's bound-parameter limit


def _lower_list(values: Any) -> list[str]:
    return [str(v).strip().lower() for v in values or () if str(v).strip()]


def _technologies_overlap(techs: list[str], dialect: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        elem = func.json_array_elements_text(leads.c.company_technologies).table_valued(
            "value").alias("tech")
    else:
        elem = func.json_each(leads.c.company_technologies).table_valued("value").alias("tech")
    return exists(select(literal_column("1")).select_from(elem)
                  .where(func.lower(elem.c.value).in_(techs)))


def segment_filter(segment: dict[str, Any] | None, client: str, dialect: str, *,
                   with_suppressions: bool = True) -> list[ColumnElement[bool]]:
    """SQL conditions for leads of the pool matching ``segment`` (a canonical Segment spec)."""
    seg = segment or {}
    conds: list[ColumnElement[bool]] = [leads.c.client.is_(None)]
    statuses = _lower_list(seg.get("emailStatus") or ["verified"])
    # stored lower-cased by the import: a plain comparison keeps the pool index usable
    conds.append(leads.c.email_status.in_(statuses))
    for key, column in (("industries", leads.c.company_industry),
                        ("countries", leads.c.company_country),
                        ("seniorities", leads.c.seniority)):
        wanted = _lower_list(seg.get(key))
        if wanted:
            conds.append(func.lower(column).in_(wanted))
    if seg.get("employeeMin") is not None:
        conds.append(leads.c.company_employee_count >= seg["employeeMin"])
    if seg.get("employeeMax") is not None:
        conds.append(leads.c.company_employee_count <= seg["employeeMax"])
    titles = _lower_list(seg.get("titles"))
    if titles:
        conds.append(or_(*(func.lower(leads.c.title).contains(t, autoescape=True)
                           for t in titles)))
    techs = _lower_list(seg.get("technologies"))
    if techs:
        conds.append(_technologies_overlap(techs, dialect))
    if with_suppressions:
        conds.append(~exists().where(and_(
            suppressions.c.client == client,
            or_(suppressions.c.contact == leads.c.email,
                suppressions.c.contact == leads.c.phone))))
    return conds


def has_suppressions(session: Session, client: str) -> bool:
    return session.execute(select(suppressions.c.id).where(
        suppressions.c.client == client).limit(1)).first() is not None


def _filter(session: Session, segment: dict[str, Any] | None,
            client: str) -> list[ColumnElement[bool]]:
    dialect = session.get_bind().dialect.name
    return segment_filter(segment, client, dialect,
                          with_suppressions=has_suppressions(session, client))


# Best first; ties newest first (a backward scan of the ix_leads_best index).
BEST_FIRST = (leads.c.enrichment_confidence.desc(), leads.c.id.desc())


def count_matching(session: Session, segment: dict[str, Any] | None, client: str) -> int:
    query = select(func.count()).select_from(leads).where(*_filter(session, segment, client))
    return int(session.execute(query).scalar_one())


def wanted_count(matching: int, pct: int, limit: int | None) -> int:
    """How many leads a run takes: ``leadAllocationPct`` of the match, capped by ``limit``."""
    count = math.ceil(matching * pct / 100) if matching else 0
    return min(count, limit) if limit is not None else count


def matching_ids(session: Session, segment: dict[str, Any] | None, client: str,
                 count: int) -> list[tuple[int, str | None]]:
    """Up to ``count`` matching pool leads (id, timezone), best first, without taking them."""
    query = (select(leads.c.id, leads.c.timezone).where(*_filter(session, segment, client))
             .order_by(*BEST_FIRST).limit(count))
    return [(r[0], r[1]) for r in session.execute(query)]


@contextmanager
def _ordered_scan(session: Session) -> Iterator[None]:
    """Walk the pool in index order (PostgreSQL) and stop at the limit.

    The planner cannot estimate the segment's filters (lower(), JSON overlap) and falls
    back to sorting the whole pool; the backward scan of ``ix_leads_best`` reads only
    as far as the best ``count`` matches (and skips rows other allocators hold). The
    same misestimate makes the statement look expensive enough for JIT compilation,
    which costs ~10 ms of CPU per allocation and saves nothing on an index walk.
    """
    names = ("enable_seqscan", "enable_sort", "enable_bitmapscan", "jit")
    before = session.execute(text(
        "SELECT " + ", ".join(f"current_setting('{name}')" for name in names))).one()
    _set_local(session, dict.fromkeys(names, "off"))
    try:
        yield
    finally:
        _set_local(session, dict(zip(names, before, strict=True)))


def _set_local(session: Session, values: dict[str, str]) -> None:
    """Transaction-local settings, in one round trip."""
    params = {f"v{i}": value for i, value in enumerate(values.values())}
    calls = ", ".join(f"set_config('{name}', :v{i}, true)" for i, name in enumerate(values))
    session.execute(text(f"SELECT {calls}"), params)


def allocate(session: Session, segment: dict[str, Any] | None, client: str, count: int,
             *, now: dt.datetime) -> list[tuple[int, str | None]]:
    """Assign up to ``count`` matching pool leads to ``client``.

    Returns ``(id, timezone)`` of each lead taken, best first.
    """
    if count <= 0:
        return []
    conds = _filter(session, segment, client)
    if session.get_bind().dialect.name == "postgresql":
        return _allocate_pg(session, conds, client, count, now)
    chosen = select(leads.c.id, leads.c.timezone).where(*conds).order_by(*BEST_FIRST).limit(count)
    rows = [(r[0], r[1]) for r in session.execute(chosen)]
    taken: list[tuple[int, str | None]] = []
    for start in range(0, len(rows), _UPDATE_CHUNK):
        chunk = rows[start:start + _UPDATE_CHUNK]
        ids = [r[0] for r in chunk]
        result = session.execute(
            update(leads).where(leads.c.id.in_(ids), leads.c.client.is_(None))
            .values(client=client, assigned_at=now, updated_at=now))
        if rowcount(result) == len(chunk):
            taken.extend(chunk)
        else:  # someone else took some: keep only ours
            mine = set(session.execute(select(leads.c.id).where(
                leads.c.id.in_(ids), leads.c.client == client,
                leads.c.assigned_at == now)).scalars())
            taken.extend(r for r in chunk if r[0] in mine)
    return taken


# the system column, bound to the table (so the UPDATE ... FROM reads as a join)
_CTID: ColumnClause[str] = sql_column("ctid", _selectable=leads)


def _take_pg(session: Session, conds: list[ColumnElement[bool]], client: str, count: int,
             now: dt.datetime) -> tuple[int, list[Any]]:
    """One statement: lock up to ``count`` matches (``SKIP LOCKED``) and assign them.

    The lock is ``FOR NO KEY UPDATE``: it excludes other allocators (and any update of
    the row) but not the ``FOR KEY SHARE`` lock a foreign-key check takes. A test run
    enrolling a sample of free leads, or a message inserted for a lead, holds that lock
    on the lead until it commits; ``FOR UPDATE`` would have skipped such leads, and a run
    starting at that moment found "no matching leads". The update finds each locked row
    by its ``ctid`` (no primary-key descent per lead).
    Returns how many rows were locked and the rows assigned (id, timezone, confidence).
    """
    picked = (select(_CTID.label("tid")).where(*conds).order_by(*BEST_FIRST).limit(count)
              .with_for_update(skip_locked=True, key_share=True).cte("picked"))
    done = (update(leads).where(picked.c.tid == _CTID)
            .values(client=client, assigned_at=now, updated_at=now)
            .returning(leads.c.id, leads.c.timezone, leads.c.enrichment_confidence)
            .cte("done"))
    locked = select(func.count().label("n")).select_from(picked).subquery("locked")
    stmt = (select(locked.c.n, done.c.id, done.c.timezone, done.c.enrichment_confidence)
            .select_from(locked.outerjoin(done, literal_column("true"))))
    rows = session.execute(stmt).all()
    return int(rows[0][0]), [r[1:] for r in rows if r[1] is not None]


def _allocate_pg(session: Session, conds: list[ColumnElement[bool]], client: str,
                 count: int, now: dt.datetime) -> list[tuple[int, str | None]]:
    """Assign up to ``count`` leads on PostgreSQL, best first.

    A row another transaction changed after this statement's snapshot (a concurrent
    re-import, say) is locked in its newest version, whose ``ctid`` the statement's
    snapshot does not see: it stays unassigned (and locked by us), so the remainder is
    taken by another statement with a fresh snapshot. Nothing is ever assigned twice.
    """
    rows: list[Any] = []
    with _ordered_scan(session):
        while len(rows) < count:
            want = count - len(rows)
            locked, got = _take_pg(session, conds, client, want, now)
            rows.extend(got)
            if locked < want or not got:  # the pool has no more (or nothing moves)
                break
    rows.sort(key=lambda r: (-r[2], -r[0]))
    return [(r[0], r[1]) for r in rows]


def allocate_for_run(session: Session, config: dict[str, Any], *,
                     now: dt.datetime) -> list[tuple[int, str | None]]:
    """The leads (id, timezone) a run of the resolved campaign ``config`` takes from the pool."""
    count = run_size(session, config)
    return allocate(session, config.get("segment"), config["campaign"]["client"], count,
                    now=now)


def run_size(session: Session, config: dict[str, Any],
             matching: Any = None) -> int:
    """How many leads a run of ``config`` asks the pool for: the segment's ``limit``, or
    ``leadAllocationPct`` of the matching leads (capped by the limit). ``matching``: a
    callable giving the match count when the caller caches it (the forecast)."""
    client = config["campaign"]["client"]
    spec = config["campaign"]["spec"]
    segment = config.get("segment")
    pct = int(spec.get("leadAllocationPct") or 100)
    limit = (segment or {}).get("limit")
    count_of = matching or (lambda: count_matching(session, segment, client))
    if pct >= 100:
        return int(limit) if limit is not None else int(count_of())
    return wanted_count(int(count_of()), pct, limit)


def release_leads(session: Session, run_ids: list[int], *, now: dt.datetime) -> int:
    """Hand the leads of finished runs back to the pool; how many went back.

    Kept by their client: converted leads (forever), leads that replied, and leads
    still walking another run. Test runs never took any. Set-based: three reads and
    one update, whatever the number of leads.
    """
    if not run_ids:
        return 0
    from campaign_gitops.runs.bulk import one_of
    from campaign_gitops.state.tables import CampaignRun, Enrollment, Reply

    enrollments, runs, replies = (Enrollment.__table__, CampaignRun.__table__,
                                  Reply.__table__)
    walked = set(session.execute(
        select(enrollments.c.lead_id).join(runs, runs.c.id == enrollments.c.run_id).where(
            enrollments.c.run_id.in_(run_ids), runs.c.type != "test_run",
            enrollments.c.lead_id.is_not(None))).scalars())
    if not walked:
        return 0
    ids = sorted(walked)
    keep = set(session.execute(select(enrollments.c.lead_id).where(
        enrollments.c.state == "active", one_of(session, enrollments.c.lead_id, ids))).scalars())
    keep.update(session.execute(select(replies.c.lead_id).where(
        replies.c.kind == "reply", one_of(session, replies.c.lead_id, ids))).scalars())
    free = sorted(walked - keep)
    released = 0
    for start in range(0, len(free), _UPDATE_CHUNK):
        chunk = free[start:start + _UPDATE_CHUNK]
        result = session.execute(update(leads).where(
            one_of(session, leads.c.id, chunk), leads.c.client.is_not(None),
            leads.c.converted.is_(False)).values(client=None, assigned_at=None, updated_at=now))
        released += rowcount(result)
    return released
