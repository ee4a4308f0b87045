"""transform.normalize: raw source tables (str/None cells, int `__row__`) -> canonical users, departments,
groups and rejects. Every input row ends up in exactly one place, and a reject says why."""

from __future__ import annotations

import pandas as pd
import pytest

from rostersync_pipelines.config import Sync
from rostersync_pipelines.errors import SourceError
from rostersync_pipelines.schema import REJECT_COLUMNS, ROW, USER_COLUMNS
from rostersync_pipelines.transform.normalize import Canonical, normalize

USER_FIELDS = {
    "user_unique_key": "EmployeeId",
    "login": "Login",
    "email": "Email",
    "first_name": "FirstName",
    "department": "Dept",
    "status": "Status",
    "termination_date": "End",
    "groups": "Team",
}
USER_HEADER = ["EmployeeId", "Login", "Email", "FirstName", "Dept", "Status", "End", "Team", "Company"]
DEPARTMENT_FIELDS = {"department_unique_key": "DeptId", "code": "Code", "name": "Name", "parent": "Parent"}
DEPARTMENT_HEADER = ["DeptId", "Code", "Name", "Parent"]


def raw(header: list[str], rows: list[tuple | dict]) -> pd.DataFrame:
    """A frame as read_file gives it: str-or-None object columns, the sheet row in `__row__` (header = 1)."""
    records = [row if isinstance(row, dict) else dict(zip(header, row, strict=True)) for row in rows]
    frame = pd.DataFrame(
        {column: pd.Series([record.get(column) for record in records], dtype=object) for column in header}
    )
    frame[ROW] = pd.Series(range(2, len(records) + 2), dtype="int64")
    return frame


def person(login: str | None, **values) -> dict:
    """A user row with defaults: id E-<login>, email <login>@corp.example, department ENG, active."""
    row = {
        "EmployeeId": f"E-{login}",
        "Login": login,
        "Email": f"{login}@corp.example" if login else None,
        "FirstName": (login or "x").capitalize(),
        "Dept": "ENG",
        "Status": "Active",
        "End": None,
        "Team": None,
        "Company": "Corp",
    }
    row.update(values)
    return row


def users_raw(*people: dict, header: list[str] = USER_HEADER) -> pd.DataFrame:
    return raw(header, list(people))


def departments_raw(*rows: tuple) -> pd.DataFrame:
    return raw(DEPARTMENT_HEADER, list(rows))


STANDARD_DEPARTMENTS = [
    ("1", "HQ", "Head office", None),
    ("2", "ENG", "Engineering", "HQ"),
    ("3", "OPS", "Ops", "HQ"),
]


def make_sync(
    users: dict | None = None,
    departments: dict | None = DEPARTMENT_FIELDS,
    rules: list | None = None,
    **policies,
) -> Sync:
    sources = {"users": {"kind": "file", "path": "users.csv"}}
    if departments is not None:
        sources["departments"] = {"kind": "file", "path": "departments.csv"}
    return Sync.model_validate(
        {
            "sources": sources,
            "fields": {"users": users or USER_FIELDS, "departments": departments},
            "rules": rules or [],
            "policies": policies,
            "target": {"kind": "embedded"},
        }
    )


def run(users: pd.DataFrame, departments: pd.DataFrame | None = None, sync: Sync | None = None) -> Canonical:
    """normalize, then the checks every result must pass."""
    sync = sync or make_sync(departments=DEPARTMENT_FIELDS if departments is not None else None)
    canonical = normalize(users, departments, sync)
    assert_accounted(users, departments, canonical)
    return canonical


