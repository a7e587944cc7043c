"""The database schema (SQLAlchemy 2.x). Changes go through Alembic migrations.

Definitions of every kind live in ``resources`` (identity ``(client, kind, name)``,
canonical spec JSON, content hash); what only some kinds have lives beside it:
operational client state in ``clients``, lifecycle and metrics in ``campaigns``,
history in ``campaign_revisions``, executions in ``campaign_runs``. Nothing is ever
hard-deleted: rows carry ``deleted_at``. ``apply_log`` is append-only; its serial is
what a saved plan is pinned to.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)




class TZDateTime(TypeDecorator[dt.datetime]):
    """Stores UTC; always returns aware UTC datetimes, on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


# Integer primary keys that autoincrement on SQLite and are BIGINT on PostgreSQL.
BigID = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON, list[Any]: JSON, dt.datetime: TZDateTime}


class Resource(Base):
    """A definition of any kind, as last applied from the files."""

    __tablename__ = "resources"
    __table_args__ = (
        UniqueConstraint("client", "kind", "name", name="uq_resources_identity"),
        Index("ix_resources_kind_deleted", "kind", "deleted_at"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    client: Mapped[str] = mapped_column(String(63))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(63))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    spec_hash: Mapped[str] = mapped_column(String(64))
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    annotations: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    source_file: Mapped[str | None] = mapped_column(String(1024))
    source_commit: Mapped[str | None] = mapped_column(String(64))
    generation: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime, default=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime)


class Client(Base):
    """Operational client state, kept in the database and set with the CLI, never in git."""

    __tablename__ = "clients"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    subscription: Mapped[str] = mapped_column(String(16), default="trialing")
    credits: Mapped[int] = mapped_column(BigInteger, default=1000)
    halted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime, default=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime)


class Campaign(Base):
    """A campaign's lifecycle state and metrics (its definition is in ``resources``)."""

    __tablename__ = "campaigns"

    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    total_leads: Mapped[int] = mapped_column(Integer, default=0)
    leads_contacted: Mapped[int] = mapped_column(Integer, default=0)
    leads_replied: Mapped[int] = mapped_column(Integer, default=0)
    leads_converted: Mapped[int] = mapped_column(Integer, default=0)
    reply_rate: Mapped[float] = mapped_column(Float, default=0.0)
    conversion_rate: Mapped[float] = mapped_column(Float, default=0.0)
    activated_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime)
    paused_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime)
    completed_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime, default=utcnow)


class CampaignRevision(Base):
    __tablename__ = "campaign_revisions"
    __table_args__ = (UniqueConstraint("resource_id", "revision", name="uq_revision_number"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    git_commit: Mapped[str | None] = mapped_column(String(64))
    git_dirty: Mapped[bool] = mapped_column(Boolean, default=False)
    source_file: Mapped[str | None] = mapped_column(String(1024))
    apply_serial: Mapped[int | None] = mapped_column(BigInteger)
    applied_at: Mapped[dt.datetime] = mapped_column(TZDateTime, default=utcnow)


class CampaignRun(Base):
    """One execution of a campaign, pinned to the revision (and resolved config) it ran with."""

    __tablename__ = "campaign_runs"
    __table_args__ = (
        UniqueConstraint("campaign_id", "name", name="uq_run_name"),
        Index("ix_runs_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("resources.id"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    type: Mapped[str] = mapped_column(String(16))
    # scheduled, running, paused, completed, failed
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    revision_id: Mapped[int] = mapped_column(ForeignKey("campaign_revisions.id"))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    config_hash: Mapped[str] = mapped_column(String(64))
    git_commit: Mapped[str | None] = mapped_column(String(64))
    scheduled_for: Mapped[dt.datetime | None] = mapped_column(TZDateTime)
    started_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime)
    status_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime, default=utcnow)
    # A recurring schedule (its Schedule has a cron): the declared run is the series,
    # ``scheduled``, its ``scheduled_for`` the next fire; each fire starts an occurrence,
    # a run of its own whose ``series_id`` names the series (runs/start.py).
    cron: Mapped[str | None] = mapped_column(String(120))
    series_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign_runs.id", name="fk_runs_series"), index=True)


class ApplyLog(Base):
    """Append-only: every change to state, with a monotonically increasing serial."""

    __tablename__ = "apply_log"

    serial: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(TZDateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(16))
    resource: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    git_commit: Mapped[str | None] = mapped_column(String(64))
    git_dirty: Mapped[bool] = mapped_column(Boolean, default=False)
    actor: Mapped[str] = mapped_column(String(32), default="cli")


class KeyValue(Base):
    """Small operational facts: global halt, the last reconcile, the daemon's findings."""

    __tablename__ = "kv"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime, default=utcnow)


# ---------------------------------------------------------------- runs


class Lead(Base):
    __tablename__ = "leads"
    __table_args__ = (
        # The pool, best first: allocation's ordered scan (runs/allocation.py). On
        # PostgreSQL no index mentions `client`/`assigned_at` (not even as a partial
        # index's predicate) and pages keep 20% free, so allocating or releasing a lead
        # is a HOT update where the page has room: no index entries, no new page (a
        # third of the WAL records).
        Index("ix_leads_best", "email_status", "enrichment_confidence", "id",
              sqlite_where=text("client IS NULL")),
        # A phone's lead: an SMS STOP or reply arriving on the inbound webhook.
        Index("ix_leads_phone", "phone"),
        {"postgresql_with": {"fillfactor": 80}},
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    phone: Mapped[str | None] = mapped_column(String(40))
    linkedin_url: Mapped[str | None] = mapped_column(String(500))
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(300))
    seniority: Mapped[str | None] = mapped_column(String(100))
    company: Mapped[str | None] = mapped_column(String(300))
    company_industry: Mapped[str | None] = mapped_column(String(200))
    company_country: Mapped[str | None] = mapped_column(String(100))
    company_employee_count: Mapped[int | None] = mapped_column(Integer)
    company_technologies: Mapped[list[Any]] = mapped_column(JSON, default=list)
    email_status: Mapped[str] = mapped_column(String(32), default="unknown")
    enrichment_confidence: Mapped[float] = mapped_column(Float, default=0.0)
    timezone: Mapped[str | None] = mapped_column(String(64))
    # The client this lead is allocated to (one at a time); NULL = in the pool.
    client: Mapped[str | None] = mapped_column(String(63))
    assigned_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime)
    converted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime, default=utcnow)


