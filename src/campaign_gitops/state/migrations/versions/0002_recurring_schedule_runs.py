"""recurring schedule runs: a series (``cron``) and its occurrences (``series_id``)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 00:41:12.923241
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('campaign_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cron', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column(
            'series_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.create_index(batch_op.f('ix_campaign_runs_series_id'), ['series_id'],
                              unique=False)
        batch_op.create_foreign_key('fk_runs_series', 'campaign_runs', ['series_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('campaign_runs', schema=None) as batch_op:
        batch_op.drop_constraint('fk_runs_series', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_campaign_runs_series_id'))
        batch_op.drop_column('series_id')
        batch_op.drop_column('cron')
