"""reconcile.plan.make_plan on hand-built canonical tables and LMS states (no database, no Dagster):
the rules of DESIGN §2, the safety holds, and invariants checked on random rosters."""

from __future__ import annotations

import copy
import datetime as dt
import math

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rostersync_pipelines.config import Sync
from rostersync_pipelines.reconcile.plan import SyncState, make_plan, summarize
from rostersync_pipelines.reconcile.rows import DESTRUCTIVE, PLAN_COLUMNS
from rostersync_pipelines.reconcile.safety import SourceHealth
from rostersync_pipelines.schema import DEPARTMENT_COLUMNS, REJECT_COLUMNS, ROW, USER_COLUMNS
from rostersync_pipelines.targets.base import (
    DEPARTMENT_STATE_COLUMNS,
    GROUP_MEMBER_STATE_COLUMNS,
    GROUP_STATE_COLUMNS,
    USER_STATE_COLUMNS,
    LmsState,
)
from rostersync_pipelines.transform.identity import folded
from rostersync_pipelines.transform.normalize import Canonical, group_table, normalize
from rostersync_pipelines_tests.roster import SOURCES, USER_FIELDS

TODAY = dt.date(2026, 6, 1)
ACTIONS = {
    "create",
    "update",
    "move",
    "deactivate",
    "reactivate",
    "delete",
    "add_member",
    "remove_member",
    "none",
}
SITUATIONS = {"linked", "matched", "unmatched", "missing", "conflict"}

BASE_SYNC = {
    "sources": copy.deepcopy(SOURCES),
    "fields": {
        "users": {**USER_FIELDS, "termination_date": "End"},
        "departments": {"code": "Code", "name": "Name", "parent": "Parent"},
    },
    "safety": {"max_deactivations": 100, "max_department_deletions": 100},
    "target": {"kind": "embedded"},
}


def make_sync(departments: bool = True, **sections) -> Sync:
    """The base sync with whole sections (policies, safety, matching, rules) merged in."""
    config = copy.deepcopy(BASE_SYNC)
    if not departments:
        del config["sources"]["departments"], config["fields"]["departments"]
        del config["fields"]["users"]["department"]
    for name, value in sections.items():
        config[name] = {**config.get(name, {}), **value} if isinstance(value, dict) else value
    return Sync.model_validate(config)


# --- building the tables ----------------------------------------------------------------------------------


def person(login: str, **values) -> dict:
    """A canonical user; with the matching account() the plan has nothing to change."""
    return {
        "user_unique_key": f"E-{login}",
        "login": login,
        "email": f"{login}@corp.example",
        "first_name": login.capitalize(),
        "last_name": "Tester",
        "department": "ENG",
        "status": "active",
    } | values


def account(lms_id: str, login: str, **values) -> dict:
    return {
        "id": lms_id,
        "login": login,
        "email": f"{login}@corp.example",
        "user_unique_key": f"E-{login}",
        "first_name": login.capitalize(),
        "last_name": "Tester",
        "department_id": "d-eng",
        "status": "active",
        "role": "learner",
        "custom_fields": None,
    } | values


def department(code: str, parent: str | None = None, **values) -> dict:
    return {"code": code, "name": code.title(), "parent": parent} | values


def lms_department(lms_id: str, code: str, parent_id: str | None = None, **values) -> dict:
    return {"id": lms_id, "code": code, "name": code.title(), "parent_id": parent_id} | values


def reject(key: str, outcome: str = "rejected", source: str = "users", **values) -> dict:
    """A reject row; a users reject has login = key unless told otherwise."""
    identity = {"login": key} if source == "users" else {"code": key}
    return (
        {"source": source, "row": 99, "key": key, "outcome": outcome, "reason": "some reason"}
        | identity
        | values
    )


STANDARD_DEPARTMENTS = [department("HQ"), department("ENG", "HQ"), department("OPS", "HQ")]
STANDARD_LMS_DEPARTMENTS = [
    lms_department("d-hq", "HQ"),
    lms_department("d-eng", "ENG", "d-hq"),
    lms_department("d-ops", "OPS", "d-hq"),
]


def objects(records: list[dict], columns: list[str]) -> pd.DataFrame:
    extra = [name for record in records for name in record if name not in columns]
    columns = columns + list(dict.fromkeys(extra))
    return pd.DataFrame(
        {name: pd.Series([record.get(name) for record in records], dtype=object) for name in columns}
    )


def depths(rows: list[dict]) -> list[int]:
    parent_of = {row["code"]: row["parent"] for row in rows}

    def depth(code: str) -> int:
        return 0 if parent_of.get(code) is None else 1 + depth(parent_of[code])

    return [depth(row["code"]) for row in rows]


def canonical(
    users: list[dict], departments: list[dict] | None = STANDARD_DEPARTMENTS, rejects: list[dict] = ()
) -> Canonical:
    user_frame = objects(users, USER_COLUMNS)
    user_frame.insert(0, ROW, pd.Series(range(2, len(users) + 2), dtype="int64"))
    department_frame = None
    if departments is not None:
        department_frame = objects(departments, DEPARTMENT_COLUMNS)
        department_frame.insert(0, ROW, pd.Series(range(2, len(departments) + 2), dtype="int64"))
        department_frame["depth"] = pd.Series(depths(departments), dtype="int64")
    return Canonical(
        user_frame, department_frame, group_table(user_frame), objects(list(rejects), REJECT_COLUMNS)
    )


def lms(
    users: list[dict] = (),
    departments: list[dict] = STANDARD_LMS_DEPARTMENTS,
    groups: list[tuple[str, str]] = (),
    members: list[tuple[str, str]] = (),
) -> LmsState:
    return LmsState(
        users=objects(list(users), USER_STATE_COLUMNS),
        departments=objects(list(departments), DEPARTMENT_STATE_COLUMNS),
        groups=objects(
            [dict(zip(GROUP_STATE_COLUMNS, row, strict=True)) for row in groups], GROUP_STATE_COLUMNS
        ),
        group_members=objects(
            [dict(zip(GROUP_MEMBER_STATE_COLUMNS, row, strict=True)) for row in members],
            GROUP_MEMBER_STATE_COLUMNS,
        ),
    )