class Suppression(Base):
    """A contact the client must not contact (on ``channel``; ``*`` is every channel).

    ``contact`` is the lower-cased email or E.164 phone, or ``sha256:<hex>`` of it once
    the person was forgotten (inbound/suppressions.py is the one place that writes here).
    """

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("client", "contact", "channel", name="uq_suppression"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    client: Mapped[str] = mapped_column(String(63))
    contact: Mapped[str] = mapped_column(String(320))
    channel: Mapped[str] = mapped_column(String(16), default="*", server_default="*")
    # unsubscribe, bounce, complaint, stop, manual, forgotten
    reason: Mapped[str] = mapped_column(String(32))
    # where it came from: link, imap:<mailbox>, webhook, smtp, cli, import, replies
    source: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime, default=utcnow)


class AuditLog(Base):
    """Append-only record of changes made on a person's behalf (suppress, forget, export).

    Kept apart from ``apply_log``, whose serial pins saved plans: an unsubscribe must not
    make every saved plan stale. A forgotten contact appears here only hashed.
    """

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(TZDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(32))
    client: Mapped[str | None] = mapped_column(String(63))
    contact: Mapped[str | None] = mapped_column(String(320))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Enrollment(Base):
    __tablename__ = "enrollments"
    __table_args__ = (
        UniqueConstraint("run_id", "lead_id", name="uq_enrollment"),
        Index("ix_enrollments_due", "state", "next_due_at"),
        # tick's claim: due enrollments in (next_due_at, id) order (runs/tick.py)
        Index("ix_enrollments_claim", "state", "next_due_at", "id"),
        # A lead's enrollments: what a reply, bounce or unsubscribe stops.
        Index("ix_enrollments_lead", "lead_id"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("campaign_runs.id"), index=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"))
    # A test run without a segment enrols fixed sample data instead of a lead.
    sample: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # active, finished, replied, bounced, unsubscribed, skipped, failed
    state: Mapped[str] = mapped_column(String(16), default="active")
    next_step: Mapped[int] = mapped_column(Integer, default=0)
    next_due_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime)
    last_step_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[dt.datetime | None] = mapped_column(TZDateTime)
    # The client's sender (its email) the lead's emails come from, for the whole sequence
    # (SPEC 9); None until its first email is written, or when the client has no senders.
    sender: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime, default=utcnow)


class Message(Base):
    """A communication: one (enrollment, step), written, reviewed and delivered at most once."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("enrollment_id", "step_index", name="uq_message_step"),
        Index("ix_messages_run_status", "run_id", "status"),
        Index("ix_messages_status_next", "status", "next_attempt_at"),
        Index("ix_messages_client_day", "client", "channel", "sent_at"),
        # The web's newest-first pages of one run / one client (keyset on id).
        Index("ix_messages_run_id", "run_id", "id"),
        Index("ix_messages_client_id", "client", "id"),
        # A client's use of each sender today (caps and pacing, SPEC 9).
        Index("ix_messages_sender_day", "client", "sender", "scheduled_for"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    enrollment_id: Mapped[int] = mapped_column(ForeignKey("enrollments.id"))
    run_id: Mapped[int] = mapped_column(ForeignKey("campaign_runs.id"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("resources.id"), index=True)
    client: Mapped[str] = mapped_column(String(63))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"), index=True)
    step_index: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text, default="")
    # pending_review, approved, rejected, queued, sent, failed, skipped
    status: Mapped[str] = mapped_column(String(16))
    status_reason: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    transport: Mapped[str | None] = mapped_column(String(32))
    transport_message_id: Mapped[str | None] = mapped_column(String(500), index=True)
    # Who sent it: the client sender's email (None: the transport's fromAddress).
    sender: Mapped[str | None] = mapped_column(String(320))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime)
    scheduled_for: Mapped[dt.datetime | None] = mapped_column(TZDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime, default=utcnow)


class Reply(Base):
    __tablename__ = "replies"
    __table_args__ = (Index("ix_replies_campaign", "campaign_id", "received_at"),
                      Index("ix_replies_run", "run_id", "id"),
                      UniqueConstraint("external_id", name="uq_replies_external_id"))

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    client: Mapped[str | None] = mapped_column(String(63))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("resources.id"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("campaign_runs.id"))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    contact: Mapped[str] = mapped_column(String(320))
    # reply, out_of_office, unsubscribe, bounce, soft_bounce, complaint, converted,
    # resubscribe, help
    kind: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str | None] = mapped_column(String(16))
    # The inbound mail's Message-ID (or a provider's event id): recorded once.
    external_id: Mapped[str | None] = mapped_column(String(500))
    body: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(TZDateTime, default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime, default=utcnow)
