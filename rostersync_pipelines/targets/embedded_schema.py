"""The embedded LMS's tables, kept apart from its behaviour so seed and demo tooling can import them alone.

The constraints here are the last line of defence: `embedded.py` checks every rule first to give a readable
message, but only the database can stop two writers who both passed the check (unique login/email, foreign
keys). Everything is plain SQLAlchemy Core that SQLite and PostgreSQL both accept.
"""

from __future__ import annotations

import sqlalchemy as sa

from rostersync_pipelines.targets.base import (
    DEPARTMENT_STATE_COLUMNS,
    GROUP_MEMBER_STATE_COLUMNS,
    GROUP_STATE_COLUMNS,
    USER_STATE_COLUMNS,
)

USER_STATUSES = ("active", "inactive")
USER_ROLES = ("learner", "admin", "superadmin")


def _one_of(column: str, allowed: tuple[str, ...]) -> sa.CheckConstraint:
    quoted = ", ".join(f"'{value}'" for value in allowed)
    return sa.CheckConstraint(f"{column} in ({quoted})", name=f"ck_users_{column}")


def _user_ref(**kwargs) -> sa.Column:
    return sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), **kwargs)


metadata = sa.MetaData()

departments = sa.Table(
    "departments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("code", sa.Text),
    sa.Column("name", sa.Text),
    sa.Column("parent_id", sa.Integer, sa.ForeignKey("departments.id"), index=True),
    sa.Column("department_unique_key", sa.Text),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("login", sa.Text, nullable=False),
    sa.Column("email", sa.Text),
    sa.Column("first_name", sa.Text),
    sa.Column("last_name", sa.Text),
    sa.Column("department_id", sa.Integer, sa.ForeignKey("departments.id"), index=True),
    sa.Column("status", sa.Text, nullable=False, server_default="active"),
    sa.Column("user_unique_key", sa.Text),
    sa.Column("manager_id", sa.Integer, sa.ForeignKey("users.id"), index=True),
    sa.Column("functional_manager_id", sa.Integer, sa.ForeignKey("users.id"), index=True),
    sa.Column("role", sa.Text, nullable=False, server_default="learner"),
    sa.Column("custom_fields", sa.Text),
    _one_of("status", USER_STATUSES),
    _one_of("role", USER_ROLES),
)
# Case-insensitive uniqueness: "JDoe" and "jdoe" are the same person to every LMS we target.
sa.Index("ux_users_login", sa.func.lower(users.c.login), unique=True)
sa.Index("ux_users_email", sa.func.lower(users.c.email), unique=True)

groups = sa.Table(
    "groups",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.Text, unique=True),
)

group_members = sa.Table(
    "group_members",
    metadata,
    sa.Column("group_id", sa.Integer, sa.ForeignKey("groups.id"), primary_key=True),
    _user_ref(primary_key=True, index=True),
)

course_progress = sa.Table(
    "course_progress",
    metadata,
    _user_ref(primary_key=True),
    sa.Column("course_id", sa.Text, primary_key=True),
    sa.Column("course_name", sa.Text),
    sa.Column("status", sa.Text),
    sa.Column("completion_percent", sa.Float),
    sa.Column("time_spent_seconds", sa.Integer),
    sa.Column("enrolled_at", sa.DateTime(timezone=True)),
    sa.Column("completed_at", sa.DateTime(timezone=True)),
    sa.Column("score", sa.Float),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
)

certificates = sa.Table(
    "certificates",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _user_ref(index=True),
    sa.Column("course_id", sa.Text),
    sa.Column("course_name", sa.Text),
    sa.Column("issued_at", sa.DateTime(timezone=True)),
    sa.Column("expires_at", sa.DateTime(timezone=True)),
    sa.Column("url", sa.Text),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
)

badges = sa.Table(
    "badges",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _user_ref(index=True),
    sa.Column("name", sa.Text),
    sa.Column("type", sa.Text),
    sa.Column("issued_at", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
)

LEARNING_TABLES = (course_progress, certificates, badges)
ID_COLUMNS = {
    "departments": ("id", "parent_id"),
    "users": ("id", "department_id", "manager_id", "functional_manager_id"),
    "groups": ("id",),
    "group_members": ("group_id", "user_id"),
}
# What read_state reads, table by table, in the column order the engine expects.
STATE_TABLES = {
    "users": (users, USER_STATE_COLUMNS),
    "departments": (departments, DEPARTMENT_STATE_COLUMNS),
    "groups": (groups, GROUP_STATE_COLUMNS),
    "group_members": (group_members, GROUP_MEMBER_STATE_COLUMNS),
}
