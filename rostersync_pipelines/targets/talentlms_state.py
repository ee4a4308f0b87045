"""Reading a TalentLMS portal into LmsState with as few calls as API v1 allows.

v1's `users` list is abridged (no branches, no groups) and has no paging, so the state is: `users`,
`getcustomregistrationfields`, `branches` and `groups` (one call each), then one `branches/id:N` and one
`groups/id:N` per branch and group for their members: 4 + branches + groups calls, whatever the headcount.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from rostersync_pipelines.targets.base import (
    DEPARTMENT_STATE_COLUMNS,
    GROUP_MEMBER_STATE_COLUMNS,
    GROUP_STATE_COLUMNS,
    USER_STATE_COLUMNS,
    LmsState,
)
from rostersync_pipelines.targets.talentlms_client import TalentLmsClient

# what TalentLMS cannot hold: no managers or external key on a user; branches are flat, have no external
# key, and their one name is the department code (the department's name goes to the branch description)
UNSUPPORTED = {
    "users": frozenset({"user_unique_key", "manager_id", "functional_manager_id"}),
    "departments": frozenset({"name", "department_unique_key", "parent_id"}),
}


@dataclass
class Portal:
    """What apply needs to know besides the state: field keys, group keys, who sits in which branch."""

    field_keys: dict[str, str] = field(default_factory=dict)  # registration field name -> custom_field_N
    mandatory: set[str] = field(default_factory=set)  # registration field names
    group_keys: dict[str, str] = field(default_factory=dict)  # group id -> key
    user_branches: dict[str, list[str]] = field(default_factory=dict)  # user id -> branch ids, in order
    superadmins: set[str] = field(default_factory=set)


def role(user_type: str | None) -> str:
    kind = (user_type or "").casefold()
    if kind == "superadmin":
        return "superadmin"
    return "admin" if "admin" in kind else "learner"


def read_fields(client: TalentLmsClient, portal: Portal) -> None:
    fields = client.get("getcustomregistrationfields") or []
    portal.field_keys = {item["name"]: item["key"] for item in fields}
    portal.mandatory = {item["name"] for item in fields if str(item.get("mandatory")).lower() == "yes"}


def read_group_keys(client: TalentLmsClient, portal: Portal) -> list[dict]:
    listed = client.get("groups") or []
    portal.group_keys = {str(group["id"]): group.get("key") or "" for group in listed}
    return listed


def read_groups(client: TalentLmsClient, portal: Portal) -> tuple[pd.DataFrame, pd.DataFrame]:
    listed = read_group_keys(client, portal)
    members = [
        (str(group["id"]), str(user["id"]))
        for group in listed
        for user in (client.get("groups", id=group["id"]).get("users") or [])
    ]
    groups = pd.DataFrame(
        [(str(g["id"]), g["name"]) for g in listed], columns=GROUP_STATE_COLUMNS, dtype=object
    )
    return groups, pd.DataFrame(members, columns=GROUP_MEMBER_STATE_COLUMNS, dtype=object)


def read_branches(client: TalentLmsClient, portal: Portal) -> pd.DataFrame:
    listed = sorted(client.get("branches") or [], key=lambda branch: int(branch["id"]))
    portal.user_branches = {}
    for branch in listed:
        for user in client.get("branches", id=branch["id"]).get("users") or []:
            portal.user_branches.setdefault(str(user["id"]), []).append(str(branch["id"]))
    rows = [(str(b["id"]), b["name"], b.get("description") or b["name"], None, None) for b in listed]
    return pd.DataFrame(rows, columns=DEPARTMENT_STATE_COLUMNS, dtype=object)


def read_state(client: TalentLmsClient, portal: Portal) -> LmsState:
    listed = client.get("users") or []
    read_fields(client, portal)
    departments = read_branches(client, portal)
    groups, group_members = read_groups(client, portal)
    users = pd.DataFrame(listed)
    if users.empty:
        users = pd.DataFrame(
            columns=["id", "login", "email", "first_name", "last_name", "user_type", "status"]
        )
    users["id"] = users["id"].astype(str)
    # a user in several branches has the first (lowest id) as their department
    users["department_id"] = users["id"].map(lambda user_id: (portal.user_branches.get(user_id) or [None])[0])
    users["role"] = users["user_type"].map(role)
    portal.superadmins = set(users.loc[users["role"] == "superadmin", "id"])
    keys = {key: name for name, key in portal.field_keys.items()}
    present = [key for key in keys if key in users]
    custom = users[present].rename(columns=keys) if present else pd.DataFrame(index=users.index)
    users["custom_fields"] = [
        {name: value for name, value in row.items() if value not in (None, "")} or None
        for row in custom.to_dict("records")
    ]
    for column in ("user_unique_key", "manager_id", "functional_manager_id"):
        users[column] = None
    frame = users.reindex(columns=USER_STATE_COLUMNS).astype(object)
    frame = frame.where(frame.notna(), None)
    frame["custom_fields"] = users["custom_fields"].to_numpy()
    for column in ("email", "first_name", "last_name"):
        frame[column] = frame[column].where(frame[column] != "", None)
    return LmsState(
        users=frame.reset_index(drop=True),
        departments=departments,
        groups=groups,
        group_members=group_members,
        unsupported=UNSUPPORTED,
    )
