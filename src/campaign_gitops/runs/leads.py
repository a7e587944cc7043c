"""The lead pool: CSV import with per-row validation, upsert by email, in batches.

Columns (header row, any order; only ``email`` is required):
email, phone, linkedin_url, first_name, last_name, title, seniority, company,
company_industry, company_country, company_employee_count, company_technologies
(``;``-separated), email_status, enrichment_confidence (0–1), timezone (IANA).

A bad row is reported with its line number and reason; by default nothing is imported
when any row is bad (``skip_invalid`` imports the good rows). Re-importing a lead
updates it by email (case-insensitive) and never duplicates it; who it is allocated to
and whether it converted are kept.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.inbound.suppressions import normalize_phone
from campaign_gitops.runs import csvfile
from campaign_gitops.runs.calendar import zone
from campaign_gitops.state.tables import Lead

COLUMNS = ("email", "phone", "linkedin_url", "first_name", "last_name", "title", "seniority",
           "company", "company_industry", "company_country", "company_employee_count",
           "company_technologies", "email_status", "enrichment_confidence", "timezone")
# Common values; any single word is accepted (providers differ: "likely", "guessed", ...).
EMAIL_STATUSES = ("verified", "likely", "unverified", "unknown", "catch_all", "risky", "invalid")
_STATUS = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9]{6,15}$")
_BATCH = 2000
_UPDATED = [c for c in COLUMNS if c != "email"] + ["updated_at"]


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class ImportReport:
    rows: int
    imported: int
    errors: tuple[RowError, ...] = field(default_factory=tuple)

    def as_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "imported": self.imported,
                "errors": [{"line": e.line, "reason": e.reason} for e in self.errors]}


def _text(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


INT_MAX = 2**31 - 1  # an INTEGER column on PostgreSQL (SQLite would take more)


class PercentLike(ValueError):
    """enrichment_confidence between 1 and 100: a percentage, reported once per file."""

    def __init__(self, value: str) -> None:
        super().__init__(f"enrichment_confidence {value!r} is not between 0 and 1")
        self.value = value


def _lengths() -> dict[str, int]:
    """Column -> the most characters the ``leads`` table stores (String(n))."""
    out: dict[str, int] = {}
    for name in COLUMNS:
        length = getattr(Lead.__table__.c[name].type, "length", None)
        if isinstance(length, int):
            out[name] = length
    return out


_LENGTHS = _lengths()


def _storable(raw: dict[str, str | None]) -> None:
    """What the database would refuse, checked first (the same on SQLite and PostgreSQL):
    a NUL character, a value longer than its column."""
    for name, value in raw.items():
        if value is None:
            continue
        if "\x00" in value:
            raise ValueError(f"{name} contains a NUL character (byte 0): remove it")
        limit = _LENGTHS.get(name or "")
        if limit is not None and len(value.strip()) > limit:
            raise ValueError(f"{name} is {len(value.strip())} characters long; at most "
                             f"{limit} are stored")


def parse_row(raw: dict[str, str | None], now: dt.datetime, *,
              confidence_scale: float = 1.0) -> dict[str, Any]:
    """One CSV row as a ``leads`` row; raises ValueError with the reason.

    ``confidence_scale``: enrichment_confidence is divided by it (100: percentages).
    """
    _storable(raw)
    email = (_text(raw.get("email")) or "").lower()
    if not email:
        raise ValueError("email is empty")
    if not _EMAIL.match(email):
        raise ValueError(f"email {email!r} is not an email address")
    row: dict[str, Any] = {c: _text(raw.get(c)) for c in COLUMNS}
    row["email"] = email
    if row["phone"]:
        phone = normalize_phone(row["phone"])
        if not _PHONE.match(phone):
            raise ValueError(f"phone {row['phone']!r} is not a phone number")
        row["phone"] = phone
    url = row["linkedin_url"]
    if url and not url.lower().startswith(("http://", "https://")):
        raise ValueError(f"linkedin_url {url!r} must start with https://")
    row["company_employee_count"] = _int(row["company_employee_count"])
    row["enrichment_confidence"] = _confidence(row["enrichment_confidence"], confidence_scale)
    status = (row["email_status"] or "unknown").lower().replace(" ", "_")
    if not _STATUS.match(status):
        raise ValueError(f"email_status {row['email_status']!r} is not one word "
                         f"(e.g. {', '.join(EMAIL_STATUSES)})")
    row["email_status"] = status
    if row["timezone"] and zone(row["timezone"]) is None:
        raise ValueError(f"timezone {row['timezone']!r} is not an IANA timezone")
    techs = row["company_technologies"] or ""
    row["company_technologies"] = [t.strip() for t in techs.split(";") if t.strip()]
    row["created_at"] = now
    row["updated_at"] = now
    return row


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = int(value.replace(",", "").replace("_", ""))
    except ValueError:
        raise ValueError(f"company_employee_count {value!r} is not a whole number") from None
    if number < 0:
        raise ValueError("company_employee_count is negative")
    if number > INT_MAX:
        raise ValueError(f"company_employee_count {value!r} is too large (at most {INT_MAX})")
    return number


def _confidence(value: str | None, scale: float = 1.0) -> float:
    if value is None:
        return 0.0
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"enrichment_confidence {value!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"enrichment_confidence {value!r} is not a number")
    number /= scale
    if scale == 1.0 and 1.0 < number <= 100.0:
        raise PercentLike(value)
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"enrichment_confidence {value!r} is not between 0 and "
                         f"{scale:g}")
    return number


def read_csv(path: Path, now: dt.datetime, *, confidence_scale: float = 1.0
             ) -> tuple[list[dict[str, Any]], list[RowError], int]:
    """Parse the file: good rows, bad rows (line, reason), and how many rows it has.

    A file that is not UTF-8 or not readable CSV (a quote never closed, a field over
    128 KiB) raises CampaignGitopsError with file, line and column (runs/csvfile.py).
    """
    header, records = csvfile.rows(path)
    _check_header(path, header)
    return _parse_rows(records, now, confidence_scale)


def _check_header(path: Path, header: list[str]) -> None:
    if "email" not in header:
        raise CampaignGitopsError(f"{path}:1: the header has no 'email' column",
                                  hint="columns: " + ", ".join(COLUMNS))
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise CampaignGitopsError(f"{path}:1: unknown column(s): {', '.join(unknown)}",
                                  hint="columns: " + ", ".join(COLUMNS))


def _parse_rows(records: Iterable[tuple[int, dict[str, str | None]]],
                now: dt.datetime, confidence_scale: float = 1.0
                ) -> tuple[list[dict[str, Any]], list[RowError], int]:
    good: list[dict[str, Any]] = []
    bad: list[RowError] = []
    percent: list[tuple[int, str]] = []
    first_line: dict[str, int] = {}
    count = 0
    for line, raw in records:
        count += 1
        if None in raw:
            bad.append(RowError(line, "more values than columns"))
            continue
        try:
            row = parse_row(raw, now, confidence_scale=confidence_scale)
        except PercentLike as exc:
            percent.append((line, exc.value))
            continue
        except ValueError as exc:
            bad.append(RowError(line, str(exc)))
            continue
        if row["email"] in first_line:
            bad.append(RowError(line, f"duplicate of line {first_line[row['email']]} "
                                      f"({row['email']})"))
            continue
        first_line[row["email"]] = line
        good.append(row)
    if percent:  # one finding for the file, not one per row
        line, value = percent[0]
        bad.append(RowError(line, (
            f"enrichment_confidence looks like percentages ({value!r} on line {line}, "
            f"{len(percent)} row(s) between 1 and 100): divide by 100 or pass "
            "--confidence-scale 100")))
        bad.sort(key=lambda e: e.line)
    return good, bad, count


def _batches(rows: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def _best_first(row: dict[str, Any]) -> tuple[str, float]:
    return (row.get("email_status") or "", -float(row.get("enrichment_confidence") or 0.0))


def upsert_leads(session: Session, rows: Iterable[dict[str, Any]]) -> int:
    """Insert or update (by email) lead rows in batches; how many were written.

    New leads are written best first (by email status, then confidence), so they lie
    on disk in the order allocation takes them: a run's audience then sits on a few
    pages rather than on every page of the table (runs/allocation.py, docs/benchmarks.md).
    """
    table = Lead.__table__
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    written = 0
    for batch in _batches(sorted(rows, key=_best_first), _BATCH):
        stmt = module.insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.email],
            set_={c: getattr(stmt.excluded, c) for c in _UPDATED})
        session.execute(stmt, batch)
        written += len(batch)
    return written


def import_csv(session: Session, path: Path, *, skip_invalid: bool = False,
               now: dt.datetime | None = None, confidence_scale: float = 1.0) -> ImportReport:
    """Import a lead CSV into the pool (nothing at all when a row is bad, unless skipping)."""
    now = now or dt.datetime.now(dt.UTC)
    good, bad, count = read_csv(path, now, confidence_scale=confidence_scale)
    if bad and not skip_invalid:
        return ImportReport(rows=count, imported=0, errors=tuple(bad))
    return ImportReport(rows=count, imported=upsert_leads(session, good), errors=tuple(bad))


def lead_by_contact(session: Session, contact: str) -> int | None:
    """The id of a lead whose email (any case) or phone is ``contact``, else None."""
    leads = Lead.__table__
    return session.execute(select(leads.c.id).where(or_(
        func.lower(leads.c.email) == contact.lower(),
        leads.c.phone == contact)).limit(1)).scalar()