def plan(
    source: Canonical,
    state: LmsState,
    sync: Sync | None = None,
    sync_state: SyncState | None = None,
    health: list[SourceHealth] | None = None,
    today: dt.date = TODAY,
) -> pd.DataFrame:
    result = make_plan(source, state, sync or make_sync(), sync_state, health, today)
    assert_well_formed(result)
    return result


def assert_well_formed(result: pd.DataFrame) -> None:
    assert list(result.columns) == PLAN_COLUMNS
    assert set(result["entity"]) <= {"users", "departments", "groups"}
    assert set(result["action"]) <= ACTIONS
    assert set(result["situation"]) <= SITUATIONS
    for column in ("entity", "action", "situation", "reason"):
        assert result[column].map(lambda value: isinstance(value, str) and value != "").all(), column
    assert result["held"].dtype == bool
    assert not result.loc[result["held"], "action"].isin(ACTIONS - DESTRUCTIVE).any()
    assert (result.loc[result["situation"] == "conflict", "action"] == "none").all()


def rows_of(result: pd.DataFrame, entity: str, key: str) -> pd.DataFrame:
    return result[(result["entity"] == entity) & (result["key"] == key)]


def one(result: pd.DataFrame, entity: str, key: str) -> dict:
    rows = rows_of(result, entity, key)
    assert len(rows) == 1, f"expected one {entity} row for {key}:\n{result.to_string()}"
    # NaN read as None here: test_plan_cells_are_never_nan covers the NaN on its own
    return {name: None if _is_nan(value) else value for name, value in rows.iloc[0].to_dict().items()}


def _is_nan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


def action_of(result: pd.DataFrame, key: str, entity: str = "users") -> tuple[str, str]:
    row = one(result, entity, key)
    return row["action"], row["situation"]


# --- users: one action per person ---------------------------------------------------------------------------


def test_everyone_up_to_date_changes_nothing():
    result = plan(canonical([person("ann"), person("bob")]), lms([account("1", "ann"), account("2", "bob")]))
    assert set(result["action"]) == {"none"}
    assert one(result, "users", "ann")["reason"] == "matched LMS user 1 by user_unique_key; up to date"
    assert summarize(result, canonical([]).rejects)["users"] == {}


def test_each_user_action():
    source = canonical(
        [
            person("ann", first_name="Annabel"),
            person("bob", department="OPS"),
            person("cat", status="inactive"),
            person("dan"),
            person("eve"),
            person("fay"),
            person("gus", status="inactive"),
        ]
    )
    state = lms(
        [
            account("1", "ann"),
            account("2", "bob"),
            account("3", "cat"),
            account("4", "dan", status="inactive"),
            account("5", "eve"),
        ]
    )
    result = plan(source, state)
    ann = one(result, "users", "ann")
    assert (ann["action"], ann["situation"], ann["lms_id"]) == ("update", "matched", "1")
    assert ann["changes"] == {"first_name": ["Ann", "Annabel"]} and ann["values"] == {"first_name": "Annabel"}
    bob = one(result, "users", "bob")
    assert bob["action"] == "move" and bob["values"] == {"department_id": "d-ops"}
    cat = one(result, "users", "cat")
    assert cat["action"] == "deactivate" and cat["reason"].endswith("; inactive in source")
    assert cat["values"] == {"status": "inactive"}
    dan = one(result, "users", "dan")
    assert dan["action"] == "reactivate" and "returning (policy returning_users: reactivate)" in dan["reason"]
    assert action_of(result, "eve") == ("none", "matched")
    fay = one(result, "users", "fay")
    assert (fay["action"], fay["situation"], fay["lms_id"]) == ("create", "unmatched", None)
    assert fay["values"]["login"] == "fay" and fay["values"]["department_id"] == "d-eng"
    assert fay["values"]["status"] == "active" and fay["changes"] is None
    gus = one(result, "users", "gus")
    assert (gus["action"], gus["reason"]) == ("none", "not created: inactive in source")


def test_a_move_with_other_changes_is_a_move_carrying_them_all():
    result = plan(canonical([person("ann", department="OPS", last_name="Smith")]), lms([account("1", "ann")]))
    row = one(result, "users", "ann")
    assert row["action"] == "move"
    assert row["values"] == {"last_name": "Smith", "department_id": "d-ops"}


def test_a_blank_source_value_never_clears_the_lms():
    result = plan(canonical([person("ann", first_name=None, last_name=None)]), lms([account("1", "ann")]))
    assert action_of(result, "ann") == ("none", "matched")


def test_a_new_user_in_a_new_department_refers_to_it_as_new():
    departments = [*STANDARD_DEPARTMENTS, department("LAB", "ENG")]
    result = plan(canonical([person("ann", department="LAB")], departments), lms())
    assert one(result, "departments", "LAB")["action"] == "create"
    assert one(result, "users", "ann")["values"]["department_id"] == "new:LAB"


def test_a_new_manager_is_created_before_the_reports():
    users = [
        person("ann", manager="bob"),
        person("bob", manager="cat"),
        person("cat"),
        person("dan", manager="zed"),
    ]
    result = plan(canonical(users), lms([account("9", "zed")]))
    assert one(result, "users", "ann")["values"]["manager_id"] == "new:bob"
    assert one(result, "users", "dan")["values"]["manager_id"] == "9"
    order = {key: one(result, "users", key)["order"] for key in ("ann", "bob", "cat", "dan")}
    assert order["cat"] < order["bob"] < order["ann"]


@pytest.mark.parametrize(
    ("termination_date", "policy", "action"),
    [
        ("2026-06-01", "deactivate", "deactivate"),
        ("2026-01-31", "deactivate", "deactivate"),
        ("2026-06-02", "deactivate", "none"),
        ("2026-01-31", "ignore", "none"),
    ],
)
def test_termination_date(termination_date, policy, action):
    sync = make_sync(policies={"terminated_users": policy})
    result = plan(
        canonical([person("ann", termination_date=termination_date)]), lms([account("1", "ann")]), sync
    )
    row = one(result, "users", "ann")
    assert row["action"] == action
    if action == "deactivate":
        assert f"terminated on {termination_date} (policy terminated_users: deactivate)" in row["reason"]