def assert_accounted(users: pd.DataFrame, departments: pd.DataFrame | None, canonical: Canonical) -> None:
    rejects = canonical.rejects
    assert list(rejects.columns) == REJECT_COLUMNS
    assert set(rejects["outcome"]) <= {"rejected", "not_synced", "out_of_scope"}
    assert rejects["reason"].map(lambda reason: isinstance(reason, str) and reason != "").all()
    user_rejects = rejects[rejects["source"] == "users"]
    assert len(canonical.users) + len(user_rejects) == len(users), "each user row kept or rejected"
    assert sorted([*canonical.users[ROW], *user_rejects["row"]]) == sorted(users[ROW])
    if departments is not None:
        department_rejects = rejects[rejects["source"] == "departments"]
        assert len(canonical.departments) + len(department_rejects) == len(departments)
        assert sorted([*canonical.departments[ROW], *department_rejects["row"]]) == sorted(departments[ROW])
    for column in [*USER_COLUMNS, *(c for c in canonical.users.columns if c.startswith("custom."))]:
        cells = canonical.users[column]
        assert all(value is None or type(value) is str for value in cells), (column, cells.tolist())


def reject_of(canonical: Canonical, key: str, source: str = "users") -> dict:
    rows = canonical.rejects[(canonical.rejects["source"] == source) & (canonical.rejects["key"] == key)]
    assert len(rows) == 1, f"expected one reject for {key}:\n{canonical.rejects.to_string()}"
    return rows.iloc[0].to_dict()


def user(canonical: Canonical, login: str) -> dict:
    rows = canonical.users[canonical.users["login"] == login]
    assert len(rows) == 1, f"expected user {login}:\n{canonical.users.to_string()}"
    return rows.iloc[0].to_dict()


def logins(canonical: Canonical) -> list[str]:
    return canonical.users["login"].tolist()


# --- mapping ----------------------------------------------------------------------------------------------


def test_headers_match_trimmed_and_case_insensitively():
    header = [" employeeid ", "LOGIN", "email ", "firstname", "DEPT", "status", "END", "team", "Company"]
    frame = raw(header, [("E1", "ann", "ann@corp.example", "Ann", "ENG", "Active", None, None, "Corp")])
    canonical = run(frame, departments_raw(*STANDARD_DEPARTMENTS))
    assert (user(canonical, "ann")["user_unique_key"], user(canonical, "ann")["email"]) == (
        "E1",
        "ann@corp.example",
    )
    assert user(canonical, "ann")["department"] == "ENG"


def test_missing_mapped_column_lists_the_columns_present():
    frame = raw(["EmployeeId", "Login", "Mail"], [("E1", "ann", "ann@corp.example")])
    sync = make_sync(
        users={"user_unique_key": "EmployeeId", "login": "Login", "email": "Email"}, departments=None
    )
    with pytest.raises(SourceError) as caught:
        normalize(frame, None, sync)
    message = str(caught.value)
    assert "'Email'" in message and "EmployeeId, Login, Mail" in message and ROW not in message


def test_missing_department_column_names_the_departments_source():
    departments = raw(["DeptId", "Code"], [("1", "HQ")])
    with pytest.raises(SourceError, match=r"source 'departments'.*'Name'.*DeptId, Code"):
        normalize(users_raw(person("ann")), departments, make_sync())


def test_missing_rule_column_is_an_error_too():
    sync = make_sync(departments=None, rules=[{"skip": {"field": "Contract", "equals": "yes"}}])
    with pytest.raises(SourceError, match="'Contract'.*columns present: EmployeeId"):
        normalize(users_raw(person("ann")), None, sync)


def test_email_fallback_takes_the_first_non_blank_column():
    header = ["Login", "WorkEmail", "PersonalEmail"]
    frame = raw(
        header,
        [
            ("ann", "ann@corp.example", "ann@home.example"),
            ("bob", None, "bob@home.example"),
            ("cat", "   ", "cat@home.example"),
            ("dan", None, None),
        ],
    )
    sync = make_sync(users={"login": "Login", "email": ["WorkEmail", "PersonalEmail"]}, departments=None)
    canonical = run(frame, sync=sync)
    emails = dict(zip(canonical.users["login"], canonical.users["email"], strict=True))
    assert emails == {
        "ann": "ann@corp.example",
        "bob": "bob@home.example",
        "cat": "cat@home.example",
        "dan": None,
    }


def test_values_are_trimmed_and_blank_is_none():
    canonical = run(users_raw(person("ann", FirstName="  Ann  ", Team="  ")))
    assert user(canonical, "ann")["first_name"] == "Ann"
    assert user(canonical, "ann")["groups"] is None


