"""How an LMS user (targets.base columns) is written as a SCIM User (RFC 7643 §4.1, §4.3), and read back.

DESIGN §1.4: userName = login, the primary work email, name, active, externalId = user_unique_key, and the
enterprise extension's department (the department's name) and manager. A custom field travels only when
its name is a SCIM User attribute (core `title`, …, or enterprise `employeeNumber`, …): SCIM has nowhere
else to keep it, and a value the server cannot hold would be planned again on every sync.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from rostersync_pipelines.errors import TargetError
from rostersync_pipelines.targets.base import USER_STATE_COLUMNS

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
CORE_CUSTOM = ("title", "displayName", "nickName", "userType", "preferredLanguage", "locale", "timezone")
ENTERPRISE_CUSTOM = ("employeeNumber", "costCenter", "organization", "division")
CUSTOM_ATTRIBUTES = CORE_CUSTOM + ENTERPRISE_CUSTOM
# LMS column -> PATCH path of the attribute that holds it
PATHS = {
    "login": "userName",
    "user_unique_key": "externalId",
    "first_name": "name.givenName",
    "last_name": "name.familyName",
    "status": "active",
    "email": "emails",
    "department_id": f"{ENTERPRISE}:department",
    "manager_id": f"{ENTERPRISE}:manager",
}


def custom_path(name: str) -> str:
    if name in CORE_CUSTOM:
        return name
    if name in ENTERPRISE_CUSTOM:
        return f"{ENTERPRISE}:{name}"
    raise TargetError(
        f'SCIM has no user attribute "{name}": name the custom field after one of {", ".join(CUSTOM_ATTRIBUTES)}'
    )


def _scim_value(column: str, value: Any) -> Any:
    if column == "status":
        if value not in ("active", "inactive"):
            raise TargetError(f'status "{value}" is not one of active, inactive')
        return value == "active"
    if column == "email":
        return [{"value": value, "type": "work", "primary": True}]
    if column == "manager_id":
        return {"value": value}
    return value


def _checked(values: dict) -> dict:
    """The values SCIM can hold; a functional manager or an LMS role it cannot is refused, never dropped."""
    values = dict(values)
    if values.pop("functional_manager_id", None) is not None:
        raise TargetError(
            "SCIM has no functional manager: remove fields.users.functional_manager from the sync"
        )
    role = values.pop("role", None)
    if role not in (None, "learner"):
        raise TargetError(f'SCIM has no LMS roles: role "{role}" cannot be set through SCIM')
    return values


def new_user(values: dict, department_name: str | None) -> dict:
    """The body of POST /Users; None values are left out (the server's default)."""
    values = _checked(values)
    body: dict[str, Any] = {"schemas": [CORE_USER, ENTERPRISE]}
    enterprise: dict[str, Any] = {}
    if department_name is not None:
        enterprise["department"] = department_name
    for column, value in values.items():
        if value is None or column in ("department_id", "custom_fields"):
            continue
        path = PATHS.get(column)
        if path is None:
            raise TargetError(f"SCIM users have no column {column}")
        if path.startswith(ENTERPRISE):
            enterprise[path.rsplit(":", 1)[1]] = _scim_value(column, value)
        elif "." in path:
            body.setdefault("name", {})[path.split(".")[1]] = value
        else:
            body[path] = _scim_value(column, value)
    for name, value in (values.get("custom_fields") or {}).items():
        if value is not None:
            path = custom_path(name)
            (enterprise if path.startswith(ENTERPRISE) else body)[name] = value
    body[ENTERPRISE] = enterprise
    return body


def user_patch(values: dict, department_name: str | None) -> list[dict]:
    """PatchOp operations (RFC 7644 §3.5.2): replace what has a value, remove what is cleared."""
    values = _checked(values)
    operations = []
    for column, value in values.items():
        if column == "custom_fields":
            pairs = [(custom_path(name), field) for name, field in (value or {}).items()]
        elif column in PATHS:
            shown = department_name if column == "department_id" else value
            pairs = [(PATHS[column], None if shown is None else _scim_value(column, shown))]
        else:
            raise TargetError(f"SCIM users have no column {column}")
        for path, scim in pairs:
            operations.append(
                {"op": "remove", "path": path}
                if scim is None
                else {"op": "replace", "path": path, "value": scim}
            )
    return operations


def primary_email(emails: list[dict] | None) -> str | None:
    """The primary email, else the work one, else the first: what an LMS would call the user's email."""
    emails = [email for email in emails or [] if email.get("value")]
    primary = [email for email in emails if email.get("primary")]
    work = [email for email in emails if email.get("type") == "work"]
    return (primary or work or emails or [{"value": None}])[0]["value"]


def state_row(resource: dict) -> dict:
    """One LMS user row of a SCIM User; `department_id` holds the department's name until resolved."""
    name, enterprise = resource.get("name") or {}, resource.get(ENTERPRISE) or {}
    custom = {attribute: resource.get(attribute) for attribute in CORE_CUSTOM if resource.get(attribute)}
    custom |= {
        attribute: enterprise[attribute] for attribute in ENTERPRISE_CUSTOM if enterprise.get(attribute)
    }
    return {
        "id": resource["id"],
        "login": resource.get("userName"),
        "email": primary_email(resource.get("emails")),
        "first_name": name.get("givenName"),
        "last_name": name.get("familyName"),
        "department_id": enterprise.get("department"),
        "status": "inactive" if resource.get("active") is False else "active",
        "user_unique_key": resource.get("externalId"),
        "manager_id": (enterprise.get("manager") or {}).get("value"),
        "functional_manager_id": None,
        "role": "learner",  # SCIM has no LMS roles, so no superadmin: protected_logins protect admins
        "custom_fields": custom or None,
    }


def users_frame(resources: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(
        [state_row(resource) for resource in resources], columns=USER_STATE_COLUMNS, dtype=object
    )
