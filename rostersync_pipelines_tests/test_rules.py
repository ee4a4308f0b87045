"""Rules and mapping for every source: import rules (skip / keep, every test, all / any), the per-sync
status values, and a sync without a departments source (departments by code, then name; create or reject)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from rostersync_pipelines.config import Sync
from rostersync_pipelines.config_rules import Rule
from rostersync_pipelines.schema import ROW
from rostersync_pipelines.transform.rules import describe, in_scope, skipped_by_rules
from rostersync_pipelines_tests import test_plan as plans
from rostersync_pipelines_tests.test_normalize import (
    USER_FIELDS,
    logins,
    person,
    reject_of,
    run,
    user,
    users_raw,
)

PEOPLE = {
    "ann": "Northwind Corp",
    "bob": "Contractor Inc",
    "cat": None,
    "dan": " subcontracted ltd ",
    "eve": "Vendor",
    "fay": "NORTHWIND Retail",
}


def users_only(**sections) -> Sync:
    """A sync with one users file (the columns of test_normalize's rows) and the given sections."""
    config = {
        "sources": {"users": {"kind": "file", "path": "users.csv"}},
        "fields": {"users": USER_FIELDS},
        "target": {"kind": "embedded"},
    }
    return Sync.model_validate(config | sections)


def companies() -> pd.DataFrame:
    return users_raw(*(person(login, Company=company) for login, company in PEOPLE.items()))


def out_of_scope(condition: dict, kind: str = "skip") -> set[str]:
    frame = companies()
    reason = skipped_by_rules(frame, [Rule.model_validate({kind: condition})], "users")
    return set(frame.loc[reason.notna(), "Login"])


@pytest.mark.parametrize(
    ("condition", "skipped"),
    [
        ({"equals": " northwind corp "}, {"ann"}),
        ({"not_equals": "Northwind Corp"}, {"bob", "cat", "dan", "eve", "fay"}),
        ({"contains": "CONTRACT"}, {"bob", "dan"}),
        ({"not_contains": "northwind"}, {"bob", "cat", "dan", "eve"}),
        ({"starts_with": "sub"}, {"dan"}),
        ({"in": ["vendor", "Contractor Inc "]}, {"bob", "eve"}),
        ({"empty": True}, {"cat"}),
        ({"empty": False}, {"ann", "bob", "dan", "eve", "fay"}),
        ({"regex": r"^north\w+ (corp|retail)$"}, {"ann", "fay"}),
        ({"regex": r"(?<!sub)contract"}, {"bob"}),  # Python re: look-behind works, unlike RE2
        ({"regex": r"^$"}, {"cat"}),  # a blank value is searched as empty text
    ],
)
def test_every_test_on_trimmed_case_insensitive_text(condition, skipped):
    assert out_of_scope({"field": "Company", **condition}) == skipped


def test_keep_rules_keep_only_matching_rows():
    assert out_of_scope({"field": "company", "contains": "northwind"}, "keep") == {"bob", "cat", "dan", "eve"}


def test_all_any_nested():
    condition = {
        "any": [
            {"all": [{"field": "Company", "contains": "northwind"}, {"field": "Login", "not_equals": "ann"}]},
            {"field": "Company", "empty": True},
        ]
    }
    assert out_of_scope(condition) == {"fay", "cat"}
    assert out_of_scope(condition, "keep") == {"ann", "bob", "dan", "eve"}
    assert describe(Rule.model_validate({"skip": condition}).condition) == (
        "(Company contains 'northwind' and Login is not 'ann') or Company is empty"
    )


def test_reasons_name_the_rule_and_the_first_rule_wins():
    rules = [
        {"skip": {"field": "Company", "contains": "Contractor"}},
        {"keep": {"field": "Company", "regex": "corp|contract"}},
        {"skip": {"field": "Company", "in": ["Vendor"]}},
    ]
    canonical = run(companies(), sync=users_only(rules=rules))
    assert reject_of(canonical, "bob")["reason"] == "skipped by import rule: Company contains 'Contractor'"
    assert reject_of(canonical, "eve")["reason"] == "not kept by import rule: Company matches 'corp|contract'"
    assert set(canonical.rejects["outcome"]) == {"out_of_scope"}
    assert set(logins(canonical)) == {"ann", "dan"}, "every keep rule must hold; skip rules take out"


def test_a_rule_on_a_missing_column_names_it():
    frame = companies().drop(columns=["Company"])
    with pytest.raises(Exception, match="mapped column 'Company' is missing"):
        in_scope(frame, [Rule.model_validate({"keep": {"field": "Company", "equals": "x"}})], "users")


@pytest.mark.parametrize(
    "rule",
    [
        {"skip": {"field": "Company"}},
        {"skip": {"field": "Company", "equals": "a", "contains": "b"}},
        {"skip": {"field": "Company", "regex": "("}},
        {"skip": {"all": []}},
        {"skip": {"field": "Company", "equals": "a"}, "keep": {"field": "Company", "equals": "a"}},
    ],
)
def test_malformed_rules_are_refused_by_the_config(rule):
    with pytest.raises(ValidationError):
        Rule.model_validate(rule)


def test_rules_run_on_whole_columns():
    """200,000 rows through a nested rule in well under a second per test (no per-row Python)."""
    size = 200_000
    names = np.array(["Northwind Corp", "Contractor Inc", None, "Vendor"], dtype=object)
    frame = pd.DataFrame({"Company": names[np.arange(size) % 4], "Login": [f"u{i}" for i in range(size)]})
    frame[ROW] = np.arange(2, size + 2)
    rule = Rule.model_validate(
        {
            "keep": {
                "any": [
                    {"field": "Company", "starts_with": "north"},
                    {"all": [{"field": "Company", "empty": False}, {"field": "Login", "regex": r"^u\d*7$"}]},
                ]
            }
        }
    )
    started = time.perf_counter()
    kept = in_scope(frame, [rule], "users")
    elapsed = time.perf_counter() - started
    number = np.arange(size)
    expected = (number % 4 == 0) | ((number % 4 != 2) & (number % 10 == 7))
    assert kept.to_numpy().tolist() == expected.tolist()
    assert elapsed < 5, elapsed


# --- status values ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("Enabled", "active"),
        ("Disabled", "inactive"),
        ("true", "active"),
        ("0", "inactive"),
        (" 1 ", "active"),
    ],
)
def test_default_status_values(status, expected):
    assert user(run(users_raw(person("ann", Status=status))), "ann")["status"] == expected


