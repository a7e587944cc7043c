"""The Alembic revisions build exactly the schema of state/tables.py, and an existing
database upgrades in place with its rows kept. A schema change without its revision
(scripts/new_migration.py writes one) fails here."""

from __future__ import annotations

import datetime as dt

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, insert, inspect, select

from campaign_gitops.state import db as state_db
from campaign_gitops.state.tables import Base, CampaignRevision, CampaignRun, Resource


def _upgrade(url: str, revision: str) -> None:
    from alembic import command

    engine = create_engine(url)
    with engine.begin() as conn:
        command.upgrade(state_db._alembic_config(conn), revision)
    engine.dispose()


def test_the_revisions_build_the_schema_of_tables_py(db_url: str) -> None:
    _upgrade(db_url, "head")
    engine = create_engine(db_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def test_a_database_at_0001_upgrades_and_keeps_its_runs(db_url: str) -> None:
    _upgrade(db_url, "0001")
    engine = create_engine(db_url)
    now = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
    with engine.begin() as conn:  # Core inserts name only the columns given: 0001's
        resource = conn.execute(insert(Resource.__table__).values(
            client="acme", kind="Campaign", name="q1", spec={}, spec_hash="h")
            .returning(Resource.__table__.c.id)).scalar_one()
        revision = conn.execute(insert(CampaignRevision.__table__).values(
            resource_id=resource, revision=1, spec={}, content_hash="h")
            .returning(CampaignRevision.__table__.c.id)).scalar_one()
        conn.execute(insert(CampaignRun.__table__).values(
            campaign_id=resource, name="launch", type="run", status="running",
            revision_id=revision, config={}, config_hash="h", created_at=now))
    assert "cron" not in {c["name"] for c in inspect(engine).get_columns("campaign_runs")}
    engine.dispose()

    database = state_db.open_database(db_url)  # upgrades to head on first use
    assert state_db.current_revision(database.engine) == state_db.head_revision() != "0001"
    with database.session() as session:
        row = session.execute(select(CampaignRun.name, CampaignRun.cron,
                                     CampaignRun.series_id)).one()
    assert tuple(row) == ("launch", None, None)
    database.dispose()


def test_downgrade_to_0001_removes_the_columns(db_url: str) -> None:
    from alembic import command

    _upgrade(db_url, "head")
    engine = create_engine(db_url)
    with engine.begin() as conn:
        command.downgrade(state_db._alembic_config(conn), "0001")
    assert "series_id" not in {c["name"] for c in inspect(engine).get_columns("campaign_runs")}
    engine.dispose()