def test_a_terminated_new_user_is_not_created():
    result = plan(canonical([person("ann", termination_date="2026-01-01")]), lms())
    row = one(result, "users", "ann")
    assert (row["action"], row["situation"]) == ("none", "unmatched")
    assert row["reason"].startswith("not created: terminated on 2026-01-01")


def test_returning_users_ignored_by_policy():
    sync = make_sync(policies={"returning_users": "ignore"})
    result = plan(
        canonical([person("ann", first_name="Annie")]), lms([account("1", "ann", status="inactive")]), sync
    )
    row = one(result, "users", "ann")
    assert row["action"] == "update" and row["values"] == {"first_name": "Annie"}


def test_custom_fields_travel_as_one_mapping_keeping_unmapped_names():
    source = canonical([person("ann", **{"custom.title": "Lead"}), person("bob", **{"custom.title": "Dev"})])
    state = lms(
        [
            account("1", "ann", custom_fields={"title": "Dev", "badge": "B-1"}),
            account("2", "bob", custom_fields={"title": "Dev"}),
        ]
    )
    result = plan(source, state)
    ann = one(result, "users", "ann")
    assert ann["action"] == "update"
    assert ann["values"] == {"custom_fields": {"title": "Lead", "badge": "B-1"}}
    assert action_of(result, "bob") == ("none", "matched")


# --- protected and conflicts --------------------------------------------------------------------------------


def test_protected_users_are_never_changed_even_when_missing():
    sync = make_sync(policies={"protected_logins": ["Admin ", "ops-bot"]})
    source = canonical([person("admin", first_name="Changed", status="inactive"), person("ann")])
    state = lms(
        [
            account("1", "admin"),
            account("2", "ann"),
            account("3", "root", role="superadmin"),
            account("4", "ops-bot"),
            account("5", "boss", role="superadmin", department_id="d-ops"),
        ]
    )
    result = plan(source, state, sync)
    admin = one(result, "users", "admin")
    assert admin["action"] == "none" and admin["reason"].endswith("protected: never changed")
    for login in ("root", "ops-bot"):
        row = one(result, "users", login)
        assert (row["action"], row["situation"]) == ("none", "missing")
        assert row["reason"] == "missing from source; protected: never changed"


def test_a_matched_superadmin_is_not_updated():
    result = plan(
        canonical([person("root", last_name="Other")]), lms([account("1", "root", role="superadmin")])
    )
    assert one(result, "users", "root")["action"] == "none"


def test_a_new_user_whose_email_belongs_to_another_lms_user_is_a_conflict():
    sync = make_sync(matching={"users": ["user_unique_key", "login"]})
    source = canonical([person("ann", email="Shared@corp.example")])
    result = plan(source, lms([account("7", "zed", email="shared@corp.example")]), sync)
    row = one(result, "users", "ann")
    assert (row["action"], row["situation"], row["lms_id"]) == ("none", "conflict", None)
    assert (
        row["reason"]
        == 'email "Shared@corp.example" already belongs to LMS user 7, another person: review them'
    )
    assert row["values"] is None


def test_a_new_user_whose_login_belongs_to_another_lms_user_is_a_conflict():
    sync = make_sync(matching={"users": ["user_unique_key"]})
    result = plan(canonical([person("ann")]), lms([account("7", "ANN", user_unique_key="E-other")]), sync)
    row = one(result, "users", "ann")
    assert (row["action"], row["situation"]) == ("none", "conflict")
    assert row["reason"].startswith('login "ann" already belongs to LMS user 7')


def test_the_default_matching_refuses_an_email_match_with_a_different_key():
    result = plan(canonical([person("ann", email="zed@corp.example")]), lms([account("7", "zed")]))
    row = one(result, "users", "ann")
    assert (row["action"], row["situation"]) == ("none", "conflict")


def test_a_rename_onto_a_taken_login_is_a_conflict():
    sync = make_sync(matching={"users": ["user_unique_key"]})
    source = canonical([person("bob", user_unique_key="E-ann", email="ann@corp.example"), person("zed")])
    result = plan(source, lms([account("1", "ann"), account("2", "bob", user_unique_key=None)]), sync)
    row = one(result[result["situation"] == "conflict"], "users", "bob")
    assert (row["action"], row["situation"], row["lms_id"]) == ("none", "conflict", "1")
    assert row["reason"] == 'login "bob" already belongs to LMS user 2, another person: review them'


def test_a_rename_through_the_link_onto_a_taken_email_is_a_conflict():
    source = canonical([person("ann", email="bob@corp.example", user_unique_key="E-77")])
    state = lms([account("1", "ann", user_unique_key=None), account("2", "bob", user_unique_key=None)])
    sync_state = SyncState(user_links=pd.Series({"e-77": "1"}, dtype=object))
    result = plan(source, state, make_sync(matching={"users": ["user_unique_key"]}), sync_state)
    row = one(result, "users", "ann")
    assert (row["action"], row["situation"]) == ("none", "conflict")
    assert 'email "bob@corp.example" already belongs to LMS user 2' in row["reason"]


def test_a_rename_through_the_link_to_free_values_is_an_update():
    source = canonical([person("ann2", user_unique_key="E-77")])
    state = lms([account("1", "ann", user_unique_key=None)])
    result = plan(source, state, sync_state=SyncState(user_links=pd.Series({"e-77": "1"}, dtype=object)))
    row = one(result, "users", "ann2")
    assert (row["action"], row["situation"], row["lms_id"]) == ("update", "linked", "1")
    assert row["values"] == {
        "login": "ann2",
        "email": "ann2@corp.example",
        "first_name": "Ann2",
        "user_unique_key": "E-77",
    }
    assert rows_of(result, "users", "ann").empty, "the renamed account is not missing"


def test_a_conflict_leaves_both_accounts_alone():
    """The records a conflicting row points at are not missing: nobody is deactivated over a conflict."""
    source = canonical([person("ann", email="bob@corp.example", user_unique_key=None)])
    state = lms([account("1", "ann"), account("2", "bob")])
    result = plan(source, state)
    assert action_of(result, "ann") == ("none", "conflict")
    assert rows_of(result, "users", "bob").empty


