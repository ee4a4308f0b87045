"""A SCIM 2.0 service provider as the LMS (RFC 7643 / 7644): Users with the enterprise extension, Groups.

One call per change: a user is created by POST and changed by PATCH (If-Match with the ETag the server
gave, so a change made meanwhile on the server is refused, not overwritten); a membership is one PATCH of
the group. The state is read in pages of `startIndex` / `count`. SCIM has no LMS roles, so no user is a
superadmin here: `policies.protected_logins` is what protects an administrator account. Departments are
names on users (targets/scim_departments.py).
"""

from __future__ import annotations

import threading
from collections import defaultdict

import pandas as pd

from rostersync_pipelines.errors import TargetError
from rostersync_pipelines.targets.base import (
    GROUP_MEMBER_STATE_COLUMNS,
    GROUP_STATE_COLUMNS,
    LmsState,
    Operation,
)
from rostersync_pipelines.targets.scim_client import ScimClient
from rostersync_pipelines.targets.scim_departments import Departments
from rostersync_pipelines.targets.scim_users import (
    CORE_GROUP,
    ENTERPRISE,
    custom_path,
    new_user,
    user_patch,
    users_frame,
)


class ScimLms:
    def __init__(self, client: ScimClient, departments: Departments):
        self.client, self.departments = client, departments
        self.versions: dict[
            str, str
        ] = {}  # resource id -> its ETag (meta.version), when the server gives one
        self.lock = threading.Lock()
        # one write at a time per resource: concurrent PATCHes of one group (its memberships) would all send
        # the same If-Match, and every one but the first would be refused with 412
        self.writing: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)

    @property
    def http_session(self):
        """The session every call goes through: the apply engine paces it to the LMS's rate limit."""
        return self.client.session

    def dispose(self) -> None:
        self.client.close()
        self.departments.dispose()

    def _remember(self, resource_id: str, version: str | None) -> None:
        with self.lock:
            if version:
                self.versions[resource_id] = version
            else:
                self.versions.pop(resource_id, None)

    def _read(self, path: str, what: str) -> list[dict]:
        resources = list(self.client.resources(path, f"reading {what}"))
        for resource in resources:
            self._remember(resource["id"], (resource.get("meta") or {}).get("version"))
        return resources

    def read_state(self) -> LmsState:
        users = users_frame(self._read("/Users", "users"))
        names = set(users["department_id"].dropna())
        departments = self.departments.frame(names)
        by_name = dict(zip(departments["name"], departments["id"], strict=True))
        users["department_id"] = users["department_id"].map(by_name, na_action="ignore").astype(object)
        users["department_id"] = users["department_id"].where(users["department_id"].notna(), None)
        groups = self._read("/Groups", "groups")
        members = [
            (group["id"], member["value"]) for group in groups for member in group.get("members") or []
        ]
        return LmsState(
            users=users,
            departments=departments,
            groups=pd.DataFrame(
                [(group["id"], group.get("displayName")) for group in groups],
                columns=GROUP_STATE_COLUMNS,
                dtype=object,
            ),
            group_members=pd.DataFrame(members, columns=GROUP_MEMBER_STATE_COLUMNS, dtype=object),
        )

    def apply(self, operation: Operation) -> str | None:
        entity, action, lms_id = operation.entity, operation.action, operation.lms_id
        handler = getattr(self, f"_{action}_{entity}", None)
        if handler is None:
            raise TargetError(f'a SCIM target cannot "{action}" {entity}')
        if lms_id is None and action != "create":
            raise TargetError(f"{entity} {action} needs an lms_id")
        return handler(lms_id, dict(operation.values))

    def _written(self, response, resource_id: str | None = None) -> str:
        """The id of the resource a write answered for; its new ETag is kept for the next write."""
        body = response.json() if response.status_code != 204 and response.content else {}
        resource_id = resource_id or body["id"]
        self._remember(resource_id, response.headers.get("ETag") or (body.get("meta") or {}).get("version"))
        return resource_id

    def _create_users(self, _lms_id, values: dict) -> str:
        body = new_user(values, self.departments.name_of(values.get("department_id")))
        doing = f'users create (login "{values.get("login")}")'
        return self._written(self.client.call("POST", "/Users", doing, json=body))

    def _update_users(self, lms_id: str, values: dict) -> str:
        name = self.departments.name_of(values.get("department_id"))
        operations = user_patch(values, name)
        if operations:
            self._patch(f"/Users/{lms_id}", operations, f"users update of {lms_id}", lms_id)
        return lms_id

    def _patch(self, path: str, operations: list[dict], doing: str, resource_id: str) -> None:
        with self.lock:
            writing = self.writing[resource_id]
        with writing:
            response = self.client.patch(path, operations, doing, self.versions.get(resource_id))
            self._written(response, resource_id)

    def _delete_users(self, lms_id: str, _values) -> str:
        self.client.call(
            "DELETE", f"/Users/{lms_id}", f"users delete of {lms_id}", etag=self.versions.get(lms_id)
        )
        return lms_id

    def _create_groups(self, _lms_id, values: dict) -> str:
        body = {"schemas": [CORE_GROUP], "displayName": values.get("name")}
        doing = f'groups create ("{values.get("name")}")'
        return self._written(self.client.call("POST", "/Groups", doing, json=body))

    def _update_groups(self, lms_id: str, values: dict) -> str:
        if "name" in values:
            operations = [{"op": "replace", "path": "displayName", "value": values["name"]}]
            self._patch(f"/Groups/{lms_id}", operations, f"groups update of {lms_id}", lms_id)
        return lms_id

    def _delete_groups(self, lms_id: str, _values) -> str:
        self.client.call(
            "DELETE", f"/Groups/{lms_id}", f"groups delete of {lms_id}", etag=self.versions.get(lms_id)
        )
        return lms_id

    def _add_member_group_members(self, group_id: str, values: dict) -> str:
        operations = [{"op": "add", "path": "members", "value": [{"value": _member(values)}]}]
        self._patch(
            f"/Groups/{group_id}", operations, f"adding {_member(values)} to group {group_id}", group_id
        )
        return group_id

    def _remove_member_group_members(self, group_id: str, values: dict) -> str:
        member = _member(values).replace("\\", "\\\\").replace('"', '\\"')
        operations = [{"op": "remove", "path": f'members[value eq "{member}"]'}]
        self._patch(
            f"/Groups/{group_id}", operations, f"removing {_member(values)} from group {group_id}", group_id
        )
        return group_id

    def _create_departments(self, _lms_id, values: dict) -> str:
        return self.departments.create(values)

    def _update_departments(self, lms_id: str, values: dict) -> str:
        """A renamed department is renamed on every user who carries it: one PATCH per user."""
        old, new = self.departments.update(lms_id, values)
        if old != new:
            path = f"{ENTERPRISE}:department"
            for user in self.client.search("/Users", path, old, f'reading the users of department "{old}"'):
                self._remember(user["id"], (user.get("meta") or {}).get("version"))
                operations = [{"op": "replace", "path": path, "value": new}]
                self._patch(f"/Users/{user['id']}", operations, f'renaming department "{old}"', user["id"])
        return lms_id

    def _delete_departments(self, lms_id: str, _values) -> str:
        self.departments.delete(lms_id)
        return lms_id

    def find(self, operation: Operation) -> str | None:
        """The record an interrupted create may have made: users by userName then email, groups by name."""
        values = operation.values
        if operation.entity == "departments":
            return self.departments.find(values.get("code"))
        lookups = {
            "users": [("userName", values.get("login")), ("emails.value", values.get("email"))],
            "groups": [("displayName", values.get("name"))],
        }.get(operation.entity, [])
        path = "/Users" if operation.entity == "users" else "/Groups"
        for attribute, value in lookups:
            if value:
                found = self.client.search(path, attribute, value, f"looking up {operation.entity} {value}")
                if found:
                    self._remember(found[0]["id"], (found[0].get("meta") or {}).get("version"))
                    return found[0]["id"]
        return None


def _member(values: dict) -> str:
    if set(values) != {"user_id"} or not values["user_id"]:
        raise TargetError(f"a membership change takes {{'user_id': ...}}, got {values}")
    return str(values["user_id"])


def _check_mapping(spec, config) -> None:
    """Refuse, before any call, a mapping SCIM cannot hold: it would be planned again on every sync."""
    for name, sync in config.syncs.items():
        if sync.target is not spec:
            continue
        if sync.fields.users.functional_manager is not None:
            raise TargetError(
                f"sync {name}: a SCIM target has no functional manager; remove fields.users.functional_manager"
            )
        for custom in sync.fields.users.custom:
            try:
                custom_path(custom)
            except TargetError as error:
                raise TargetError(f"sync {name}: fields.users.custom.{custom}: {error}") from None


def make(spec, config) -> ScimLms:
    _check_mapping(spec, config)
    client = ScimClient(spec.url, spec.token)
    return ScimLms(client, Departments(config.resolve_url(config.state.url), spec.url.rstrip("/")))
