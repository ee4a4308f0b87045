"""What the fake TalentLMS portal does for each v1 action, with the refusals the real portal answers.

Messages are the LMS's own (as client libraries map them); the few no client documents (a taken branch
name or group key, deleting a branch that has users, a missing mandatory field) are marked in api-notes.
"""

from __future__ import annotations

import re

STRONG = re.compile(r"(?=.*[A-Z])(?=.*[a-z])(?=.*\d).{8,}")
WEAK = (
    "Password is not strong enough (should have at least (1) upper case letter, at least (1) lower case "
    "letter, at least (1) number, at least (8) characters in length)"
)


class Refused(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request"):
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


class PortalActions:
    """Mixed into FakeTalentLms: `do_<action>(params)` answers one call, holding the portal's lock."""

    # ---- users ----
    def _user(self, user_id) -> dict:
        if str(user_id) not in self.users:
            raise Refused(404, "The requested user does not exist", "not_found")
        return self.users[str(user_id)]

    def _full(self, user) -> dict:
        return {
            **user,
            "courses": [],
            "certifications": [],
            "badges": [],
            "branches": [
                {"id": b["id"], "name": b["name"]} for b in self.branches.values() if user["id"] in b["users"]
            ],
            "groups": [
                {"id": g["id"], "name": g["name"]} for g in self.groups.values() if user["id"] in g["users"]
            ],
        }

    def do_users(self, params):
        if not params:
            return [dict(user) for user in self.users.values()]
        for name, column in (("id", "id"), ("email", "email"), ("username", "login")):
            if name in params:
                found = [u for u in self.users.values() if u[column].casefold() == params[name].casefold()]
                if not found:
                    raise Refused(404, "The requested user does not exist", "not_found")
                return self._full(found[0])
        raise Refused(400, "Invalid arguments provided")

    def _unique(self, params, user_id=None) -> None:
        for name, message in (("login", "login"), ("email", "email address")):
            value = params.get(name)
            if value and any(
                u[name].casefold() == value.casefold() and u["id"] != user_id for u in self.users.values()
            ):
                raise Refused(400, f"A user with the same {message} already exists")

    def _custom(self, params, creating: bool) -> dict:
        custom = {f["key"]: params[f["key"]] for f in self.fields if f["key"] in params}
        if creating:
            for field in self.fields:
                if field["mandatory"] == "yes" and not custom.get(field["key"]):
                    raise Refused(400, f"The field '{field['name']}' is mandatory")
        return custom

    def do_usersignup(self, params):
        for name in ("first_name", "last_name", "email", "login", "password"):
            if not params.get(name):
                raise Refused(400, "Invalid arguments provided")
        if not STRONG.fullmatch(params["password"]):
            raise Refused(400, WEAK)
        self._unique(params)
        custom = self._custom(params, creating=True)
        user_id = self.add_user(
            params["login"],
            params["email"],
            params["first_name"],
            params["last_name"],
            status=self.signup_status,
        )
        self.users[user_id].update(custom)
        return {**self.users[user_id], "id": int(user_id)}

    def do_edituser(self, params):
        user = self._user(params["user_id"])
        self._unique(params, user["id"])
        user.update({k: params[k] for k in ("login", "email", "first_name", "last_name") if k in params})
        user.update(self._custom(params, creating=False))
        return dict(user)

    def do_usersetstatus(self, params):
        user = self._user(params["user_id"])
        if params["status"] not in ("active", "inactive"):
            raise Refused(400, "Invalid arguments provided")
        user["status"] = params["status"]
        return {"user_id": user["id"], "status": user["status"]}

    # ---- groups ----
    def _group(self, group_id) -> dict:
        if str(group_id) not in self.groups:
            raise Refused(404, "The requested group does not exist", "not_found")
        return self.groups[str(group_id)]

    def _listing(self, records, record_id, extra):
        if record_id is None:
            return [{k: v for k, v in r.items() if k != "users"} for r in records.values()]
        record = records[str(record_id)]
        users = [
            {"id": u, "name": f"{self.users[u]['first_name'][:1]}. {self.users[u]['last_name']}"}
            for u in record["users"]
        ]
        return {**{k: v for k, v in record.items() if k != "users"}, "users": users, **extra}

    def do_groups(self, params):
        if "id" in params:
            self._group(params["id"])
        group = {"price": "&#36;0.00", "owner_id": "1", "belongs_to_branch": None}
        return self._listing(self.groups, params.get("id"), {"courses": [], **group})

    def do_creategroup(self, params):
        if not params.get("name"):
            raise Refused(400, "Invalid arguments provided")
        key = params.get("key") or f"k{self.next_id}"
        if any(g["key"] == key for g in self.groups.values()):
            raise Refused(400, "A group with the same key already exists")
        group_id = self.add_group(params["name"], key)
        return {**{k: v for k, v in self.groups[group_id].items() if k != "users"}, "id": int(group_id)}

    def do_addusertogroup(self, params):
        user = self._user(params["user_id"])
        group = next((g for g in self.groups.values() if g["key"] == params["group_key"]), None)
        if group is None:
            raise Refused(404, "There is no group with such key", "not_found")
        if user["id"] in group["users"]:
            raise Refused(400, "The requested user is already a member of this group")
        group["users"].append(user["id"])
        return {"user_id": user["id"], "group_id": group["id"], "group_name": group["name"]}

    def do_removeuserfromgroup(self, params):
        user, group = self._user(params["user_id"]), self._group(params["group_id"])
        if user["id"] not in group["users"]:
            raise Refused(400, "The requested user is not a member of this group")
        group["users"].remove(user["id"])
        return {"user_id": user["id"], "group_id": group["id"], "group_name": group["name"]}

    # ---- branches ----
    def _branch(self, branch_id) -> dict:
        if str(branch_id) not in self.branches:
            raise Refused(404, "The requested branch does not exist", "not_found")
        return self.branches[str(branch_id)]

    def do_branches(self, params):
        if "id" in params:
            self._branch(params["id"])
        return self._listing(self.branches, params.get("id"), {"courses": []})

    def do_createbranch(self, params):
        name = params.get("name")
        if not name:
            raise Refused(400, "Invalid arguments provided")
        if any(b["name"].casefold() == name.casefold() for b in self.branches.values()):
            raise Refused(400, "A branch with the same name already exists")
        branch_id = self.add_branch(name, params.get("description") or "")
        return {"id": int(branch_id), "name": name, "description": params.get("description") or ""}

    def do_deletebranch(self, params):
        branch = self._branch(params["branch_id"])
        if branch["users"]:
            raise Refused(400, "The branch cannot be deleted because it has users")
        del self.branches[branch["id"]]
        return {"message": "Operation completed successfully"}

    def do_addusertobranch(self, params):
        user, branch = self._user(params["user_id"]), self._branch(params["branch_id"])
        if user["id"] in branch["users"]:
            raise Refused(400, "The requested user is already a member of this branch")
        branch["users"].append(user["id"])
        return {"user_id": user["id"], "branch_id": branch["id"], "branch_name": branch["name"]}

    def do_removeuserfrombranch(self, params):
        user, branch = self._user(params["user_id"]), self._branch(params["branch_id"])
        if user["id"] not in branch["users"]:
            raise Refused(400, "The requested user is not a member of this branch")
        branch["users"].remove(user["id"])
        return {"user_id": user["id"], "branch_id": branch["id"], "branch_name": branch["name"]}

    def do_getcustomregistrationfields(self, _params):
        return [dict(field) for field in self.fields]
