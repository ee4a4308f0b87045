"""The tables of the state database (see state.py for what each is for)."""

import sqlalchemy as sa

metadata = sa.MetaData()

plans = sa.Table(
    "plans",
    metadata,
    sa.Column("plan_id", sa.String(80), primary_key=True),
    sa.Column("sync", sa.String(200), nullable=False, index=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    # planned | preview | applying | applied | applied_with_failures | stopped | interrupted | superseded
    sa.Column("status", sa.String(40), nullable=False),
    sa.Column("run_id", sa.String(80)),  # the Dagster run that computed it: only that run applies it
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
    sa.Column("part", sa.Integer, nullable=False, default=0),  # 0 the change, 1 its manager follow-up
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("key", sa.Text),
    sa.Column("lms_id", sa.String(200)),
    sa.Column("before", sa.Text),
    sa.Column("after", sa.Text),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("applied_at", sa.DateTime),  # when the LMS answered
    # started (sent, not yet confirmed) | applied | failed | interrupted (never confirmed, not in the LMS)
    sa.Column("outcome", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=1),
    sa.Column("message", sa.Text),
    sa.UniqueConstraint("plan_id", "seq", "part", name="journal_once"),
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
sync_locks = sa.Table(
    "sync_locks",
    metadata,
    sa.Column("sync", sa.String(200), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),  # a Dagster run id
    sa.Column("host", sa.String(200), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("acquired_at", sa.DateTime, nullable=False),
    sa.Column("heartbeat_at", sa.DateTime, nullable=False),
)
quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("sync", sa.String(200), primary_key=True),
    sa.Column("entity", sa.String(40), primary_key=True),
    sa.Column("action", sa.String(40), primary_key=True),
    sa.Column("key", sa.String(500), primary_key=True),
    sa.Column("inputs_hash", sa.String(64), nullable=False),  # of the values sent: new inputs, new chance
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("message", sa.Text),
    sa.Column("first_failed_at", sa.DateTime, nullable=False),
    sa.Column("last_failed_at", sa.DateTime, nullable=False),
)
# learning (state/deliveries.py): the last delivered fingerprint of every learning record, per destination
learning_deliveries = sa.Table(
    "learning_deliveries",
    metadata,
    sa.Column("sync", sa.String(200), primary_key=True),
    sa.Column("destination", sa.String(300), primary_key=True),  # embedded | the org's instance URL
    sa.Column("kind", sa.String(40), primary_key=True),  # course_progress | certificates | badges
    sa.Column("external_id", sa.String(300), primary_key=True),
    sa.Column("content_hash", sa.BigInteger),  # of what was last written; NULL: never written
    sa.Column("day", sa.String(10), nullable=False),  # the record's last update (its partition)
    sa.Column("status", sa.String(20), nullable=False),  # delivered | failed | unsent
    sa.Column("record_id", sa.String(40)),  # the Salesforce record Id
    sa.Column("error", sa.Text),  # Salesforce's statusCode: message, for failed and unsent records
    sa.Column("attempted_at", sa.DateTime, nullable=False),
    sa.Index("ix_learning_deliveries_status", "sync", "destination", "status"),
)


def _learning_table(name: str, *columns: sa.Column) -> sa.Table:
    """The embedded learning destination: the Salesforce objects' fields as columns (DESIGN §1.4)."""
    return sa.Table(
        name,
        metadata,
        sa.Column("external_id", sa.String(300), primary_key=True),
        sa.Column("sync", sa.String(200), nullable=False, index=True),
        sa.Column("salesforce_user_id", sa.String(18)),
        sa.Column("salesforce_contact_id", sa.String(18)),
        sa.Column("lms_user_id", sa.String(200)),
        *columns,
        sa.Column("delivered_at", sa.DateTime, nullable=False),
    )


learning_course_progress = _learning_table(
    "learning_course_progress",
    sa.Column("course_id", sa.Text),
    sa.Column("course_name", sa.Text),
    sa.Column("status", sa.Text),
    sa.Column("completion_percent", sa.Float),
    sa.Column("time_spent_seconds", sa.BigInteger),
    sa.Column("enrolled_at", sa.String(30)),  # ISO 8601 UTC, as sent to Salesforce
    sa.Column("completed_at", sa.String(30)),
    sa.Column("score", sa.Float),
)
learning_certificates = _learning_table(
    "learning_certificates",
    sa.Column("course_id", sa.Text),
    sa.Column("course_name", sa.Text),
    sa.Column("issued_at", sa.String(30)),
    sa.Column("expires_at", sa.String(30)),
    sa.Column("url", sa.Text),
)
learning_badges = _learning_table(
    "learning_badges",
    sa.Column("badge_name", sa.Text),
    sa.Column("badge_type", sa.Text),
    sa.Column("issued_at", sa.String(30)),
)