def conflicting_department() -> tuple[Canonical, LmsState]:
    """Source X (key K1) matches LMS X by code, but the LMS record has key K2: a different department."""
    departments = [*STANDARD_DEPARTMENTS, department("X", "ENG", department_unique_key="K1")]
    state = lms(
        [account("1", "ann")],
        [*STANDARD_LMS_DEPARTMENTS, lms_department("d-x", "X", "d-eng", department_unique_key="K2")],
    )
    return canonical([person("ann", department="X", first_name="Annie")], departments), state


def test_a_user_in_a_department_in_conflict_is_a_conflict():
    result = plan(*conflicting_department())
    department_rows = rows_of(result, "departments", "X")
    conflict = department_rows[department_rows["situation"] == "conflict"].iloc[0]
    assert conflict["action"] == "none" and "department_unique_key differs (k1 vs k2)" in conflict["reason"]
    row = one(result, "users", "ann")
    assert (row["action"], row["situation"]) == ("none", "conflict")
    assert row["reason"] == 'department "X" is not in the LMS or is itself in conflict'


def test_a_user_with_no_other_change_in_a_department_in_conflict_is_a_conflict():
    source, state = conflicting_department()
    source.users["first_name"] = "Ann"
    row = one(plan(source, state), "users", "ann")
    assert (row["action"], row["situation"]) == ("none", "conflict"), row["reason"]


def test_a_department_in_conflict_is_not_deleted():
    result = plan(*conflicting_department())
    assert not ((result["lms_id"] == "d-x") & (result["action"] == "delete")).any(), result.to_string()


# --- missing users -----------------------------------------------------------------------------------------


def test_missing_users_are_deactivated_by_policy():
    result = plan(
        canonical([person("ann")]),
        lms([account("1", "ann"), account("2", "bob"), account("3", "cat", status="inactive")]),
    )
    bob = one(result, "users", "bob")
    assert (bob["action"], bob["situation"], bob["lms_id"], bob["row"]) == (
        "deactivate",
        "missing",
        "2",
        None,
    )
    assert bob["reason"] == "missing from source (policy missing_users: deactivate)"
    assert bob["values"] == {"status": "inactive"} and bob["changes"] == {"status": ["active", "inactive"]}
    cat = one(result, "users", "cat")
    assert (cat["action"], cat["reason"]) == ("none", "missing from source; already inactive")


def test_missing_users_left_alone_by_policy():
    sync = make_sync(policies={"missing_users": "ignore"})
    result = plan(canonical([person("ann")]), lms([account("1", "ann"), account("2", "bob")]), sync)
    bob = one(result, "users", "bob")
    assert (bob["action"], bob["reason"]) == ("none", "missing from source (policy missing_users: ignore)")


@pytest.mark.parametrize("outcome", ["rejected", "not_synced"])
@pytest.mark.parametrize(
    "named_by",
    [
        {"login": "BOB"},
        {"login": None, "email": "bob@corp.example"},
        {"login": None, "user_unique_key": "e-bob"},
    ],
    ids=["login", "email", "user_unique_key"],
)
def test_rejected_rows_keep_their_accounts(outcome, named_by):
    source = canonical([person("ann")], rejects=[reject("bob", outcome, **named_by)])
    result = plan(source, lms([account("1", "ann"), account("2", "bob")]))
    assert rows_of(result, "users", "bob").empty, "a rejected row is still in the source"


def test_a_rejected_row_keeps_its_account_through_the_link():
    source = canonical([person("ann")], rejects=[reject("E-77", login=None, user_unique_key="E-77")])
    state = lms([account("1", "ann"), account("2", "renamed", user_unique_key=None)])
    result = plan(source, state, sync_state=SyncState(user_links=pd.Series({"e-77": "2"}, dtype=object)))
    assert rows_of(result, "users", "renamed").empty


def test_out_of_scope_rows_count_as_missing():
    source = canonical([person("ann")], rejects=[reject("bob", "out_of_scope", email="bob@corp.example")])
    result = plan(source, lms([account("1", "ann"), account("2", "bob")]))
    row = one(result, "users", "bob")
    assert (row["action"], row["situation"]) == ("deactivate", "missing")
    assert row["reason"] == "out of scope: skipped by an import rule (policy missing_users: deactivate)"
    assert summarize(result, source.rejects)["skipped_rows"] == 1


def test_department_rejects_do_not_protect_user_accounts():
    source = canonical([person("ann")], rejects=[reject("bob", source="departments")])
    result = plan(source, lms([account("1", "ann"), account("2", "bob")]))
    assert one(result, "users", "bob")["action"] == "deactivate"


# --- departments ------------------------------------------------------------------------------------------


def test_departments_are_created_parents_first():
    departments = [
        department("LEAF", "MID"),
        department("MID", "ROOT"),
        department("ROOT"),
        *STANDARD_DEPARTMENTS,
        department("SIDE", "ENG"),
    ]
    result = plan(canonical([person("ann")], departments), lms([account("1", "ann")]))
    creates = result[(result["entity"] == "departments") & (result["action"] == "create")]
    order = dict(zip(creates["key"], creates["order"], strict=True))
    assert order == {"LEAF": 2, "MID": 1, "ROOT": 0, "SIDE": 2}
    assert one(result, "departments", "MID")["values"]["parent_id"] == "new:ROOT"
    assert one(result, "departments", "SIDE")["values"]["parent_id"] == "d-eng"
    assert one(result, "departments", "ROOT")["values"]["parent_id"] is None


def test_department_update_and_move():
    departments = [department("HQ", name="Headquarters"), department("ENG", "HQ"), department("OPS", "ENG")]
    result = plan(canonical([person("ann")], departments), lms([account("1", "ann")]))
    hq = one(result, "departments", "HQ")
    assert hq["action"] == "update" and hq["values"] == {"name": "Headquarters"}
    ops = one(result, "departments", "OPS")
    assert ops["action"] == "move" and ops["values"] == {"parent_id": "d-eng"}
    assert one(result, "departments", "ENG")["action"] == "none"


def test_a_department_that_becomes_a_root_is_moved():
    departments = [department("HQ"), department("ENG"), department("OPS", "HQ")]
    result = plan(canonical([person("ann")], departments), lms([account("1", "ann")]))
    eng = one(result, "departments", "ENG")
    assert eng["action"] == "move" and eng["changes"] == {"parent_id": ["d-hq", None]}


