"""recipients: suppression channels and sources, inbound message ids, audit log

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 17:34:13.786880
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import campaign_gitops.state.tables

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'audit_log',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  autoincrement=True, nullable=False),
        sa.Column('at', campaign_gitops.state.tables.TZDateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.String(length=100), nullable=False),
        sa.Column('action', sa.String(length=32), nullable=False),
        sa.Column('client', sa.String(length=63), nullable=True),
        sa.Column('contact', sa.String(length=320), nullable=True),
        sa.Column('detail', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'))
    with op.batch_alter_table('replies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('external_id', sa.String(length=500), nullable=True))
        batch_op.create_unique_constraint('uq_replies_external_id', ['external_id'])
    with op.batch_alter_table('suppressions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(length=16), server_default='*',
                                      nullable=False))
        batch_op.add_column(sa.Column('source', sa.String(length=100), nullable=True))
        batch_op.drop_constraint('uq_suppression', type_='unique')
        batch_op.create_unique_constraint('uq_suppression', ['client', 'contact', 'channel'])


def downgrade() -> None:
    with op.batch_alter_table('suppressions', schema=None) as batch_op:
        batch_op.drop_constraint('uq_suppression', type_='unique')
        batch_op.create_unique_constraint('uq_suppression', ['client', 'contact'])
        batch_op.drop_column('source')
        batch_op.drop_column('channel')
    with op.batch_alter_table('replies', schema=None) as batch_op:
        batch_op.drop_constraint('uq_replies_external_id', type_='unique')
        batch_op.drop_column('external_id')
        batch_op.drop_column('channel')
    op.drop_table('audit_log')
