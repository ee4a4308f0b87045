"""iSpring Learn records as the engine's LmsState: users from /users/v2, the department tree under the root.

iSpring answers a user's profile fields as a list of `{name, value}` with upper-case names (the vendor's
samples) or as an object (its OpenAPI file); both are read. Status 1 is active, 3 (inactive) and 5
(employment ended) both read as inactive. The root department is the account itself, not a synced
department: its id reads as None, so the engine sees the top of the tree exactly as in any other LMS.
"""

from __future__ import annotations

import pandas as pd

from rostersync_pipelines.targets.base import (
    DEPARTMENT_STATE_COLUMNS,
    GROUP_MEMBER_STATE_COLUMNS,
    GROUP_STATE_COLUMNS,
    USER_STATE_COLUMNS,
    LmsState,
)

BASE_FIELDS = ("login", "email", "first_name", "last_name")
STATUS = {1: "active", 3: "inactive", 5: "inactive"}
STATUS_CODE = {"active": 1, "inactive": 3}
# iSpring has no place for a source's own key: the plan must not ask for one every sync
UNSUPPORTED = {"users": frozenset({"user_unique_key"}), "departments": frozenset({"department_unique_key"})}


def profile_fields(user: dict) -> dict[str, str | None]:
    """A user's profile fields by lower-case name, whichever of the two shapes iSpring sent."""
    fields = user.get("fields") or {}
    if isinstance(fields, list):
        return {str(item.get("name", "")).lower(): item.get("value") for item in fields}
    return {str(name).lower(): value for name, value in fields.items()}


def unwrap(body):
    """Single-record reads may come as `{"response": {...}}`."""
    if isinstance(body, dict) and set(body) == {"response"}:
        return body["response"]
    return body


def root_department(departments: list[dict]) -> str | None:
    roots = [d["departmentId"] for d in departments if not d.get("parentDepartmentId")]
    return roots[0] if roots else None


def _supervisor(subordination: dict | None) -> str | None:
    if isinstance(subordination, dict) and subordination.get("subordinationType") == "manual":
        return subordination.get("supervisorId") or None
    return None


def _role(user: dict) -> str:
    """Account administrators hold the whole LMS (the API client's owner among them): read as superadmin,
    so the engine never touches them; other staff roles read as admin."""
    roles = {user.get("role")} | {
        r.get("roleType") for r in user.get("userRoles") or [] if isinstance(r, dict)
    }
    if "administrator" in roles:
        return "superadmin"
    return "learner" if roles <= {"learner", None} else "admin"


def user_rows(users: list[dict]) -> list[dict]:
    rows = []
    for user in users:
        fields = profile_fields(user)
        custom = {name: value for name, value in fields.items() if name not in BASE_FIELDS}
        rows.append(
            {
                "id": user["userId"],
                **{name: fields.get(name) or None for name in BASE_FIELDS},
                "department_id": user.get("departmentId"),
                "status": user.get("status"),
                "user_unique_key": None,
                "manager_id": _supervisor(user.get("subordination")),
                "functional_manager_id": _supervisor(user.get("coSubordination")),
                "role": _role(user),
                "custom_fields": custom or None,
            }
        )
    return rows


def lms_state(users: list[dict], departments: list[dict], groups: list[dict]) -> LmsState:
    root = root_department(departments)
    user_frame = pd.DataFrame(user_rows(users), columns=USER_STATE_COLUMNS, dtype=object)
    status = pd.to_numeric(user_frame["status"], errors="coerce").map(STATUS)
    user_frame["status"] = status.where(status.notna(), "inactive").astype(object)
    user_frame["department_id"] = user_frame["department_id"].where(user_frame["department_id"] != root, None)

    tree = pd.DataFrame(
        [d for d in departments if d["departmentId"] != root],
        columns=["departmentId", "code", "name", "parentDepartmentId"],
        dtype=object,
    )
    department_frame = pd.DataFrame(
        {
            "id": tree["departmentId"],
            "code": tree["code"].where(tree["code"].fillna("") != "", tree["name"]),
            "name": tree["name"],
            "parent_id": tree["parentDepartmentId"].where(tree["parentDepartmentId"] != root, None),
            "department_unique_key": None,
        },
        columns=DEPARTMENT_STATE_COLUMNS,
        dtype=object,
    )
    group_frame = pd.DataFrame(
        [(g["groupId"], g["name"]) for g in groups], columns=GROUP_STATE_COLUMNS, dtype=object
    )
    members = pd.DataFrame(
        [(group, user["userId"]) for user in users for group in user.get("groups") or []],
        columns=GROUP_MEMBER_STATE_COLUMNS,
        dtype=object,
    )
    department_frame = department_frame.where(department_frame.notna(), None)
    return LmsState(
        users=user_frame,
        departments=department_frame,
        groups=group_frame,
        group_members=members,
        unsupported=UNSUPPORTED,
    )
