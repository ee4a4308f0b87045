"""TalentLMS (API v1) as a RosterSync target: departments are branches, groups are groups.

Branches are flat (a parent is left out of the plan, with a note on the row); a group is joined by its
key, so every group this sync creates gets one. Deactivation sets the status inactive and never deletes,
since deleting a TalentLMS user loses their learning history. SuperAdmins are refused here as well as in
the plan. Pacing belongs to the apply engine; this module only backs off when throttled.
"""

from __future__ import annotations

import secrets
import string
import threading

from rostersync_pipelines.errors import TargetError
from rostersync_pipelines.targets.base import LmsState, Operation
from rostersync_pipelines.targets.talentlms_client import TalentLmsClient
from rostersync_pipelines.targets.talentlms_state import (
    Portal,
    read_branches,
    read_fields,
    read_group_keys,
    read_state,
)

PROFILE = ("login", "email", "first_name", "last_name")
IGNORED = frozenset({"user_unique_key", "manager_id", "functional_manager_id", "role", "parent_id"})


def new_password() -> str:
    """Strong enough for TalentLMS's rule (upper, lower, digit, 8+); never logged, never kept: people sign
    in with SSO or reset it."""
    alphabet = string.ascii_letters + string.digits
    core = "".join(secrets.choice(alphabet) for _ in range(20))
    return core + secrets.choice(string.ascii_uppercase) + secrets.choice(string.ascii_lowercase) + "7"


class TalentLms:
    """The `Target` for one TalentLMS portal; see the module docstring."""

    def __init__(self, client: TalentLmsClient):
        self.client = client
        self.portal = Portal()
        self._lock = threading.Lock()
        self._loaded: set[str] = set()

    @property
    def http_session(self):
        """The session every call goes through: the apply engine paces it to the LMS's rate limit."""
        return self.client.session

    def dispose(self) -> None:
        self.client.session.close()

    def read_state(self) -> LmsState:
        with self._lock:
            state = read_state(self.client, self.portal)
            self._loaded |= {"fields", "groups", "branches"}
            return state

    def _need(self, part: str) -> None:
        """Apply often runs in a fresh target: read what it needs once, on first use, not per operation."""
        if part in self._loaded:
            return
        with self._lock:
            if part not in self._loaded:
                {"fields": read_fields, "groups": read_group_keys, "branches": read_branches}[part](
                    self.client, self.portal
                )
                self._loaded.add(part)

    def apply(self, operation: Operation) -> str | None:
        handler = getattr(self, f"_{operation.action}_{operation.entity}", None)
        if handler is None:
            raise TargetError(f"TalentLMS cannot {operation.action} {operation.entity}")
        return handler(operation.lms_id, dict(operation.values))

    def _create_users(self, _lms_id, values: dict) -> str:
        form = {name: values.get(name) for name in PROFILE} | self._custom(values.get("custom_fields"), True)
        created = self.client.post("usersignup", **form, password=new_password())
        user_id = str(created["id"])
        if values.get("department_id"):
            self._join_branch(user_id, str(values["department_id"]))
        wanted = values.get("status") or "active"
        if created.get("status") != wanted:  # portals that activate by hand create users inactive
            self.client.get("usersetstatus", user_id=user_id, status=wanted)
        return user_id

    def _update_users(self, lms_id, values: dict) -> str:
        user_id = str(lms_id)
        self._refuse_superadmin(user_id)
        form = {name: values[name] for name in PROFILE if name in values and values[name] is not None}
        if "custom_fields" in values:
            form |= self._custom(values["custom_fields"], False)
        if form:
            self.client.post("edituser", user_id=user_id, **form)
        if values.get("department_id"):
            self._need("branches")
            old = (self.portal.user_branches.get(user_id) or [None])[0]
            if old is not None:
                self.client.get("removeuserfrombranch", user_id=user_id, branch_id=old)
                self.portal.user_branches[user_id].remove(old)
            self._join_branch(user_id, str(values["department_id"]))
        if values.get("status"):
            self.client.get("usersetstatus", user_id=user_id, status=values["status"])
        return user_id

    def _refuse_superadmin(self, user_id: str) -> None:
        if user_id in self.portal.superadmins:
            raise TargetError(f"TalentLMS user {user_id} is a SuperAdmin: RosterSync never changes one")

    def _join_branch(self, user_id: str, branch_id: str) -> None:
        self.client.get("addusertobranch", user_id=user_id, branch_id=branch_id)
        self.portal.user_branches.setdefault(user_id, []).insert(0, branch_id)

    def _custom(self, fields: dict | None, creating: bool) -> dict:
        """Registration-field names -> custom_field_N; a mandatory field left blank is refused here, with the
        fix, rather than by the LMS."""
        self._need("fields")
        fields = {name: value for name, value in (fields or {}).items() if value is not None}
        unknown = sorted(set(fields) - set(self.portal.field_keys))
        if unknown:
            raise TargetError(
                f"TalentLMS has no custom registration field named {', '.join(unknown)}: create it under "
                "Account & Settings > Users > User types/Custom fields, or drop it from fields.users.custom"
            )
        missing = sorted(self.portal.mandatory - set(fields)) if creating else []
        if missing:
            raise TargetError(
                f"TalentLMS custom field {', '.join(missing)} is mandatory: map it in fields.users.custom or "
                "give it a default in policies.custom_field_defaults"
            )
        return {self.portal.field_keys[name]: value for name, value in fields.items()}

    def _create_departments(self, _lms_id, values: dict) -> str:
        branch = self.client.post("createbranch", name=values.get("code"), description=values.get("name"))
        return str(branch["id"])

    def _update_departments(self, lms_id, values: dict) -> str:
        if values.get("code") is not None:
            raise TargetError(
                f'TalentLMS API v1 cannot rename branch {lms_id} to "{values["code"]}": rename it in TalentLMS'
            )
        return str(lms_id)

    def _delete_departments(self, lms_id, _values) -> str:
        self.client.post("deletebranch", branch_id=lms_id)
        return str(lms_id)

    def _create_groups(self, _lms_id, values: dict) -> str:
        key = secrets.token_hex(6)  # users join a TalentLMS group by its key
        group = self.client.post("creategroup", name=values.get("name"), key=key)
        self.portal.group_keys[str(group["id"])] = group.get("key") or key
        return str(group["id"])

    def _add_member_group_members(self, group_id, values: dict) -> str:
        key = self.portal.group_keys.get(str(group_id))
        if key is None:
            self._need("groups")
            key = self.portal.group_keys.get(str(group_id))
        if not key:
            raise TargetError(f"TalentLMS group {group_id} has no group key: give it one in TalentLMS")
        self.client.get("addusertogroup", user_id=values["user_id"], group_key=key)
        return str(group_id)

    def _remove_member_group_members(self, group_id, values: dict) -> str:
        self.client.get("removeuserfromgroup", user_id=values["user_id"], group_id=group_id)
        return str(group_id)

    def find(self, operation: Operation) -> str | None:
        values = operation.values
        if operation.entity == "users":
            for name, param in (("login", "username"), ("email", "email")):
                if values.get(name):
                    found = self.client.find("users", **{param: values[name]})
                    if found:
                        return str(found["id"])
            return None
        action, name = {"departments": ("branches", "code"), "groups": ("groups", "name")}[operation.entity]
        wanted = str(values.get(name) or "").casefold()
        listed = self.client.get(action) or []
        return next((str(item["id"]) for item in listed if item["name"].casefold() == wanted), None)


def make(spec, _config) -> TalentLms:
    return TalentLms(TalentLmsClient(spec.url, spec.api_key))
