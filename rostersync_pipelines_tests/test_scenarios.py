"""Stories of several syncs in a row against the embedded LMS, as DESIGN §2 tells them."""

from __future__ import annotations

import datetime as dt

import pytest

from rostersync_pipelines_tests.roster import DEFAULT_DEPARTMENTS, Roster, one_row, person, rows_for


@pytest.fixture
def roster(tmp_path) -> Roster:
    return Roster(tmp_path)


def staff(count: int, **values) -> list[dict]:
    return [person(f"user{number:02d}", **values) for number in range(count)]


def test_email_changes_then_login_changes_one_account(roster):
    roster.write_users([person("ann"), person("bob")])
    roster.sync()
    ann_id = roster.users().at["ann", "id"]

    roster.write_users([person("ann", Email="ann.new@corp.example"), person("bob")])
    outcome = roster.sync()
    row = one_row(outcome.plan, "users", "ann")
    assert (row["action"], row["situation"]) == ("update", "linked")
    assert row["changes"]["email"] == ["ann@corp.example", "ann.new@corp.example"]

    roster.write_users([person("ann2", EmployeeId="E-ann", Email="ann.new@corp.example"), person("bob")])
    outcome = roster.sync()
    assert one_row(outcome.plan, "users", "ann2")["action"] == "update"
    users = roster.users()
    assert users.at["ann2", "id"] == ann_id
    assert "ann" not in users.index and len(users) == 2


def test_login_and_email_change_at_once_with_a_stable_key(roster):
    roster.write_users([person("cat")])
    roster.sync()
    cat_id = roster.users().at["cat", "id"]
    roster.write_users([person("catherine", EmployeeId="E-cat", Email="catherine@corp.example")])
    outcome = roster.sync()
    assert outcome.summary["users"] == {"update": 1}
    assert roster.users().at["catherine", "id"] == cat_id


def test_link_survives_when_matching_keys_change(tmp_path):
    """The link table is tried first, whatever keys the config matches on."""
    roster = Roster(tmp_path, matching={"users": ["login", "email"]})
    roster.write_users([person("dan")])
    roster.sync()
    roster.write_users([person("daniel", EmployeeId="E-dan", Email="daniel@corp.example")])
    outcome = roster.sync()
    row = one_row(outcome.plan, "users", "daniel")
    assert (row["action"], row["situation"]) == ("update", "linked")


def test_leave_and_return_keeps_the_account(roster):
    roster.write_users(staff(4) + [person("eve", Team="Mentors")])
    roster.sync()
    eve_id = roster.users().at["eve", "id"]

    roster.write_users(staff(4))
    outcome = roster.sync()
    row = one_row(outcome.plan, "users", "eve")
    assert (row["action"], row["situation"]) == ("deactivate", "missing")
    assert roster.users().at["eve", "status"] == "inactive"
    assert roster.members("Mentors") == {"eve"}, "a person who left keeps their memberships"

    roster.write_users(staff(4) + [person("eve", Team="Mentors")])
    outcome = roster.sync()
    assert one_row(outcome.plan, "users", "eve")["action"] == "reactivate"
    users = roster.users()
    assert users.at["eve", "status"] == "active" and users.at["eve", "id"] == eve_id


def test_returning_users_ignored_by_policy(tmp_path):
    roster = Roster(tmp_path, policies={"returning_users": "ignore"})
    roster.write_users(staff(4) + [person("fay")])
    roster.sync()
    roster.write_users(staff(4))
    roster.sync()
    roster.write_users(staff(4) + [person("fay", FirstName="Faye")])
    outcome = roster.sync()
    assert one_row(outcome.plan, "users", "fay")["action"] == "update"
    users = roster.users()
    assert users.at["fay", "status"] == "inactive" and users.at["fay", "first_name"] == "Faye"


def test_termination_date_deactivates_on_the_day_and_keeps_records(roster):
    roster.write_users(staff(4) + [person("gus", TerminationDate="2026-12-01")])
    roster.sync()
    assert roster.users().at["gus", "status"] == "active"
    outcome = roster.sync(today=dt.date(2026, 12, 1))
    row = one_row(outcome.plan, "users", "gus")
    assert row["action"] == "deactivate" and "terminated on 2026-12-01" in row["reason"]
    assert roster.users().at["gus", "status"] == "inactive"


def test_a_terminated_newcomer_is_not_created(roster):
    roster.write_users([person("hal", TerminationDate="2025-01-31"), person("ida", Status="Inactive")])
    outcome = roster.sync()
    assert set(outcome.plan.loc[outcome.plan["entity"] == "users", "action"]) == {"none"}
    assert roster.users().empty


def test_moving_departments_frees_a_missing_department_for_deletion(roster):
    departments = DEFAULT_DEPARTMENTS + [{"DeptId": "4", "Code": "LAB", "Name": "Lab", "Parent": "ENG"}]
    roster.write_departments(departments)
    roster.write_users([person("ivy", Dept="LAB"), person("jay", Dept="ENG")])
    roster.sync()

    roster.write_departments(DEFAULT_DEPARTMENTS)
    roster.write_users([person("ivy", Dept="OPS"), person("jay", Dept="ENG")])
    outcome = roster.sync()
    assert one_row(outcome.plan, "users", "ivy")["action"] == "move"
    assert one_row(outcome.plan, "departments", "LAB")["action"] == "delete"
    departments = roster.departments()
    assert "LAB" not in departments.index
    assert roster.users().at["ivy", "department_id"] == departments.at["OPS", "id"]