def test_login_falls_back_to_email():
    canonical = run(users_raw(person(None, Email="ann@corp.example", EmployeeId="E1"), person("bob")))
    assert user(canonical, "ann@corp.example")["email"] == "ann@corp.example"


def test_leading_zeros_are_kept():
    frame = users_raw(person("ann", EmployeeId="000123", Dept="007"))
    departments = departments_raw(("0001", "007", "Bond", None))
    canonical = run(frame, departments)
    assert user(canonical, "ann")["user_unique_key"] == "000123"
    assert user(canonical, "ann")["department"] == "007"
    assert canonical.departments["department_unique_key"].tolist() == ["0001"]


# --- rejected users ---------------------------------------------------------------------------------------


def test_no_login_or_email_is_rejected():
    canonical = run(users_raw(person(None, EmployeeId="E9", Email=None), person("bob")))
    reject = reject_of(canonical, "E9")
    assert (reject["outcome"], reject["reason"], reject["row"]) == ("rejected", "no login or email", 2)
    assert logins(canonical) == ["bob"]


def test_no_identity_at_all_is_named_by_its_row():
    canonical = run(users_raw(person(None, EmployeeId=None, Email=None)))
    assert reject_of(canonical, "row 2")["reason"] == "no login or email"


@pytest.mark.parametrize(
    "email", ["ann", "ann@corp", "ann smith@corp.example", "ann@@corp.example", "@corp.example"]
)
def test_invalid_email_is_rejected(email):
    canonical = run(users_raw(person("ann", Email=email), person("bob")))
    reject = reject_of(canonical, "ann")
    assert reject["outcome"] == "rejected"
    assert reject["reason"] == f'invalid email "{email}"'
    assert (reject["user_unique_key"], reject["login"], reject["email"]) == ("E-ann", "ann", email)
    assert logins(canonical) == ["bob"]


def test_unusual_but_valid_emails_are_kept():
    canonical = run(users_raw(person("ann", Email="Ann.O'Neil+lms@Sub.Corp.Example.co.uk")))
    assert user(canonical, "ann")["email"] == "Ann.O'Neil+lms@Sub.Corp.Example.co.uk"


@pytest.mark.parametrize(
    ("key", "first", "second"),
    [
        (
            "login",
            person("ann", Email="ann1@corp.example"),
            person(" ANN ", EmployeeId="E-x", Email="a2@c.example"),
        ),
        ("email", person("ann"), person("annie", Email="ANN@corp.example")),
        ("user_unique_key", person("ann"), person("bob", EmployeeId="e-ann")),
    ],
)
def test_the_same_identity_twice_rejects_both_rows(key, first, second):
    canonical = run(users_raw(first, person("cat"), second))
    rejected = canonical.rejects[canonical.rejects["source"] == "users"]
    assert rejected["row"].tolist() == [2, 4]
    assert set(rejected["outcome"]) == {"rejected"}
    for reason in rejected["reason"]:
        assert reason.startswith(f"{key} ") and "rows 2, 4" in reason and "the same identity twice" in reason
    assert logins(canonical) == ["cat"]


def test_exact_duplicate_row_keeps_the_first():
    canonical = run(users_raw(person("ann"), person("bob"), person("ann"), person("ann")))
    assert logins(canonical) == ["ann", "bob"]
    assert user(canonical, "ann")[ROW] == 2
    rejected = canonical.rejects
    assert rejected["row"].tolist() == [4, 5]
    assert rejected["reason"].tolist() == ["duplicate of row 2", "duplicate of row 2"]
    assert set(rejected["outcome"]) == {"rejected"}


def test_exact_duplicate_ignores_unmapped_columns_and_surrounding_spaces():
    canonical = run(
        users_raw(person("ann", Company="Corp"), person("ann", FirstName=" Ann ", Company="Other"))
    )
    assert logins(canonical) == ["ann"]
    assert reject_of(canonical, "ann")["reason"] == "duplicate of row 2"


def test_exact_duplicate_of_a_row_that_shares_its_identity_rejects_them_all():
    canonical = run(users_raw(person("ann"), person("ann"), person("ann", Email="other@corp.example")))
    assert logins(canonical) == []
    reasons = canonical.rejects.set_index("row")["reason"]
    assert reasons[3] == "duplicate of row 2"
    assert "rows 2, 4" in reasons[2] and "rows 2, 4" in reasons[4]


