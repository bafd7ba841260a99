"""replication heartbeat: one row the failover monitor rewrites through the primary

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import lakefront.data.types

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('lf_heartbeat',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('beat_at', lakefront.data.types.UtcDateTime(), nullable=False),
    sa.Column('node', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lf_heartbeat'))
    )


def downgrade() -> None:
    op.drop_table('lf_heartbeat')
