"""senders: the sender of each enrollment (kept for its whole sequence) and message

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 20:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('enrollments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sender', sa.String(length=320), nullable=True))
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sender', sa.String(length=320), nullable=True))
        batch_op.create_index('ix_messages_sender_day', ['client', 'sender', 'scheduled_for'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_sender_day')
        batch_op.drop_column('sender')
    with op.batch_alter_table('enrollments', schema=None) as batch_op:
        batch_op.drop_column('sender')