def test_a_user_in_two_departments_says_so():
    canonical = run(
        users_raw(person("ann"), person("ann", Dept="OPS")), departments_raw(*STANDARD_DEPARTMENTS)
    )
    assert logins(canonical) == []
    for reason in canonical.rejects["reason"]:
        assert reason == 'user_unique_key "E-ann" is in two departments (ENG on row 2, OPS on row 3)'


def test_unknown_department_is_rejected():
    canonical = run(
        users_raw(person("ann", Dept="SALES"), person("bob")), departments_raw(*STANDARD_DEPARTMENTS)
    )
    reject = reject_of(canonical, "ann")
    assert reject["reason"] == 'department "SALES" is not in the departments source'
    assert reject["outcome"] == "rejected"
    assert logins(canonical) == ["bob"]


def test_department_found_by_code_in_any_case_or_by_its_unique_key():
    frame = users_raw(person("ann", Dept=" eng "), person("bob", Dept="3"))
    canonical = run(frame, departments_raw(*STANDARD_DEPARTMENTS))
    assert user(canonical, "ann")["department"] == "ENG"
    assert user(canonical, "bob")["department"] == "OPS"


def test_without_a_departments_source_the_department_is_kept_as_written():
    canonical = run(users_raw(person("ann", Dept="Anything")))
    assert canonical.departments is None
    assert user(canonical, "ann")["department"] == "Anything"


# --- departments ------------------------------------------------------------------------------------------


def test_departments_get_their_depth():
    departments = departments_raw(*STANDARD_DEPARTMENTS, ("4", "PLAT", "Platform", "eng"))
    canonical = run(users_raw(person("ann")), departments)
    depths = dict(zip(canonical.departments["code"], canonical.departments["depth"], strict=True))
    assert depths == {"HQ": 0, "ENG": 1, "OPS": 1, "PLAT": 2}
    assert canonical.departments["depth"].dtype.kind == "i"


def test_department_parent_cycle_rejects_every_member_and_their_users():
    departments = departments_raw(
        *STANDARD_DEPARTMENTS,
        ("4", "A", "A", "B"),
        ("5", "B", "B", "C"),
        ("6", "C", "C", "A"),
        ("7", "UNDER", "Under A", "A"),
    )
    frame = users_raw(person("ann"), person("bob", Dept="B"), person("cat", Dept="UNDER"))
    canonical = run(frame, departments)
    assert canonical.departments["code"].tolist() == ["HQ", "ENG", "OPS"]
    department_rejects = canonical.rejects[canonical.rejects["source"] == "departments"].set_index("code")
    for code in ("A", "B", "C"):
        assert department_rejects.at[code, "reason"].startswith("department parent cycle: ")
        assert department_rejects.at[code, "outcome"] == "rejected"
    assert set(
        department_rejects.at["A", "reason"].removeprefix("department parent cycle: ").split(" -> ")
    ) == {
        "A",
        "B",
        "C",
    }
    assert department_rejects.at["UNDER", "reason"] == "under department 'A', which cannot be placed"
    bob = reject_of(canonical, "bob")["reason"]
    assert bob.startswith('department "B" was rejected (departments row 6: department parent cycle')
    cat = reject_of(canonical, "cat")["reason"]
    assert cat == (
        "department \"UNDER\" was rejected (departments row 8: under department 'A', which cannot be placed)"
    )
    assert logins(canonical) == ["ann"]


def test_department_that_is_its_own_parent():
    canonical = run(
        users_raw(person("ann")), departments_raw(*STANDARD_DEPARTMENTS, ("4", "SELF", "S", "self"))
    )
    assert reject_of(canonical, "SELF", "departments")["reason"] == "department parent cycle: SELF -> SELF"


