"""The TalentLMS target one operation at a time against the fake portal: what each change costs, and
the LMS's refusals as a person reads them."""

from __future__ import annotations

import pytest
from wsgiadapter import WSGIAdapter

from rostersync_pipelines import http
from rostersync_pipelines.errors import TargetError
from rostersync_pipelines.targets.base import Operation
from rostersync_pipelines.targets.talentlms import TalentLms
from rostersync_pipelines.targets.talentlms_client import TalentLmsClient
from rostersync_pipelines_tests.fakes.talentlms import FakeTalentLms

URL, KEY = "https://acme.talentlms.com", "k"


@pytest.fixture
def portal():
    portal = FakeTalentLms(api_key=KEY, custom_fields=[("job_title", False), ("cost_center", True)])
    with http.extra_transports({URL: WSGIAdapter(portal)}):
        yield portal


@pytest.fixture
def target(portal):
    return TalentLms(TalentLmsClient(URL, KEY))


def new_user(login="jdoe", email="j.doe+lms@acme.example", **values):
    base = {"login": login, "email": email, "first_name": "Jane", "last_name": "Doe"}
    return Operation("users", "create", None, base | {"custom_fields": {"cost_center": "C1"}} | values)


def test_state_maps_types_branches_and_custom_fields_by_name(portal, target):
    sales, ops = portal.add_branch("SALES", "Sales"), portal.add_branch("OPS", "Operations")
    user = portal.add_user("ana", "ana@acme.example", "Ana", "Lind", user_type="Admin-Type", job_title="Chef")
    portal.branches[ops]["users"].append(user)
    portal.branches[sales]["users"].append(user)
    group = portal.add_group("Mentors", "mk")
    portal.groups[group]["users"].append(user)
    state = target.read_state()
    ana = state.users.set_index("login").loc["ana"]
    assert ana["role"] == "admin" and ana["department_id"] == sales, "several branches: the first (lowest id)"
    assert ana["custom_fields"] == {"job_title": "Chef"}
    assert state.users.set_index("login").at["admin", "role"] == "superadmin"
    assert state.departments.set_index("code").at["OPS", "name"] == "Operations"
    assert state.group_members.values.tolist() == [[group, user]]
    assert sum(portal.calls.values()) == 4 + 2 + 1, "users, fields, branches, groups + one per branch/group"


def test_create_joins_the_branch_and_maps_custom_fields(portal, target):
    branch = portal.add_branch("OPS")
    user_id = target.apply(
        new_user(department_id=branch, custom_fields={"job_title": "Cook", "cost_center": "C1"})
    )
    user = portal.users[user_id]
    assert (user["email"], user["custom_field_1"], user["custom_field_2"]) == (
        "j.doe+lms@acme.example",
        "Cook",
        "C1",
    )
    assert portal.branch_of(user_id) == ["OPS"]
    assert target.find(Operation("users", "create", None, {"login": "JDOE"})) == user_id
    assert target.find(Operation("users", "create", None, {"login": "x", "email": user["email"]})) == user_id
    assert target.find(Operation("users", "create", None, {"login": "nobody"})) is None
    assert target.find(Operation("departments", "create", None, {"code": "ops"})) == branch


def test_a_mandatory_field_without_a_value_is_refused_before_any_call(portal, target):
    with pytest.raises(TargetError, match="cost_center is mandatory.*custom_field_defaults"):
        target.apply(new_user(custom_fields={}))
    assert portal.write_calls() == 0


def test_refusals_carry_the_lms_message(portal, target):
    target.apply(new_user())
    with pytest.raises(TargetError, match="A user with the same email address already exists"):
        target.apply(new_user(login="other"))
    with pytest.raises(TargetError, match="A user with the same login already exists"):
        target.apply(new_user(email="else@acme.example"))
    with pytest.raises(TargetError, match="no custom registration field named shoe_size"):
        target.apply(
            new_user(
                login="x2", email="x2@acme.example", custom_fields={"shoe_size": "9", "cost_center": "C"}
            )
        )


def test_move_deactivate_and_memberships(portal, target):
    old, new = portal.add_branch("OLD"), portal.add_branch("NEW")
    user_id = target.apply(new_user(department_id=old))
    fresh = TalentLms(TalentLmsClient(URL, KEY))  # apply runs in a target that never read the state
    fresh.apply(Operation("users", "update", user_id, {"department_id": new, "status": "inactive"}))
    assert portal.branch_of(user_id) == ["NEW"] and portal.users[user_id]["status"] == "inactive"
    group = fresh.apply(Operation("groups", "create", None, {"name": "Green Team"}))
    fresh.apply(Operation("group_members", "add_member", group, {"user_id": user_id}))
    assert portal.groups[group]["users"] == [user_id]
    fresh.apply(Operation("group_members", "remove_member", group, {"user_id": user_id}))
    assert portal.groups[group]["users"] == []
    with pytest.raises(TargetError, match="has users"):
        fresh.apply(Operation("departments", "delete", new))
    assert portal.calls["deleteuser"] == 0


def test_a_superadmin_is_refused_by_the_target_too(portal, target):
    target.read_state()
    admin = portal.user_by_login("admin")["id"]
    with pytest.raises(TargetError, match="SuperAdmin"):
        target.apply(Operation("users", "update", admin, {"status": "inactive"}))
    assert portal.users[admin]["status"] == "active"


def test_persistent_500s_become_a_transient_error(portal, target, monkeypatch):
    from rostersync_pipelines.errors import TransientTargetError

    monkeypatch.setattr(http, "backoff", lambda attempt, **_: 0.0)
    portal.fail_next = 100
    with pytest.raises(TransientTargetError, match="500 after 7 tries"):
        target.apply(new_user())