def test_a_missing_department_that_keeps_users_is_not_deleted(roster):
    departments = DEFAULT_DEPARTMENTS + [{"DeptId": "4", "Code": "LAB", "Name": "Lab", "Parent": "ENG"}]
    roster.write_departments(departments)
    roster.write_users([person("kim", Dept="LAB")] + staff(3))
    roster.sync()
    roster.write_departments(DEFAULT_DEPARTMENTS)
    roster.write_users(staff(3))
    outcome = roster.sync()
    row = one_row(outcome.plan, "departments", "LAB")
    assert row["action"] == "none" and "kim" in row["error"]
    assert "LAB" in roster.departments().index
    assert roster.users().at["kim", "status"] == "inactive"


def test_departments_are_created_parents_first_and_deleted_children_first(roster):
    deep = [
        {"DeptId": "10", "Code": "A", "Name": "A", "Parent": "HQ"},
        {"DeptId": "11", "Code": "A1", "Name": "A1", "Parent": "A"},
        {"DeptId": "12", "Code": "A11", "Name": "A11", "Parent": "A1"},
    ]
    roster.write_departments(list(reversed(deep)) + DEFAULT_DEPARTMENTS)
    roster.write_users([person("lee", Dept="A11")])
    roster.sync()
    departments = roster.departments()
    assert departments.at["A11", "parent_id"] == departments.at["A1", "id"]
    assert departments.at["A1", "parent_id"] == departments.at["A", "id"]

    roster.write_departments(DEFAULT_DEPARTMENTS)
    roster.write_users([person("lee", Dept="ENG")])
    outcome = roster.sync()
    deleted = outcome.plan[outcome.plan["action"] == "delete"].sort_values("order")
    assert list(deleted["key"]) == ["A11", "A1", "A"]
    assert outcome.failed == []
    assert not {"A", "A1", "A11"} & set(roster.departments().index)


def test_an_empty_file_holds_every_deactivation(roster):
    roster.write_users(staff(6))
    roster.sync()
    roster.write_users([])
    outcome = roster.sync()
    deactivations = outcome.plan[outcome.plan["action"] == "deactivate"]
    assert len(deactivations) == 6 and deactivations["held"].all()
    assert "returned no rows" in deactivations["reason"].iloc[0]
    assert set(roster.users()["status"]) == {"active"}


def test_half_the_file_missing_is_held_until_approved(roster):
    roster.write_users(staff(10))
    roster.sync()
    roster.write_users(staff(4))
    held_plan = roster.sync()
    held = held_plan.plan[held_plan.plan["held"]]
    assert len(held) == 6 and "shrank to 4 rows from 10" in held["reason"].iloc[0]
    assert (roster.users()["status"] == "active").all()

    roster.approve(held_plan.plan_id)
    released = roster.sync()
    assert released.applied.get("users deactivate") == 6
    assert (roster.users()["status"] == "inactive").sum() == 6
    assert roster.sync().summary["users"] == {}


def test_too_many_deactivations_are_held_and_the_rest_applies(tmp_path):
    roster = Roster(tmp_path, safety={"max_deactivations": 2})
    roster.write_users(staff(10))
    roster.sync()
    roster.write_users(staff(7)[1:] + [person("new")])
    outcome = roster.sync()
    assert outcome.summary["held"] == {"users deactivate": 4}
    assert outcome.applied == {"users create": 1}
    assert (roster.users()["status"] == "active").all()


def test_duplicate_emails_reject_both_rows_and_leave_their_accounts(roster):
    roster.write_users([person("max"), person("ned")] + staff(3))
    roster.sync()
    roster.write_users(
        [person("max", Email="shared@corp.example"), person("ned", Email="shared@corp.example")] + staff(3)
    )
    outcome = roster.sync()
    rejects = outcome.summary["rejected_rows"]
    assert rejects == 2
    assert rows_for(outcome.plan, "users", "max").empty and rows_for(outcome.plan, "users", "ned").empty
    users = roster.users()
    assert users.at["max", "email"] == "max@corp.example" and users.at["max", "status"] == "active"


def test_protected_admin_and_superadmin_are_never_touched(roster):
    roster.seed("users", login="admin", email="admin@corp.example", role="admin")
    roster.seed("users", login="root", email="root@corp.example", role="superadmin")
    roster.write_users(staff(8) + [person("root", Email="root@corp.example", FirstName="Changed")])
    outcome = roster.sync()
    assert one_row(outcome.plan, "users", "admin")["action"] == "none"
    root = one_row(outcome.plan, "users", "root")
    assert root["action"] == "none" and "protected" in root["reason"]
    users = roster.users()
    assert users.at["admin", "status"] == "active" and users.at["root", "first_name"] is None