def test_unknown_parent_rejects_the_department_and_everything_under_it():
    departments = departments_raw(
        *STANDARD_DEPARTMENTS, ("4", "ORPHAN", "Orphan", "GONE"), ("5", "KID", "Kid", "ORPHAN")
    )
    frame = users_raw(person("ann", Dept="ORPHAN"), person("bob", Dept="KID"), person("cat"))
    canonical = run(frame, departments)
    assert reject_of(canonical, "ORPHAN", "departments")["reason"] == "unknown parent department 'GONE'"
    assert reject_of(canonical, "KID", "departments")["reason"] == (
        "under department 'ORPHAN', which cannot be placed"
    )
    assert "unknown parent department 'GONE'" in reject_of(canonical, "ann")["reason"]
    assert "ORPHAN" in reject_of(canonical, "bob")["reason"]
    assert logins(canonical) == ["cat"]


def test_department_without_code_is_rejected():
    canonical = run(
        users_raw(person("ann")), departments_raw(*STANDARD_DEPARTMENTS, ("9", None, "Nameless", None))
    )
    reject = reject_of(canonical, "9", "departments")
    assert (reject["reason"], reject["row"], reject["department_unique_key"]) == (
        "no department code",
        5,
        "9",
    )


def test_duplicate_department_code_rejects_both_and_their_users():
    departments = departments_raw(*STANDARD_DEPARTMENTS, ("4", "ops", "Ops again", None))
    canonical = run(users_raw(person("ann", Dept="OPS"), person("bob")), departments)
    rejected = canonical.rejects[canonical.rejects["source"] == "departments"]
    assert rejected["row"].tolist() == [4, 5]
    assert all("the same identity twice" in reason for reason in rejected["reason"])
    assert "was rejected" in reject_of(canonical, "ann")["reason"]
    assert logins(canonical) == ["bob"]


def test_exact_duplicate_department_keeps_the_first():
    departments = departments_raw(*STANDARD_DEPARTMENTS, ("3", "OPS", "Ops", "HQ"))
    canonical = run(users_raw(person("ann", Dept="OPS")), departments)
    assert reject_of(canonical, "OPS", "departments")["reason"] == "duplicate of row 4"
    assert user(canonical, "ann")["department"] == "OPS"


# --- policies and rules -----------------------------------------------------------------------------------


def test_users_without_department_are_not_synced_by_default():
    canonical = run(
        users_raw(person("ann", Dept=None), person("bob")), departments_raw(*STANDARD_DEPARTMENTS)
    )
    reject = reject_of(canonical, "ann")
    assert reject["outcome"] == "not_synced"
    assert "users_without_department: skip" in reject["reason"]
    assert logins(canonical) == ["bob"]


def test_users_without_department_imported_by_policy():
    sync = make_sync(users_without_department="import")
    frame = users_raw(person("ann", Dept=None), person("bob"))
    canonical = run(frame, departments_raw(*STANDARD_DEPARTMENTS), sync)
    assert logins(canonical) == ["ann", "bob"]
    assert user(canonical, "ann")["department"] is None
    assert canonical.rejects.empty


@pytest.mark.parametrize(
    ("condition", "skipped"),
    [
        ({"contains": "contract"}, {"bob", "dan"}),
        ({"equals": "corp"}, {"ann"}),
        ({"in": ["Contractor Inc", "Vendor"]}, {"bob", "eve"}),
        ({"empty": True}, {"cat"}),
        ({"empty": False}, {"ann", "bob", "dan", "eve"}),
    ],
)
def test_import_rules_put_rows_out_of_scope(condition, skipped):
    frame = users_raw(
        person("ann", Company="Corp"),
        person("bob", Company="Contractor Inc"),
        person("cat", Company="  "),
        person("dan", Company="Subcontracted Ltd"),
        person("eve", Company="vendor"),
    )
    sync = make_sync(departments=None, rules=[{"skip": {"field": "company", **condition}}])
    canonical = run(frame, sync=sync)
    assert set(canonical.rejects["key"]) == skipped
    assert set(canonical.rejects["outcome"]) <= {"out_of_scope"}
    assert all(
        reason.startswith("skipped by import rule: company ") for reason in canonical.rejects["reason"]
    )
    assert set(logins(canonical)) == {"ann", "bob", "cat", "dan", "eve"} - skipped


