"""iSpring Learn (REST v3) as a RosterSync target: users, the department tree, groups and supervisors.

One engine operation is one iSpring call wherever the API allows: a profile change, a move and a rename go
in one `POST /user/{id}`; status and supervisors have their own endpoints, so only an operation that
changes them as well costs a second call. iSpring wants the login on every profile update and replaces a
group's whole member list on `POST /group/{id}/members`, so the target keeps a directory of logins and
memberships, read once (one call per 1,000 users) the first time a write needs it, and adds members to a
group one thread at a time so no concurrent add loses another's member.
"""

from __future__ import annotations

import threading
from collections import defaultdict

from rostersync_pipelines.errors import TargetError
from rostersync_pipelines.targets.base import LmsState, Operation
from rostersync_pipelines.targets.ispring_client import IspringClient
from rostersync_pipelines.targets.ispring_state import (
    BASE_FIELDS,
    STATUS_CODE,
    lms_state,
    root_department,
    unwrap,
)

SUPERVISORS = {"manager_id": "subordination", "functional_manager_id": "coSubordination"}
IGNORED = {"user_unique_key", "department_unique_key", "role"}  # iSpring has no place for them


class IspringLearn:
    def __init__(self, client: IspringClient):
        self.client = client
        self._lock = threading.Lock()
        self._group_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._root: str | None = None
        self._logins: dict[str, str] | None = None  # user id -> login
        self._members: dict[str, set[str]] | None = None  # group id -> user ids

    @property
    def http_session(self):
        """The session every call goes through: the apply engine paces it to the LMS's rate limit."""
        return self.client.session

    def dispose(self) -> None:
        self.client.close()

    def read_state(self) -> LmsState:
        users = list(self.client.pages("/users/v2", "userProfiles"))
        departments = list(self.client.pages("/departments", "departments"))
        groups = list(self.client.pages("/groups", "groups"))
        with self._lock:
            self._remember(users, departments)
        return lms_state(users, departments, groups)

    def _remember(self, users: list[dict], departments: list[dict] | None) -> None:
        if departments is not None:
            self._root = root_department(departments)
        state = lms_state(users, [], [])
        self._logins = dict(zip(state.users["id"], state.users["login"], strict=True))
        self._members = defaultdict(set)
        for group_id, user_id in state.group_members.itertuples(index=False):
            self._members[group_id].add(user_id)

    def _directory(self) -> tuple[dict[str, str], dict[str, set[str]]]:
        with self._lock:
            if self._logins is None:
                self._remember(list(self.client.pages("/users/v2", "userProfiles")), None)
            return self._logins, self._members

    def _root_id(self) -> str:
        with self._lock:
            if self._root is None:
                self._root = root_department(list(self.client.pages("/departments", "departments")))
            if self._root is None:
                raise TargetError("iSpring Learn answered no root department: check the API client's role")
            return self._root

    # apply -------------------------------------------------------------------------------------------

    def apply(self, operation: Operation) -> str | None:
        handler = getattr(self, f"_{operation.action}_{operation.entity}", None)
        if handler is None:
            raise TargetError(f'iSpring Learn target cannot "{operation.action}" {operation.entity}')
        if operation.action != "create" and not operation.lms_id:
            raise TargetError(f"{operation.entity} {operation.action} needs an lms_id")
        values = {name: value for name, value in operation.values.items() if name not in IGNORED}
        return handler(operation.lms_id, values)

    def _create_users(self, _lms_id, values: dict) -> str:
        body = {
            "departmentId": values.get("department_id") or self._root_id(),
            "fields": self._fields(values, values.get("login")),
            "sendLoginEmail": False,  # a sync never mails thousands of invitations by surprise
        }
        user_id = self.client.call("POST", "/user", json=body)
        if not isinstance(user_id, str):
            raise TargetError(f"iSpring Learn created user {values.get('login')} but answered no id")
        if self._logins is not None:
            self._logins[user_id] = values.get("login")
        self._status_and_supervisors(user_id, values, creating=True)
        return user_id

    def _update_users(self, lms_id: str, values: dict) -> str:
        profile = {name: values[name] for name in (*BASE_FIELDS, "custom_fields") if name in values}
        if profile or "department_id" in values:
            body = {}
            if "department_id" in values:
                body["departmentId"] = values["department_id"] or self._root_id()
            if profile:
                logins, _ = self._directory()
                login = values.get("login") or logins.get(lms_id) or self._login_of(lms_id)
                body["fields"] = self._fields(values, login)
            self.client.call("POST", f"/user/{lms_id}", json=body)
            if "login" in values and self._logins is not None:
                self._logins[lms_id] = values["login"]
        self._status_and_supervisors(lms_id, values, creating=False)
        return lms_id

    def _status_and_supervisors(self, user_id: str, values: dict, creating: bool) -> None:
        status = values.get("status")
        if status is not None and not (creating and status == "active"):
            if status not in STATUS_CODE:
                raise TargetError(f'status "{status}" is not one of active, inactive')
            self.client.call("POST", f"/user/{user_id}/status", json={"status": STATUS_CODE[status]})
        chosen = {
            key: {"subordinationType": "manual", "supervisorId": values[name]}
            for name, key in SUPERVISORS.items()
            if values.get(name)  # blank: the LMS keeps what it has (inherit from the department)
        }
        if chosen:
            self.client.call("POST", f"/user/{user_id}/subordination", json=chosen)

    def _login_of(self, user_id: str) -> str | None:
        user = unwrap(self.client.call("GET", f"/user/{user_id}")) or {}
        return lms_state([user], [], []).users["login"].iloc[0] if user else None

    @staticmethod
    def _fields(values: dict, login: str | None) -> dict:
        fields = {"login": login}
        fields |= {name: values[name] for name in BASE_FIELDS[1:] if values.get(name) is not None}
        fields |= {
            name: value for name, value in (values.get("custom_fields") or {}).items() if value is not None
        }
        return fields

    def _delete_users(self, lms_id: str, _values) -> str:
        self.client.call("DELETE", f"/user/{lms_id}")
        return lms_id

    def _create_departments(self, _lms_id, values: dict) -> str:
        body = {
            "name": values.get("name") or values.get("code"),
            "parentDepartmentId": values.get("parent_id") or self._root_id(),
        }
        if values.get("code"):
            body["code"] = values["code"]
        department_id = self.client.call("POST", "/department", json=body)
        if not isinstance(department_id, str):
            raise TargetError(f"iSpring Learn created department {values.get('code')} but answered no id")
        return department_id

    def _update_departments(self, lms_id: str, values: dict) -> str:
        body = {key: values[name] for name, key in (("name", "name"), ("code", "code")) if values.get(name)}
        if "parent_id" in values:
            body["parentDepartmentId"] = values["parent_id"] or self._root_id()
        if body:
            self.client.call("POST", f"/department/{lms_id}", json=body)
        return lms_id

    def _delete_departments(self, lms_id: str, _values) -> str:
        self.client.call("DELETE", f"/department/{lms_id}")
        return lms_id

    def _create_groups(self, _lms_id, values: dict) -> str:
        group_id = self.client.call("POST", "/group", json={"name": values.get("name")})
        if not isinstance(group_id, str):
            raise TargetError(f"iSpring Learn created group {values.get('name')} but answered no id")
        if self._members is not None:
            self._members[group_id] = set()
        return group_id

    def _update_groups(self, lms_id: str, values: dict) -> str:
        if values.get("name"):
            self.client.call("POST", f"/group/{lms_id}", json={"name": values["name"]})
        return lms_id

    def _delete_groups(self, lms_id: str, _values) -> str:
        self.client.call("DELETE", f"/group/{lms_id}")
        return lms_id

    def _add_member_group_members(self, group_id: str, values: dict) -> str:
        user_id = _member(values)
        _, members = self._directory()
        with self._group_locks[group_id]:
            current = members[group_id]
            if user_id not in current:
                # the call replaces the whole list: send everyone already in, plus the newcomer
                self.client.call("POST", f"/group/{group_id}/members", json={"userIds": [*current, user_id]})
                current.add(user_id)
        return group_id

    def _remove_member_group_members(self, group_id: str, values: dict) -> str:
        user_id = _member(values)
        _, members = self._directory()
        with self._group_locks[group_id]:
            self.client.call("POST", f"/user/{user_id}/groups/remove", json={"groupIds": [group_id]})
            members[group_id].discard(user_id)
        return group_id

    # find --------------------------------------------------------------------------------------------

    def find(self, operation: Operation) -> str | None:
        values = operation.values
        if operation.entity == "users":
            for name in ("login", "email"):
                if values.get(name):
                    params = {f"{name}s[]": values[name]}
                    found = (self.client.call("GET", "/users/v2", params=params) or {}).get("userProfiles")
                    if found:
                        return found[0]["userId"]
            return None
        if operation.entity == "departments" and values.get("code"):
            body = self.client.call("GET", "/department", params={"code": values["code"]}) or {}
            matches = [d for d in body.get("departments") or [] if d.get("code") == values["code"]]
            return matches[0]["departmentId"] if matches else None
        if operation.entity == "groups" and values.get("name"):
            name = str(values["name"]).strip().casefold()
            for group in self.client.pages("/groups", "groups"):
                if str(group.get("name", "")).strip().casefold() == name:
                    return group["groupId"]
        return None


def _member(values: dict) -> str:
    if set(values) != {"user_id"} or not values["user_id"]:
        raise TargetError(f"a membership change takes {{'user_id': ...}}, got {values}")
    return values["user_id"]


def make(spec, config) -> IspringLearn:
    return IspringLearn(IspringClient(spec.url, spec.client_id, spec.client_secret))
