"""The audiences the forecast reads from the pool (``runs.forecasting`` uses them).

The audience a run would take: the leads ``allocate`` would pick, best first, in the
order their enrollments get ids, as groups of alike leads (``Cohort``: a timezone and
the contacts the steps look at). Runs of the same plan that share a client and a segment
take consecutive slices of the same best-first list, as apply would allocate them one
after the other. Up to ``EXACT_LEADS`` per (client, segment) the leads are read one by
one; past it in bands of enrichment confidence, in one pass over the pool.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Column,
    Integer,
    and_,
    case,
    cast,
    func,
    literal_column,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import ColumnClause

from campaign_gitops.reconcile.forecast_model import ALL_CONTACTS, CONTACTS, Cohort
from campaign_gitops.runs.allocation import BEST_FIRST, _filter, count_matching, run_size
from campaign_gitops.state.tables import Lead

leads = Lead.__table__


def _present(column: Any) -> Any:
    return case((func.coalesce(column, "") != "", 1), else_=0)


def contact_columns(table: Any) -> list[Any]:
    mail = or_(func.coalesce(table.c.first_name, "") != "",
               func.coalesce(table.c.last_name, "") != "",
               func.coalesce(table.c.company, "") != "")
    return [table.c.timezone, _present(table.c.email), _present(table.c.phone),
            _present(table.c.linkedin_url), case((mail, 1), else_=0)]


@lru_cache(maxsize=64)  # 16 combinations: one set each, shared by the cohorts
def contacts_of(email: int, phone: int, linkedin: int, mail: int) -> frozenset[str]:
    have = (("email", email), ("phone", phone), ("linkedin_url", linkedin), ("mail", mail))
    return frozenset(name for name, flag in have if flag)


def runs_of_alike(rows: Iterable[tuple[Any, ...]]) -> list[Cohort]:
    """Consecutive rows (timezone, contact flags...) -> cohorts (run-length)."""
    cohorts: list[Cohort] = []
    last: tuple[Any, ...] | None = None
    count = 0
    for row in rows:
        key = tuple(row)
        if key == last:
            count += 1
            continue
        if last is not None:
            cohorts.append(Cohort(count, last[0] or None, contacts_of(*last[1:5])))
        last, count = key, 1
    if last is not None:
        cohorts.append(Cohort(count, last[0] or None, contacts_of(*last[1:5])))
    return cohorts


# Up to this many leads per (client, segment) the forecast follows them one by one, in
# allocation order; past it, in bands of enrichment confidence (1/BANDS wide: each band's
# mix of contacts and timezones kept, the order inside a band not).
EXACT_LEADS = 50_000
BANDS = 1000


@dataclass
class Pool:
    """The pool as a plan's runs would take it, one after the other."""

    session: Session
    matching: dict[tuple[str, str], int] = field(default_factory=dict)

    def audiences(self, configs: list[dict[str, Any]]) -> list[list[Cohort]]:
        """The leads each run of ``configs`` would be allocated now, in order (a run
        after the runs before it with the same client and segment), as cohorts."""
        keyed: dict[tuple[str, str], list[tuple[int, int]]] = {}
        for index, config in enumerate(configs):
            client = config["campaign"]["client"]
            segment = config.get("segment")
            key = (client, json.dumps(segment, sort_keys=True, default=str))

            def matching(key: tuple[str, str] = key, segment: Any = segment,
                         client: str = client) -> int:
                if key not in self.matching:
                    self.matching[key] = count_matching(self.session, segment, client)
                return self.matching[key]

            keyed.setdefault(key, []).append((index, run_size(self.session, config, matching)))
        out: list[list[Cohort]] = [[] for _ in configs]
        large = [(key, sum(w for _, w in wants)) for key, wants in keyed.items()
                 if sum(w for _, w in wants) > EXACT_LEADS]
        blocks = self._blocks(large, read_contacts(configs)) if large else {}
        for key, wants in keyed.items():
            client, segment_json = key
            total = sum(w for _, w in wants)
            if total <= 0:
                continue
            groups = (blocks.get(key, []) if total > EXACT_LEADS
                      else self._exact(json.loads(segment_json), client, total))
            for (index, wanted), part in zip(wants, _slices(groups, [w for _, w in wants]),
                                             strict=True):
                out[index] = part if wanted > 0 else []
        return out

    def _exact(self, segment: Any, client: str, total: int) -> list[Cohort]:
        query = (select(*contact_columns(leads)).where(*_filter(self.session, segment, client))
                 .order_by(*BEST_FIRST).limit(total))
        return runs_of_alike(self.session.execute(query))

    def _blocks(self, wanted: list[tuple[tuple[str, str], int]],
                read: frozenset[str] = ALL_CONTACTS) -> dict[tuple[str, str], list[Cohort]]:
        """The audiences of large (client, segment) keys in one pass over the pool, no
        sort: each lead goes to the first key (in plan order) whose filter it matches,
        grouped by band of ``enrichment_confidence`` (``BANDS`` of them, best first) and
        alike contacts (those in ``read``: the others change no step); a key takes bands
        from the best down to its total. (Keys whose segments overlap: a shared lead
        counts for the first one only.)"""
        parts = [_filter(self.session, json.loads(seg), client) for (client, seg), _ in wanted]
        common = _common(parts)  # once in WHERE, not in every WHEN
        own = [[c for c in part if not _among(c, common)] for part in parts]
        label = case(*((and_(true(), *conditions), i) for i, conditions in enumerate(own)))
        # the band is floor(confidence * BANDS) on both backends: SQLite's CAST truncates,
        # PostgreSQL's rounds (which made a half band at each end and other slices)
        scaled = leads.c.enrichment_confidence * BANDS
        if self.session.get_bind().dialect.name == "postgresql":
            scaled = func.floor(scaled)
        # one integer per (key, band, contacts) and the timezone: a narrow sort key
        band_contacts = (func.coalesce(cast(scaled, Integer), -1) + 1) * 16
        _tz, *flags = contact_columns(leads)
        for bit, (name, flag) in zip((8, 4, 2, 1), zip(CONTACTS, flags, strict=True),
                                     strict=True):
            if name in read:
                band_contacts = band_contacts + flag * bit
        width = (BANDS + 2) * 16
        columns = _few_valued([c for conditions in own for c in conditions])
        if columns is None:  # the keys' conditions are evaluated lead by lead
            inner = select((label * width + band_contacts).label("packed"),
                           leads.c.timezone.label("tz")).where(*common).subquery("p")
            count: Any = func.count()
        else:  # on each group of leads alike in what they read (PostgreSQL: half the time)
            band_contacts = band_contacts.label("band_contacts")
            alike = (select(*columns, band_contacts, leads.c.timezone.label("tz"),
                            func.count().label("n"))
                     .where(*common)
                     .group_by(literal_column("band_contacts"), leads.c.timezone, *columns)
                     .subquery("g"))
            on_groups = visitors.replacement_traverse(  # (its callback's parameters by name)
                label, {}, lambda element, **_kw: (alike.c[element.name]
                                                   if _is_lead_column(element) else None))
            inner = select((on_groups * width + alike.c.band_contacts).label("packed"),
                           alike.c.tz, alike.c.n).subquery("p")
            count = func.sum(inner.c.n)
        # no WHERE on the key: SQLite would evaluate the CASE twice; the leads of no key
        # (packed NULL) form a group skipped here
        query = select(inner.c.packed, inner.c.tz, count).group_by(inner.c.packed, inner.c.tz)
        groups = []
        for value, tz, n in self.session.execute(query).all():
            if value is None:
                continue
            rest, bits = divmod(int(value), 16)
            k, band_plus = divmod(rest, BANDS + 2)
            groups.append((k, -band_plus, tz or "", bits, tz, int(n)))
        groups.sort(key=lambda g: g[:4])  # key, best band first, timezone, contacts
        out: dict[tuple[str, str], list[Cohort]] = {key: [] for key, _ in wanted}
        left = [total for _, total in wanted]
        for index, _band, _order, bits, tz, n in groups:
            take = min(n, left[index])
            if take > 0:
                left[index] -= take
                out[wanted[index][0]].append(Cohort(take, tz or None, contacts_of(
                    bits >> 3 & 1, bits >> 2 & 1, bits >> 1 & 1, bits & 1)))
        return out