def test_departments_are_deleted_children_first():
    state = lms(
        [account("1", "ann")],
        [
            *STANDARD_LMS_DEPARTMENTS,
            lms_department("d-old", "OLD", "d-hq"),
            lms_department("d-older", "OLDER", "d-old"),
            lms_department("d-oldest", "OLDEST", "d-older"),
        ],
    )
    result = plan(canonical([person("ann")]), state)
    deletes = result[(result["entity"] == "departments") & (result["action"] == "delete")]
    assert deletes.sort_values("order", kind="stable")["key"].tolist() == ["OLDEST", "OLDER", "OLD"]
    for key in ("OLD", "OLDER", "OLDEST"):
        row = one(result, "departments", key)
        assert row["situation"] == "missing"
        assert row["reason"] == "missing from source (policy empty_departments: delete)"


def test_a_missing_department_with_users_left_carries_an_error_naming_them():
    state = lms(
        [
            account("1", "ann"),
            account("2", "bob", department_id="d-old"),
            account("3", "cat", department_id="d-old"),
            account("4", "dan", department_id="d-old"),
        ],
        [
            *STANDARD_LMS_DEPARTMENTS,
            lms_department("d-old", "OLD", "d-hq"),
            lms_department("d-kid", "KID", "d-old"),
        ],
    )
    source = canonical([person("ann"), person("bob")], rejects=[reject("cat")])
    result = plan(source, state)
    assert one(result, "users", "bob")["action"] == "move"
    assert rows_of(result, "users", "cat").empty, "a rejected row keeps its account where it is"
    assert one(result, "users", "dan")["action"] == "deactivate", "deactivated users stay in their department"
    old = one(result, "departments", "OLD")
    assert old["action"] == "none"
    assert old["error"] == "not deleted: still has 2 users after this plan: cat, dan"
    assert one(result, "departments", "KID")["action"] == "delete"
    assert summarize(result, source.rejects)["errors"] == 1


def test_a_department_emptied_by_moves_is_deleted():
    state = lms(
        [account("1", "ann", department_id="d-old")],
        [*STANDARD_LMS_DEPARTMENTS, lms_department("d-old", "OLD")],
    )
    result = plan(canonical([person("ann")]), state)
    assert one(result, "users", "ann")["action"] == "move"
    assert one(result, "departments", "OLD")["action"] == "delete"


def test_a_department_with_a_sub_department_left_is_not_deleted():
    """KID's source row was rejected, so KID stays in the LMS, and OLD above it too."""
    state = lms(
        [],
        [*STANDARD_LMS_DEPARTMENTS, lms_department("d-old", "OLD"), lms_department("d-kid", "KID", "d-old")],
    )
    source = canonical([], rejects=[reject("KID", source="departments")])
    result = plan(source, state)
    assert rows_of(result, "departments", "KID").empty
    old = one(result, "departments", "OLD")
    assert (old["action"], old["error"]) == ("none", "not deleted: still has 1 sub-departments")


def test_a_department_emptied_by_moving_its_sub_department_is_deleted():
    state = lms(
        [],
        [*STANDARD_LMS_DEPARTMENTS, lms_department("d-old", "OLD"), lms_department("d-kid", "KID", "d-old")],
    )
    result = plan(canonical([], [*STANDARD_DEPARTMENTS, department("KID", "HQ")]), state)
    assert one(result, "departments", "KID")["action"] == "move"
    old = one(result, "departments", "OLD")
    assert (old["action"], old["error"]) == ("delete", None), old


def test_empty_departments_kept_by_policy():
    state = lms([], [*STANDARD_LMS_DEPARTMENTS, lms_department("d-old", "OLD")])
    result = plan(canonical([]), state, make_sync(policies={"empty_departments": "keep"}))
    row = one(result, "departments", "OLD")
    assert (row["action"], row["reason"]) == (
        "none",
        "missing from source; kept (policy empty_departments: keep)",
    )


def test_a_department_whose_row_was_rejected_is_not_deleted():
    rejects = [reject("OLD", source="departments", code="old")]
    state = lms([], [*STANDARD_LMS_DEPARTMENTS, lms_department("d-old", "OLD")])
    result = plan(canonical([], rejects=rejects), state)
    assert rows_of(result, "departments", "OLD").empty


def test_without_a_departments_source_lms_departments_are_left_alone():
    sync = make_sync(departments=False)
    state = lms([account("1", "ann")], [*STANDARD_LMS_DEPARTMENTS, lms_department("d-old", "OLD")])
    result = plan(canonical([person("ann", department=None)], departments=None), state, sync)
    assert (result["entity"] == "departments").sum() == 0
    assert action_of(result, "ann") == ("none", "matched")


# --- groups -----------------------------------------------------------------------------------------------


def test_groups_are_created_and_memberships_added_and_removed_only_in_owned_groups():
    source = canonical([person("ann", groups="Sales;Mentors"), person("bob"), person("cat", groups="Sales")])
    state = lms(
        [account("1", "ann"), account("2", "bob"), account("3", "cat")],
        groups=[("g-sales", "sales"), ("g-old", "Old team"), ("g-hand", "Hand made")],
        members=[("g-old", "2"), ("g-hand", "2"), ("g-sales", "3")],
    )
    result = plan(source, state, sync_state=SyncState(owned_groups={"g-sales", "g-old"}))
    groups = result[result["entity"] == "groups"]
    assert sorted(zip(groups["action"], groups["key"], strict=True)) == [
        ("add_member", "Mentors: ann"),
        ("add_member", "Sales: ann"),
        ("create", "Mentors"),
        ("remove_member", "Old team: bob"),
    ]
    assert one(result, "groups", "Sales: ann")["lms_id"] == "g-sales"
    assert one(result, "groups", "Mentors: ann")["lms_id"] == "new:Mentors"
    assert one(result, "groups", "Old team: bob")["values"] == {"user_id": "2"}


def test_stale_memberships_kept_by_policy():
    state = lms([account("2", "bob")], groups=[("g-old", "Old")], members=[("g-old", "2")])
    sync = make_sync(policies={"stale_group_memberships": "keep"})
    result = plan(canonical([person("bob")]), state, sync, SyncState(owned_groups={"g-old"}))
    assert (result["entity"] == "groups").sum() == 0


