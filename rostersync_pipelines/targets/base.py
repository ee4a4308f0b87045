"""The small protocol every LMS target implements.

The engine reads the whole LMS state once per plan (one call per page, never per row) and then applies
one operation per change, so the same apply loop (journal, retries, rate limit) serves every LMS.
A target may also offer `apply_batch(operations) -> list[lms id | TargetError]` (optional, one answer per
operation, in order): the engine then sends each journaled batch in one call (the embedded LMS: one
transaction per batch).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd

USER_STATE_COLUMNS = [
    "id",
    "login",
    "email",
    "first_name",
    "last_name",
    "department_id",
    "status",
    "user_unique_key",
    "manager_id",
    "functional_manager_id",
    "role",
    "custom_fields",
]
DEPARTMENT_STATE_COLUMNS = ["id", "code", "name", "parent_id", "department_unique_key"]
GROUP_STATE_COLUMNS = ["id", "name"]
GROUP_MEMBER_STATE_COLUMNS = ["group_id", "user_id"]


@dataclass
class LmsState:
    """What the LMS holds right now. Ids are strings whatever the LMS uses, so plans compare across LMSs.

    `users.custom_fields` holds a dict (or None) per user; every other cell is a str or None.
    """

    users: pd.DataFrame
    departments: pd.DataFrame
    groups: pd.DataFrame
    group_members: pd.DataFrame
    # entity -> columns this LMS cannot hold (TalentLMS: no manager, flat branches): never planned as changes
    unsupported: dict[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def empty(cls) -> LmsState:
        return cls(
            users=pd.DataFrame(columns=USER_STATE_COLUMNS, dtype=object),
            departments=pd.DataFrame(columns=DEPARTMENT_STATE_COLUMNS, dtype=object),
            groups=pd.DataFrame(columns=GROUP_STATE_COLUMNS, dtype=object),
            group_members=pd.DataFrame(columns=GROUP_MEMBER_STATE_COLUMNS, dtype=object),
        )


@dataclass(frozen=True)
class Operation:
    """One change the LMS is asked to make.

    entity: users | departments | groups | group_members
    action: create | update | delete | add_member | remove_member
      (deactivate, reactivate and move are updates of `status` / `department_id` at this level)
    lms_id: the record changed (None for create; for group_members the group id)
    values: LMS column -> new value, with references already resolved to LMS ids
      (users: department_id, manager_id, functional_manager_id; departments: parent_id;
       group_members: {"user_id": ...}).
    """

    entity: str
    action: str
    lms_id: str | None = None
    values: dict[str, Any] = field(default_factory=dict)


class Target(Protocol):
    def read_state(self) -> LmsState:
        """The whole roster, read in as few calls as the LMS allows."""

    def apply(self, operation: Operation) -> str | None:
        """Apply one change; return the record's LMS id (the new id for a create).

        Raises TargetError when the LMS refuses the change (the engine journals it and goes on). Transient
        failures (429, 5xx, timeouts) are retried inside (rostersync_pipelines.http.request); what still
        fails after the retries is raised as TransientTargetError so the engine can count and quarantine it.
        """

    def find(self, operation: Operation) -> str | None:
        """The LMS id of the record a create would have made, if it exists already, else None.

        The engine asks this before re-sending a create that was journaled as started but never confirmed
        (a run killed between the call and its journal entry): the record is adopted, never duplicated.
        Users are found by login (then email), departments by code, groups by name.
        """

    def dispose(self) -> None:
        """Close connections and sessions."""
