"""The tables of the state database (see state.py for what each is for)."""

import sqlalchemy as sa

metadata = sa.MetaData()

plans = sa.Table(
    "plans",
    metadata,
    sa.Column("plan_id", sa.String(80), primary_key=True),
    sa.Column("sync", sa.String(200), nullable=False, index=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("status", sa.String(40), nullable=False),  # planned | applied | applied_with_failures
    sa.Column("inputs", sa.Text),  # {source: {rows, sha256}}
    sa.Column("summary", sa.Text),
    sa.Column("plan_file", sa.Text),
)
plan_changes = sa.Table(
    "plan_changes",
    metadata,
    sa.Column("plan_id", sa.String(80), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("situation", sa.String(40)),
    sa.Column("key", sa.Text),
    sa.Column("lms_id", sa.String(200)),
    sa.Column("source_id", sa.Text),
    sa.Column("held", sa.Boolean, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("changes", sa.Text),
    sa.Column("values", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("order", sa.Integer),
)
journal = sa.Table(
    "journal",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("plan_id", sa.String(80), nullable=False, index=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("key", sa.Text),
    sa.Column("lms_id", sa.String(200)),
    sa.Column("before", sa.Text),
    sa.Column("after", sa.Text),
    sa.Column("applied_at", sa.DateTime, nullable=False),
    sa.Column("outcome", sa.String(20), nullable=False),  # applied | failed
    sa.Column("message", sa.Text),
)
links = sa.Table(
    "links",
    metadata,
    sa.Column("sync", sa.String(200), primary_key=True),
    sa.Column("entity", sa.String(40), primary_key=True),
    sa.Column("source_id", sa.String(500), primary_key=True),
    sa.Column("lms_id", sa.String(200), nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)
owned_groups = sa.Table(
    "owned_groups",
    metadata,
    sa.Column("sync", sa.String(200), primary_key=True),
    sa.Column("group_id", sa.String(200), primary_key=True),
    sa.Column("name", sa.Text),
)
source_sizes = sa.Table(
    "source_sizes",
    metadata,
    sa.Column("sync", sa.String(200), primary_key=True),
    sa.Column("source", sa.String(200), primary_key=True),
    sa.Column("last_good_rows", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)
approvals = sa.Table(
    "approvals",
    metadata,
    sa.Column("plan_id", sa.String(80), primary_key=True),
    sa.Column("sync", sa.String(200), nullable=False),
    sa.Column("approved_at", sa.DateTime, nullable=False),
    sa.Column("used_by_plan", sa.String(80)),
)
source_cursors = sa.Table(
    "source_cursors",
    metadata,
    sa.Column("sync", sa.String(200), primary_key=True),
    sa.Column("source", sa.String(200), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),  # what the value is: delta_link, etag, snapshot…
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)