# Columns with few distinct values: when the segments' own conditions read only these, the
# pool is grouped by them (and band, contacts, timezone) before the conditions are
# evaluated, once per group instead of once per lead. A condition on another column (a
# title, a suppression, technologies) is evaluated lead by lead.
FEW_VALUES = frozenset({"client", "email_status", "company_industry", "company_country",
                        "seniority"})


def _is_lead_column(element: Any) -> bool:
    return isinstance(element, Column) and element.table is leads


def _few_valued(conditions: list[Any]) -> list[Any] | None:
    """The lead columns ``conditions`` read, when all of them have few values (None: some
    condition reads another column or table)."""
    found: dict[str, Any] = {}
    for condition in conditions:
        for element in visitors.iterate(condition):
            if isinstance(element, ColumnClause):
                if not _is_lead_column(element) or element.name not in FEW_VALUES:
                    return None
                found[element.name] = element
    return [found[name] for name in sorted(found)]


def _among(clause: Any, clauses: list[Any]) -> bool:
    return any(clause.compare(other) for other in clauses)


def _common(parts: list[list[Any]]) -> list[Any]:
    """The conditions every one of ``parts`` has (e.g. the pool's free, verified leads)."""
    return [c for c in parts[0] if all(_among(c, part) for part in parts[1:])] \
        if parts else []


def read_contacts(configs: Iterable[dict[str, Any]]) -> frozenset[str]:
    """The contacts any step of ``configs`` looks at (its recipient, its skip rules):
    whether a lead has another one changes nothing in the forecast."""
    from campaign_gitops.runs.sequences import RECIPIENT_FIELD, SKIP_RULES

    found: set[str] = set()
    for config in configs:
        for step in config.get("steps") or ():
            found.add(RECIPIENT_FIELD.get(str(step.get("channel"))) or "mail")
            rules = step.get("skipIf") or ()
            for rule in [rules] if isinstance(rules, str) else rules:
                found.add(SKIP_RULES.get(rule, rule))
    return frozenset(c if c in CONTACTS else "mail" for c in found)


def _slices(groups: list[Cohort], sizes: list[int]) -> list[list[Cohort]]:
    """Cut the cohorts, in order, into consecutive parts of ``sizes`` leads (a cohort
    across a boundary is split; fewer leads than asked: the last parts get less)."""
    parts: list[list[Cohort]] = []
    queue = list(reversed(groups))
    for size in sizes:
        part: list[Cohort] = []
        while size > 0 and queue:
            cohort = queue.pop()
            if cohort.count > size:
                queue.append(Cohort(cohort.count - size, cohort.timezone, cohort.contacts))
                cohort = Cohort(size, cohort.timezone, cohort.contacts)
            part.append(cohort)
            size -= cohort.count
        parts.append(part)
    return parts
