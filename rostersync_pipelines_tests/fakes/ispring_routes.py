"""The endpoints of the iSpring fake (see fakes/ispring.py), each refusing what iSpring refuses.

Unique login and email use the vendor's documented texts ("User with the same login is already
registered." on create with 409; "Invalid value X. Field login must be unique." on update with 400); the
other refusals have no documented text and use plain `{code, message}` sentences.
"""

from __future__ import annotations

ID = "([0-9a-f-]{36})"
STATUSES = (1, 3, 5)
SUBORDINATION_TYPES = ("manual", "inherit", "no_supervisor")


class Refused(Exception):
    """An answer of `{code, message}` with that status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _refused(status, message):
    return Refused(status, message)


def _user(fake, user_id) -> dict:
    if user_id not in fake.users:
        raise _refused(404, "Unknown user")
    return fake.users[user_id]


def _department(fake, department_id, what="Department") -> dict:
    if department_id not in fake.departments:
        raise _refused(400, f"{what} {department_id} not found")
    return fake.departments[department_id]


def _group(fake, group_id) -> dict:
    if group_id not in fake.groups:
        raise _refused(404, "Group not found")
    return fake.groups[group_id]


def _check_unique(fake, fields: dict, user_id, creating: bool) -> None:
    for name in ("login", "email"):
        value = fields.get(name)
        holder = fake.taken.get((name, value.lower())) if value else None
        if holder is not None and holder != user_id:
            if creating:
                raise _refused(409, f"User with the same {name} is already registered.")
            raise _refused(400, f"Invalid value {value}. Field {name} must be unique.")


def _profile(fields) -> dict:
    if not isinstance(fields, dict):
        raise _refused(400, "fields must be an object")
    if not fields.get("login"):
        raise _refused(400, "Field login is required")
    return {str(name).lower(): value for name, value in fields.items()}


# users --------------------------------------------------------------------------------------------------


def list_users(fake, body, params):
    users = [fake.user_view(u) for u in fake.users.values()]
    for key, field in (("logins[]", "LOGIN"), ("emails[]", "EMAIL")):
        if key in params:
            wanted = {value.lower() for value in params[key]}
            users = [u for u in users if any(f["name"] == field and (f["value"] or "").lower() in wanted
                                             for f in u["fields"])]  # fmt: skip
    if "userIds[]" in params:
        users = [u for u in users if u["userId"] in params["userIds[]"]]
    return 200, fake.page(users, params, "userProfiles")


def get_user(fake, user_id, body, params):
    return 200, {"response": fake.user_view(_user(fake, user_id))}


def create_user(fake, body, params):
    fields = _profile(body.get("fields"))
    _department(fake, body.get("departmentId"))
    _check_unique(fake, fields, None, creating=True)
    role = body.get("role") or "learner"
    user_id = fake.add_user(
        fields.pop("login"), fields.pop("email", None), role, body["departmentId"], **fields
    )
    return 201, user_id


def update_user(fake, user_id, body, params):
    user = _user(fake, user_id)
    if "departmentId" in body:
        _department(fake, body["departmentId"])
    if "fields" in body:
        fields = _profile(body["fields"])
        _check_unique(fake, fields, user_id, creating=False)
        fake.index(user, add=False)
        user["fields"].update(fields)
        fake.index(user)
    if "departmentId" in body:
        user["departmentId"] = body["departmentId"]
    return 200, None


def set_status(fake, user_id, body, params):
    user = _user(fake, user_id)
    if body.get("status") not in STATUSES:
        raise _refused(400, "status must be one of 1, 3, 5")
    user["status"] = body["status"]
    return 200, None


def set_subordination(fake, user_id, body, params):
    user = _user(fake, user_id)
    for key in ("subordination", "coSubordination"):
        if key not in body:
            continue
        chosen = body[key]
        if chosen.get("subordinationType") not in SUBORDINATION_TYPES:
            raise _refused(400, f"{key}.subordinationType must be one of {', '.join(SUBORDINATION_TYPES)}")
        if chosen["subordinationType"] == "manual":
            supervisor = chosen.get("supervisorId")
            if supervisor not in fake.users or supervisor == user_id:
                raise _refused(400, f"Supervisor {supervisor} not found")
        user[key] = dict(chosen)
    return 204, None


def delete_user(fake, user_id, body, params):
    fake.index(_user(fake, user_id), add=False)
    del fake.users[user_id]
    for group in fake.groups.values():
        group["userIds"] = [member for member in group["userIds"] if member != user_id]
    return 204, None


def remove_user_groups(fake, user_id, body, params):
    _user(fake, user_id)
    for group_id in body["groupIds"]:
        group = _group(fake, group_id)
        group["userIds"] = [member for member in group["userIds"] if member != user_id]
    return 200, None


# departments --------------------------------------------------------------------------------------------


def list_departments(fake, body, params):
    return 200, fake.page(list(map(_department_view, fake.departments.values())), params, "departments")


def find_departments(fake, body, params):
    code = (params.get("code") or [None])[0]
    found = [d for d in fake.departments.values() if code is None or d["code"] == code]
    return 200, {"departments": list(map(_department_view, found))}


def _department_view(department: dict) -> dict:
    inherit = {"subordinationType": "inherit"}
    return {**department, "subordination": inherit, "coSubordination": inherit}


def create_department(fake, body, params):
    if not body.get("name"):
        raise _refused(400, "Field name is required")
    _department(fake, body.get("parentDepartmentId"), "Parent department")
    return 201, fake.add_department(body["name"], body.get("code"), body["parentDepartmentId"])


def update_department(fake, department_id, body, params):
    department = _department(fake, department_id)
    parent = body.get("parentDepartmentId", department["parentDepartmentId"])
    if department_id == fake.root and parent is not None:
        raise _refused(400, "The root department cannot be moved")
    ancestor = parent
    while ancestor is not None:
        if ancestor == department_id:
            raise _refused(400, "A department cannot be moved into its own sub-department")
        ancestor = _department(fake, ancestor, "Parent department")["parentDepartmentId"]
    department.update({key: body[key] for key in ("name", "code", "parentDepartmentId") if key in body})
    return 204, None


def delete_department(fake, department_id, body, params):
    _department(fake, department_id)
    if department_id == fake.root:
        raise _refused(403, "The root department cannot be deleted")
    if any(user["departmentId"] == department_id for user in fake.users.values()):
        raise _refused(400, "The department cannot be deleted because it contains users")
    if any(d["parentDepartmentId"] == department_id for d in fake.departments.values()):
        raise _refused(400, "The department cannot be deleted because it contains sub-departments")
    del fake.departments[department_id]
    return 204, None


# groups -------------------------------------------------------------------------------------------------


def list_groups(fake, body, params):
    groups = [{key: g[key] for key in ("groupId", "name", "isSmart")} for g in fake.groups.values()]
    return 200, fake.page(groups, params, "groups")


def get_group(fake, group_id, body, params):
    group = _group(fake, group_id)
    return 200, {**group, "usersCount": len(group["userIds"])}


def create_group(fake, body, params):
    if not body.get("name"):
        raise _refused(400, "Field name is required")
    members = body.get("userIds") or []
    for user_id in members:
        _user(fake, user_id)
    return 201, fake.add_group(body["name"], members)


def update_group(fake, group_id, body, params):
    _group(fake, group_id)["name"] = body["name"]
    return 200, None


def delete_group(fake, group_id, body, params):
    _group(fake, group_id)
    del fake.groups[group_id]
    return 204, None


def replace_members(fake, group_id, body, params):
    group = _group(fake, group_id)
    if group["isSmart"]:
        raise _refused(400, "Members of a smart group are set by its rules")
    for user_id in body["userIds"]:
        if user_id not in fake.users:
            raise _refused(400, f"User {user_id} not found")
    group["userIds"] = list(dict.fromkeys(body["userIds"]))
    return 200, None


ROUTES = [
    ("GET", "/users/v2", list_users),
    ("GET", f"/user/{ID}", get_user),
    ("POST", "/user", create_user),
    ("POST", f"/user/{ID}", update_user),
    ("POST", f"/user/{ID}/status", set_status),
    ("POST", f"/user/{ID}/subordination", set_subordination),
    ("POST", f"/user/{ID}/groups/remove", remove_user_groups),
    ("DELETE", f"/user/{ID}", delete_user),
    ("GET", "/departments", list_departments),
    ("GET", "/department", find_departments),
    ("POST", "/department", create_department),
    ("POST", f"/department/{ID}", update_department),
    ("DELETE", f"/department/{ID}", delete_department),
    ("GET", "/groups", list_groups),
    ("GET", f"/group/{ID}", get_group),
    ("POST", "/group", create_group),
    ("POST", f"/group/{ID}", update_group),
    ("DELETE", f"/group/{ID}", delete_group),
    ("POST", f"/group/{ID}/members", replace_members),
]