def test_without_a_groups_field_groups_are_left_alone():
    config = copy.deepcopy(BASE_SYNC)
    del config["fields"]["users"]["groups"]
    state = lms([account("2", "bob")], groups=[("g-old", "Old")], members=[("g-old", "2")])
    result = plan(
        canonical([person("bob")]), state, Sync.model_validate(config), SyncState(owned_groups={"g-old"})
    )
    assert (result["entity"] == "groups").sum() == 0


def test_new_users_join_groups_by_their_pending_id():
    result = plan(canonical([person("ann", groups="Sales")]), lms())
    assert one(result, "groups", "Sales: ann")["values"] == {"user_id": "new:ann"}


def test_group_values_differing_in_case_give_a_stable_plan():
    source = canonical([person("ann", groups="Sales"), person("bob", groups="sales")])
    first = plan(source, lms([account("1", "ann"), account("2", "bob")]))
    created = first[(first["entity"] == "groups") & (first["action"] == "create")]["key"].tolist()
    # the LMS after the first plan is applied, as it would read it back
    ids = {name: f"g{position}" for position, name in enumerate(created)}
    members = [
        (ids[row["key"].split(": ")[0]], row["values"]["user_id"])
        for row in first[first["action"] == "add_member"].to_dict("records")
    ]
    state = lms(
        [account("1", "ann"), account("2", "bob")],
        groups=list(map(tuple, map(reversed, ids.items()))),
        members=members,
    )
    second = plan(source, state, sync_state=SyncState(owned_groups=set(ids.values())))
    assert (second["action"] != "none").sum() == 0, second[second["action"] != "none"].to_string()


# --- safety -----------------------------------------------------------------------------------------------


def leavers_roster(stay: int, leave: int) -> tuple[Canonical, LmsState]:
    staying = [f"u{number:02d}" for number in range(stay)]
    leaving = [f"x{number:02d}" for number in range(leave)]
    source = canonical([person(login) for login in staying])
    state = lms([account(f"{position}", login) for position, login in enumerate(staying + leaving)])
    return source, state


def test_deactivations_above_the_count_are_held():
    source, state = leavers_roster(stay=8, leave=3)
    result = plan(source, state, make_sync(safety={"max_deactivations": 2}))
    deactivations = result[result["action"] == "deactivate"]
    assert len(deactivations) == 3 and deactivations["held"].all()
    held = "; held: 3 deactivations exceed max_deactivations 2 (2 of 11 active users)"
    assert all(
        reason.endswith(f"{held}; release with rostersync approve") for reason in deactivations["reason"]
    )
    summary = summarize(result, source.rejects)
    assert summary["held"] == {"users deactivate": 3}
    assert summary["users"] == {"deactivate": 3}


def test_deactivations_at_the_limit_are_not_held():
    source, state = leavers_roster(stay=8, leave=2)
    result = plan(source, state, make_sync(safety={"max_deactivations": 2}))
    assert not result["held"].any()


@pytest.mark.parametrize(("leave", "held"), [(2, False), (3, True)])
def test_deactivations_above_the_percentage_are_held(leave, held):
    source, state = leavers_roster(stay=20 - leave, leave=leave)  # 20 active users: 10% is 2
    result = plan(source, state, make_sync(safety={"max_deactivations": "10%"}))
    deactivations = result[result["action"] == "deactivate"]
    assert len(deactivations) == leave and (deactivations["held"] == held).all()
    if held:
        assert "exceed max_deactivations 10% (2 of 20 active users)" in deactivations["reason"].iloc[0]


def test_source_inactive_deactivations_count_toward_the_limit():
    source = canonical([person("ann", status="inactive"), person("bob", status="inactive"), person("cat")])
    state = lms([account("1", "ann"), account("2", "bob"), account("3", "cat")])
    result = plan(source, state, make_sync(safety={"max_deactivations": 1}))
    assert result.loc[result["action"] == "deactivate", "held"].tolist() == [True, True]


def test_department_deletions_above_the_limit_are_held():
    extra = [lms_department(f"d-old{number}", f"OLD{number}", "d-hq") for number in range(3)]
    state = lms([], [*STANDARD_LMS_DEPARTMENTS, *extra])
    result = plan(canonical([]), state, make_sync(safety={"max_department_deletions": 2}))
    deletes = result[result["action"] == "delete"]
    assert len(deletes) == 3 and deletes["held"].all()
    assert "held: 3 department deletions exceed max_department_deletions 2" in deletes["reason"].iloc[0]
    relaxed = plan(canonical([]), state, make_sync(safety={"max_department_deletions": 3}))
    assert not relaxed["held"].any()


def test_a_department_deletion_blocked_by_an_error_is_not_held():
    state = lms(
        [account("1", "ann", department_id="d-old")],
        [*STANDARD_LMS_DEPARTMENTS, lms_department("d-old", "OLD")],
    )
    sync = make_sync(safety={"max_department_deletions": 0}, policies={"missing_users": "ignore"})
    row = one(plan(canonical([]), state, sync), "departments", "OLD")
    assert (row["action"], row["held"]) == ("none", False) and row["error"]


def destructive_roster() -> tuple[Canonical, LmsState, SyncState]:
    """A plan with every kind of change: create, update, move, deactivate, delete, add and remove members."""
    source = canonical(
        [person("ann", first_name="Annie"), person("bob", department="OPS", groups="New"), person("new")]
    )
    state = lms(
        [account("1", "ann"), account("2", "bob"), account("3", "gone")],
        [*STANDARD_LMS_DEPARTMENTS, lms_department("d-old", "OLD")],
        groups=[("g-old", "Old")],
        members=[("g-old", "1")],
    )
    return source, state, SyncState(owned_groups={"g-old"})


def test_without_health_problems_nothing_is_held():
    source, state, sync_state = destructive_roster()
    result = plan(source, state, sync_state=sync_state)
    actions = set(result.loc[result["action"] != "none", "action"])
    assert actions == {"create", "update", "move", "deactivate", "delete", "add_member", "remove_member"}
    assert not result["held"].any()