def test_status_values_per_sync():
    sync = users_only(status_values={"active": ["Current", "Probation"], "inactive": ["Alumni", "Leaver"]})
    frame = users_raw(
        person("ann", Status="probation"),
        person("bob", Status=" ALUMNI "),
        person("cat", Status="Active"),  # no longer in the active list of this sync
        person("dan", Status=None),
    )
    canonical = run(frame, sync=sync)
    assert user(canonical, "ann")["status"] == "active"
    assert user(canonical, "bob")["status"] == "inactive"
    assert user(canonical, "dan")["status"] == "active"
    assert reject_of(canonical, "cat")["reason"] == (
        'unknown status "Active"; use one of Current, Probation, Alumni, Leaver (status_values)'
    )


# --- a sync without a departments source ------------------------------------------------------------------


def flat_sync(**policies) -> Sync:
    """Users only, with their department mapped: no departments source."""
    return plans.make_sync(
        departments=False, fields={"users": {**plans.BASE_SYNC["fields"]["users"]}}, policies=policies
    )


LMS_DEPARTMENTS = [
    plans.lms_department("d-eng", "ENG", name="Engineering"),
    plans.lms_department("d-ops", "OPS", name="Operations"),
    plans.lms_department("d-x1", "X1", name="Shared"),
    plans.lms_department("d-x2", "X2", name="Shared"),
    plans.lms_department("d-sal", "SAL", name="ENG"),  # a name that is another department's code
]


def flat_plan(*people: dict, **policies) -> pd.DataFrame:
    source = plans.canonical(list(people), departments=None)
    return plans.plan(source, plans.lms([], LMS_DEPARTMENTS), flat_sync(**policies))


def test_department_by_code_then_by_name():
    result = flat_plan(
        plans.person("ann", department="eng"),
        plans.person("bob", department=" operations "),
    )
    assert plans.one(result, "users", "ann")["values"]["department_id"] == "d-eng"  # the code wins
    assert plans.one(result, "users", "bob")["values"]["department_id"] == "d-ops"


def test_unknown_department_is_a_conflict_by_default():
    result = flat_plan(plans.person("ann", department="Research"))
    row = plans.one(result, "users", "ann")
    assert (row["situation"], row["action"]) == ("conflict", "none")
    assert row["reason"] == 'department "Research" is not in the LMS or is itself in conflict'
    assert not (result["entity"] == "departments").any()


def test_unknown_departments_created_at_the_top():
    result = flat_plan(
        plans.person("ann", department="Research"),
        plans.person("bob", department="research "),
        plans.person("cat", department="Shared"),  # two LMS departments have that name: never guessed
        plans.person("dan", department="Operations"),
        unknown_departments="create",
    )
    creates = result[(result["entity"] == "departments") & (result["action"] == "create")]
    assert creates["key"].tolist() == ["Research"]
    assert creates.iloc[0]["values"] == {
        "code": "Research",
        "name": "Research",
        "department_unique_key": None,
        "parent_id": None,
    }
    assert "unknown_departments: create" in creates.iloc[0]["reason"]
    for login in ("ann", "bob"):
        assert plans.one(result, "users", login)["values"]["department_id"] == "new:Research"
    assert plans.one(result, "users", "cat")["situation"] == "conflict"
    assert plans.one(result, "users", "dan")["values"]["department_id"] == "d-ops"