def test_first_matching_rule_names_the_reason_and_scope_comes_before_validation():
    rules = [
        {"skip": {"field": "Company", "equals": "Vendor"}},
        {"skip": {"field": "Status", "in": ["Intern"]}},
    ]
    frame = users_raw(
        person("ann", Company="Vendor", Status="Intern"),
        person("bob", Status="Intern", Email="not-an-email"),
        person("cat"),
    )
    canonical = run(frame, sync=make_sync(departments=None, rules=rules))
    assert reject_of(canonical, "ann")["reason"] == "skipped by import rule: Company is 'Vendor'"
    bob = reject_of(canonical, "bob")
    assert (bob["outcome"], bob["reason"]) == (
        "out_of_scope",
        "skipped by import rule: Status is one of Intern",
    )
    assert bob["email"] == "not-an-email", "identity columns travel with an out-of-scope row"
    assert logins(canonical) == ["cat"]


@pytest.mark.parametrize(
    ("status", "canonical_status"),
    [
        ("Active", "active"),
        ("TRUE", "active"),
        ("yes", "active"),
        ("On Leave", "active"),
        (None, "active"),
        ("Inactive", "inactive"),
        (" terminated ", "inactive"),
        ("FALSE", "inactive"),
        ("0", "inactive"),
        ("Suspended", "inactive"),
    ],
)
def test_status_values(status, canonical_status):
    canonical = run(users_raw(person("ann", Status=status)))
    assert user(canonical, "ann")["status"] == canonical_status


def test_unknown_status_is_rejected():
    canonical = run(users_raw(person("ann", Status="Retired-ish"), person("bob")))
    assert reject_of(canonical, "ann")["reason"] == 'unknown status "Retired-ish"; use Active or Inactive'
    assert logins(canonical) == ["bob"]


@pytest.mark.parametrize(
    ("written", "iso"),
    [
        ("2026-03-07", "2026-03-07"),
        ("2026-03-07 00:00:00", "2026-03-07"),
        ("3/7/2026", "2026-03-07"),
        ("03/07/2026", "2026-03-07"),
        ("12/31/2026", "2026-12-31"),
        (None, None),
    ],
)
def test_termination_dates(written, iso):
    canonical = run(users_raw(person("ann", End=written)))
    assert user(canonical, "ann")["termination_date"] == iso


@pytest.mark.parametrize("written", ["31/12/2026", "2026-13-01", "next friday", "3/7/26"])
def test_invalid_termination_date_is_rejected(written):
    canonical = run(users_raw(person("ann", End=written), person("bob")))
    assert reject_of(canonical, "ann")["reason"] == f'invalid termination date "{written}"; use YYYY-MM-DD'


def test_mixed_date_styles_in_one_column():
    canonical = run(users_raw(person("ann", End="2026-01-05"), person("bob", End="1/6/2026")))
    assert canonical.users["termination_date"].tolist() == ["2026-01-05", "2026-01-06"]


# --- custom fields and groups -----------------------------------------------------------------------------


def test_custom_fields_and_their_defaults():
    fields = {"login": "Login", "email": "Email", "custom": {"job_title": "Title", "site": "Site"}}
    sync = make_sync(
        users=fields, departments=None, custom_field_defaults={"job_title": "Staff", "cost_center": "CC-000"}
    )
    frame = raw(
        ["Login", "Email", "Title", "Site"],
        [("ann", "ann@corp.example", "Engineer", "0042"), ("bob", "bob@corp.example", " ", None)],
    )
    canonical = run(frame, sync=sync)
    ann, bob = user(canonical, "ann"), user(canonical, "bob")
    assert (ann["custom.job_title"], ann["custom.site"], ann["custom.cost_center"]) == (
        "Engineer",
        "0042",
        "CC-000",
    )
    assert (bob["custom.job_title"], bob["custom.site"], bob["custom.cost_center"]) == (
        "Staff",
        None,
        "CC-000",
    )


def test_custom_field_values_count_for_exact_duplicates():
    sync = make_sync(users={"login": "Login", "custom": {"title": "Title"}}, departments=None)
    frame = raw(["Login", "Title"], [("ann", "Dev"), ("ann", "Lead")])
    canonical = run(frame, sync=sync)
    assert logins(canonical) == []
    assert all("the same identity twice" in reason for reason in canonical.rejects["reason"])