@pytest.mark.parametrize(
    ("health", "why"),
    [
        (SourceHealth("users", 3, 3, error="HTTP 500"), "held: source users failed (HTTP 500)"),
        (SourceHealth("departments", 0, 4), "held: source departments returned no rows"),
        (
            SourceHealth("users", 3, 10),
            "held: source users shrank to 3 rows from 10 (below min_source_rows_ratio 0.5)",
        ),
    ],
    ids=["error", "empty", "shrank"],
)
def test_an_unhealthy_source_holds_every_destructive_change(health, why):
    source, state, sync_state = destructive_roster()
    result = plan(source, state, sync_state=sync_state, health=[SourceHealth("other", 5, 5), health])
    changing = result[result["action"] != "none"]
    destructive = changing["action"].isin(DESTRUCTIVE)
    assert set(changing.loc[destructive, "action"]) == DESTRUCTIVE
    assert changing.loc[destructive, "held"].all()
    assert not changing.loc[~destructive, "held"].any(), "creates and updates still apply"
    for reason in changing.loc[destructive, "reason"]:
        assert f"; {why}; release with rostersync approve" in reason


def test_a_source_that_shrank_only_a_little_holds_nothing():
    source, state, sync_state = destructive_roster()
    result = plan(source, state, sync_state=sync_state, health=[SourceHealth("users", 6, 10)])
    assert not result["held"].any()


def test_approval_releases_only_the_matching_change():
    source, state = leavers_roster(stay=5, leave=3)
    approved = {
        ("users", "deactivate", "6"): "plan-1",
        ("users", "delete", "7"): "plan-1",
        ("groups", "deactivate", "5"): "p",
    }
    result = plan(source, state, make_sync(safety={"max_deactivations": 1}), SyncState(approved=approved))
    held = dict(zip(result["lms_id"], result["held"], strict=True))
    assert (held["5"], held["6"], held["7"]) == (True, False, True)
    released = one(result, "users", "x01")
    assert released["reason"].endswith("; released by the approval of plan plan-1")
    assert summarize(result, source.rejects)["held"] == {"users deactivate": 2}


def test_approval_releases_health_holds_too():
    source, state, sync_state = destructive_roster()
    sync_state.approved = {("departments", "delete", "d-old"): "plan-9"}
    result = plan(source, state, sync_state=sync_state, health=[SourceHealth("users", 0, 3)])
    assert not one(result, "departments", "OLD")["held"]
    assert one(result, "users", "gone")["held"]


def test_summarize_counts():
    source, state, sync_state = destructive_roster()
    rejects = [reject("bad"), reject("skip", "out_of_scope"), reject("nodept", "not_synced")]
    source = Canonical(source.users, source.departments, source.groups, objects(rejects, REJECT_COLUMNS))
    conflict_state = copy.deepcopy(state)
    conflict_state.users = pd.concat(
        [state.users, objects([account("9", "taken", email="new@corp.example")], USER_STATE_COLUMNS)],
        ignore_index=True,
    )
    result = plan(source, conflict_state, sync_state=sync_state, health=[SourceHealth("users", 0, 3)])
    summary = summarize(result, source.rejects)
    assert summary == {
        "users": {"update": 1, "move": 1, "deactivate": 1},
        "departments": {"delete": 1},
        "groups": {"create": 1, "add_member": 1, "remove_member": 1},
        "held": {"users deactivate": 1, "departments delete": 1, "groups remove_member": 1},
        "conflicts": 1,
        "errors": 0,
        "rejected_rows": 2,
        "skipped_rows": 1,
        "unchanged": int((result["action"] == "none").sum()),
    }
    assert summary["unchanged"] == 4


# --- the plan's cells -------------------------------------------------------------------------------------


def test_plan_cells_are_never_nan():
    source, state, sync_state = destructive_roster()
    result = plan(source, state, sync_state=sync_state)
    nan_cells = [
        (position, column)
        for column in PLAN_COLUMNS
        for position, value in result[column].items()
        if _is_nan(value)
    ]
    assert nan_cells == []


def test_plan_of_an_empty_source_and_empty_lms():
    result = plan(canonical([], departments=[]), lms(departments=[]))
    assert result.empty and list(result.columns) == PLAN_COLUMNS


# --- invariants on random rosters ---------------------------------------------------------------------------

NAMES = [
    f"{name}{number}"
    for number in ("", 1, 2)
    for name in ("ann", "bob", "cat", "dan", "eve", "fay", "gus", "ivy", "jon", "kim", "lea", "max", "ned")
]
CODES = ["HQ", "ENG", "OPS"]
MATCHINGS = [
    ["user_unique_key", "login", "email"],
    ["login", "email"],
    ["email", "login"],
    [["user_unique_key", "login"], ["login", "email"]],
]
USER_RAW_HEADER = [USER_FIELDS[field] for field in USER_FIELDS if field != "termination_date"] + ["End"]
people = st.integers(0, len(NAMES) - 1)


@st.composite
def source_rows(draw) -> list[dict]:
    """People drawn with replacement (so rows repeat and collide), each with a few random changes:
    another login or email (sometimes someone else's), a case change, a new name, department or status."""
    rows = []
    for position in draw(st.lists(people, min_size=5, max_size=30)):
        me = NAMES[position]
        other = NAMES[draw(people)]
        login = draw(st.sampled_from([me, me, me, me.upper(), f"{me}2", other, None]))
        rows.append(
            {
                "EmployeeId": draw(st.sampled_from([f"E-{me}", f"E-{me}", f"E-{me}", None])),
                "Login": login,
                "Email": draw(
                    st.sampled_from(
                        [f"{me}@corp.example", f"{me}.new@corp.example", f"{other}@corp.example", None]
                    )
                ),
                "FirstName": draw(st.sampled_from([me.capitalize(), me.capitalize(), "Renamed", None])),
                "LastName": "Tester",
                "Dept": draw(st.sampled_from(["ENG", "ENG", "OPS", "HQ", None])),
                "Manager": draw(st.sampled_from([None, None, other])),
                "Status": draw(st.sampled_from(["Active"] * 6 + ["Inactive", "bogus"])),
                "End": draw(st.sampled_from([None] * 6 + ["2026-01-01", "2027-01-01"])),
                "Team": draw(st.sampled_from([None, "Sales", "Sales;Mentors"])),
            }
        )
    return rows