def test_a_new_person_with_someone_elses_email_is_a_conflict(roster):
    roster.seed("users", login="olga", email="olga@corp.example")
    roster.write_users([person("oscar", Email="OLGA@corp.example")])
    outcome = roster.sync()
    row = one_row(outcome.plan, "users", "oscar")
    assert row["situation"] == "conflict" and row["action"] == "none"
    assert set(roster.users().index) == {"olga"}


def test_a_weaker_key_contradicted_by_a_stronger_one_is_another_person(roster):
    roster.seed("users", login="pat", email="pat@corp.example", user_unique_key="E-999")
    roster.write_users([person("pat")])
    outcome = roster.sync()
    row = one_row(outcome.plan, "users", "pat")
    assert row["situation"] == "conflict" and "a different person" in row["reason"]
    pat = roster.users().loc["pat"]
    assert pat["user_unique_key"] == "E-999" and pat["status"] == "active"


def test_a_person_skipped_by_an_import_rule_counts_as_missing(roster):
    roster.write_users(staff(4) + [person("quin")])
    roster.sync()
    roster.write_users(staff(4) + [person("quin", Company="Contractor Partners")])
    outcome = roster.sync()
    row = one_row(outcome.plan, "users", "quin")
    assert row["action"] == "deactivate" and "out of scope" in row["reason"]


def test_a_rejected_row_leaves_its_account_alone(roster):
    roster.write_users(staff(4) + [person("rex")])
    roster.sync()
    roster.write_users(staff(4) + [person("rex", Dept="NOWHERE")])
    outcome = roster.sync()
    assert rows_for(outcome.plan, "users", "rex").empty
    assert roster.users().at["rex", "status"] == "active"


def test_team_changes_move_memberships_only_in_groups_the_sync_owns(roster):
    roster.write_users([person("sam", Team="Mentors")] + staff(3))
    roster.sync()
    hand_made = roster.seed("groups", name="Book club")
    lms = roster.lms()
    from rostersync_pipelines.targets.base import Operation

    lms.apply(
        Operation("group_members", "add_member", hand_made, {"user_id": roster.users().at["sam", "id"]})
    )
    lms.dispose()

    roster.write_users([person("sam", Team="Safety Champions")] + staff(3))
    outcome = roster.sync()
    assert one_row(outcome.plan, "groups", "Mentors: sam")["action"] == "remove_member"
    assert roster.members("Mentors") == set()
    assert roster.members("Safety Champions") == {"sam"}
    assert roster.members("Book club") == {"sam"}


def test_stale_memberships_kept_by_policy(tmp_path):
    roster = Roster(tmp_path, policies={"stale_group_memberships": "keep"})
    roster.write_users([person("tia", Team="Mentors")])
    roster.sync()
    roster.write_users([person("tia", Team="Green Team")])
    roster.sync()
    assert roster.members("Mentors") == {"tia"} and roster.members("Green Team") == {"tia"}


def test_managers_are_set_in_the_same_create(roster):
    roster.write_users([person("uma", Manager="vic"), person("vic", Manager="wes"), person("wes")])
    outcome = roster.sync()
    assert outcome.applied == {"users create": 3, "departments create": 3}
    users = roster.users()
    assert users.at["uma", "manager_id"] == users.at["vic", "id"]
    assert users.at["vic", "manager_id"] == users.at["wes", "id"]


def test_custom_fields_keep_names_the_sync_does_not_map(roster):
    roster.write_users([person("xen", Title="Engineer")])
    roster.sync()
    xen = roster.users().at["xen", "id"]
    lms = roster.lms()
    from rostersync_pipelines.targets.base import Operation

    lms.apply(
        Operation("users", "update", xen, {"custom_fields": {"job_title": "Engineer", "badge": "gold"}})
    )
    lms.dispose()
    roster.write_users([person("xen", Title="Staff Engineer")])
    roster.sync()
    assert roster.users().at["xen", "custom_fields"] == {"job_title": "Staff Engineer", "badge": "gold"}


def test_second_sync_changes_nothing(roster):
    roster.write_users(
        [person("yan", Manager="zoe", Team="Mentors"), person("zoe", Team="Mentors; Green Team")]
    )
    roster.sync()
    again = roster.sync()
    assert again.applied == {}
    assert set(again.plan["action"]) == {"none"}


def test_a_newcomer_takes_over_an_email_given_up_in_the_same_file(roster):
    """ann's email changes and a newcomer gets her old address: one sync, no conflict, two accounts."""
    roster.write_users([person("ann")] + staff(3))
    roster.sync()
    ann_id = roster.users().at["ann", "id"]
    roster.write_users(
        [person("ann", Email="ann.b@corp.example"), person("amy", Email="ann@corp.example")] + staff(3)
    )
    outcome = roster.sync()
    assert one_row(outcome.plan, "users", "ann")["action"] == "update"
    assert one_row(outcome.plan, "users", "amy")["action"] == "create"
    assert outcome.failed == []
    users = roster.users()
    assert users.at["ann", "id"] == ann_id and users.at["ann", "email"] == "ann.b@corp.example"
    assert users.at["amy", "email"] == "ann@corp.example"
    assert roster.sync().applied == {}