def test_groups_table_from_values_split_on_semicolons():
    frame = users_raw(
        person("ann", Team="Sales; Mentors"),
        person("bob", Team="Sales"),
        person("cat", Team=" ; Mentors;;Sales ;"),
        person("dan", Team=None),
        person("eve", Team="Mentors;Mentors"),
    )
    canonical = run(frame)
    assert canonical.groups.to_dict("records") == [
        {"name": "Mentors", "members": 3},
        {"name": "Sales", "members": 3},
    ]
    assert user(canonical, "ann")["groups"] == "Sales; Mentors"


def test_groups_of_rejected_users_are_not_counted():
    canonical = run(users_raw(person("ann", Team="Sales"), person("bob", Team="Ops", Status="??")))
    assert canonical.groups.to_dict("records") == [{"name": "Sales", "members": 1}]


def test_groups_table_is_empty_without_a_groups_field():
    sync = make_sync(users={"login": "Login"}, departments=None)
    canonical = run(raw(["Login"], [("ann",)]), sync=sync)
    assert list(canonical.groups.columns) == ["name", "members"] and canonical.groups.empty


# --- the shape of the result ------------------------------------------------------------------------------


def test_reject_rows_carry_identity_columns():
    departments = departments_raw(*STANDARD_DEPARTMENTS, ("8", "LOOP", "Loop", "LOOP"))
    frame = users_raw(person("ann", Email="bad"), person("bob", Dept="LOOP"))
    canonical = run(frame, departments)
    rejects = canonical.rejects
    assert rejects[["source", "row", "key", "outcome"]].to_dict("records") == [
        {"source": "departments", "row": 5, "key": "LOOP", "outcome": "rejected"},
        {"source": "users", "row": 2, "key": "ann", "outcome": "rejected"},
        {"source": "users", "row": 3, "key": "bob", "outcome": "rejected"},
    ]
    assert rejects.loc[0, ["department_unique_key", "code", "login"]].tolist() == ["8", "LOOP", None]
    assert rejects.loc[2, ["user_unique_key", "login", "email"]].tolist() == [
        "E-bob",
        "bob",
        "bob@corp.example",
    ]


def test_canonical_users_have_every_column_and_no_rejects_when_clean():
    canonical = run(users_raw(person("ann"), person("bob")), departments_raw(*STANDARD_DEPARTMENTS))
    assert list(canonical.users.columns[: len(USER_COLUMNS) + 1]) == [ROW, *USER_COLUMNS]
    assert canonical.rejects.empty and list(canonical.rejects.columns) == REJECT_COLUMNS
    assert isinstance(canonical.users.index, pd.RangeIndex)


def test_empty_sources_give_empty_tables():
    canonical = run(users_raw(), departments_raw())
    assert canonical.users.empty and canonical.departments.empty and canonical.rejects.empty
    assert canonical.groups.empty


def test_many_problems_at_once_each_row_accounted_for():
    departments = departments_raw(
        *STANDARD_DEPARTMENTS, ("4", None, "No code", None), ("5", "X", "X", "Y"), ("6", "Y", "Y", "X")
    )
    frame = users_raw(
        person("ann"),
        person(None, Email=None, EmployeeId=None),
        person("bob", Email="bob@"),
        person("cat"),
        person("cat"),
        person("dan", Dept="OPS"),
        person("dan", Dept="ENG"),
        person("eve", Dept="X"),
        person("fay", Dept=None),
        person("gus", Status="maybe"),
        person("hal", End="tomorrow"),
        person("ivy", Company="Contractor"),
        person("jon", Dept="NOPE"),
    )
    sync = make_sync(rules=[{"skip": {"field": "Company", "contains": "contractor"}}])
    canonical = run(frame, departments, sync)
    assert logins(canonical) == ["ann", "cat"]
    outcomes = canonical.rejects.groupby("outcome").size().to_dict()
    assert outcomes == {"rejected": 12, "not_synced": 1, "out_of_scope": 1}