@st.composite
def lms_states(draw) -> tuple[LmsState, pd.Series, set[str]]:
    """Some of the same people already in the LMS, a few with another login, email or key; login, email and
    unique key stay unique (case-insensitively), as an LMS keeps them."""
    department_codes = draw(st.sets(st.sampled_from(["ENG", "OPS", "OLD"])))
    departments = [lms_department("d-HQ", "HQ")] + [
        lms_department(f"d-{code}", code, "d-HQ") for code in sorted(department_codes)
    ]
    accounts, taken = [], {"login": set(), "email": set(), "user_unique_key": set()}
    for position in sorted(draw(st.sets(people, max_size=20))):
        me, other = NAMES[position], NAMES[draw(people)]
        candidate = account(
            str(position),
            draw(st.sampled_from([me, me, me.upper(), other])),
            email=draw(
                st.sampled_from([f"{me}@corp.example", f"{me}@corp.example", f"{other}@corp.example", None])
            ),
            user_unique_key=draw(st.sampled_from([f"E-{me}", f"E-{me}", f"E-{other}", None])),
            first_name=draw(st.sampled_from([me.capitalize(), me.capitalize(), "Old name"])),
            status=draw(st.sampled_from(["active", "active", "active", "inactive"])),
            role=draw(st.sampled_from(["learner"] * 8 + ["superadmin", "admin"])),
            department_id=draw(
                st.sampled_from(["d-ENG", "d-ENG", None, *(row["id"] for row in departments)])
            ),
        )
        values = {field: (candidate[field] or "").casefold() for field in taken}
        if any(value and value in taken[field] for field, value in values.items()):
            continue
        for field, value in values.items():
            taken[field].add(value)
        accounts.append(candidate)
    ids = [row["id"] for row in accounts]
    links = {}
    for position in draw(st.sets(people, max_size=6)):  # mostly right, sometimes stale or pointing elsewhere
        target = draw(st.sampled_from([str(position), str(position), "999", *ids]))
        links[f"e-{NAMES[position]}"] = target
    groups = [("g-sales", "Sales"), ("g-old", "Old")]
    members = [(group, row["id"]) for row in accounts for group, _ in groups if draw(st.booleans())]
    state = lms(accounts, departments, groups, members)
    return state, pd.Series(links, dtype=object), draw(st.sets(st.sampled_from(["g-sales", "g-old"])))


def raw_frame(rows: list[dict], header: list[str]) -> pd.DataFrame:
    frame = objects(rows, header)
    frame[ROW] = pd.Series(range(2, len(rows) + 2), dtype="int64")
    return frame


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=source_rows(),
    lms_state=lms_states(),
    matching=st.sampled_from(MATCHINGS),
    missing_users=st.sampled_from(["deactivate", "ignore"]),
    max_deactivations=st.sampled_from([0, 2, "50%", 100]),
    unhealthy=st.booleans(),
    approve_one=st.booleans(),
)
def test_plan_invariants_on_random_rosters(
    rows, lms_state, matching, missing_users, max_deactivations, unhealthy, approve_one
):
    state, user_links, owned = lms_state
    sync = make_sync(
        matching={"users": matching},
        policies={"missing_users": missing_users, "protected_logins": ["bob"]},
        safety={"max_deactivations": max_deactivations},
    )
    departments = raw_frame(
        [{"Code": code, "Name": code, "Parent": None if code == "HQ" else "HQ"} for code in CODES],
        ["Code", "Name", "Parent"],
    )
    source = normalize(raw_frame(rows, USER_RAW_HEADER), departments, sync)
    health = [SourceHealth("users", len(rows), 100)] if unhealthy else []
    approved = {("users", "deactivate", "0"): "earlier"} if approve_one else {}
    sync_state = SyncState(user_links=user_links, owned_groups=owned, approved=approved)
    result = plan(source, state, sync, sync_state, health)

    users = result[result["entity"] == "users"]
    acting = users[users["action"] != "none"]
    # no LMS record is the target of two changes
    targeted = acting["lms_id"].dropna()
    assert not targeted.duplicated().any(), acting.to_string()
    # after the plan's renames, no login or email is held twice: creates take only free values (a value
    # someone gives up in the same plan is free), renames never take another person's
    fold_one = lambda value: folded(pd.Series([value], dtype=object)).iloc[0]  # noqa: E731
    for field in ("login", "email"):
        after = dict(zip(state.users["id"], folded(state.users[field]), strict=True))
        for row in acting.to_dict("records"):
            value = (row["values"] or {}).get(field)
            if value and row["lms_id"] is not None:
                after[row["lms_id"]] = fold_one(value)
        for row in acting.to_dict("records"):
            value = (row["values"] or {}).get(field)
            if not value:
                continue
            others = {lms_id for lms_id, held in after.items() if held == fold_one(value)} - {row["lms_id"]}
            assert not others, (row, others)
    # every conflict is only reported
    assert (result.loc[result["situation"] == "conflict", "action"] == "none").all()
    # every canonical user has exactly one users row
    source_rows_planned = users["row"].dropna().astype(int).tolist()
    assert sorted(source_rows_planned) == sorted(source.users[ROW].tolist())
    # held rows are destructive only, and only unhealthy sources or limits hold anything
    assert result.loc[result["held"], "action"].isin(DESTRUCTIVE).all()
    if not unhealthy and max_deactivations == 100:
        assert not result["held"].any()
    # protected accounts are never touched
    protected = set(
        state.users.loc[(state.users["role"] == "superadmin") | (folded(state.users["login"]) == "bob"), "id"]
    )
    assert not (set(acting["lms_id"].dropna()) & protected)
    # accounts named by a rejected (not out-of-scope) row are never deactivated as missing
    kept = source.rejects[
        (source.rejects["source"] == "users") & (source.rejects["outcome"] != "out_of_scope")
    ]
    kept_logins = set(folded(kept["login"]).dropna())
    missing_deactivated = users[(users["situation"] == "missing") & (users["action"] == "deactivate")]
    assert not (set(folded(missing_deactivated["key"]).dropna()) & kept_logins)
