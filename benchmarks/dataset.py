"""A synthetic roster and LMS state whose differences are known exactly, so a plan's counts can be asserted.

Everything comes from one seeded numpy generator and whole-array string operations (numpy.strings), so a
million users take seconds and every run sees the same data. The one per-row Python step is the
`custom_fields` dict per LMS user: the LmsState contract holds a dict per user, and a real LMS read builds
one per user too, so their memory belongs in the measured state.
"""

from __future__ import annotations

import datetime as dt
import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from rostersync_pipelines.config import Config
from rostersync_pipelines.targets.base import (
    DEPARTMENT_STATE_COLUMNS,
    GROUP_MEMBER_STATE_COLUMNS,
    GROUP_STATE_COLUMNS,
    USER_STATE_COLUMNS,
    LmsState,
)

SEED = 20_250_115
TODAY = dt.date(2025, 1, 15)
DEPARTMENTS, ROOTS, MIDDLE = 2_000, 20, 200  # a 3-level tree: 20 roots, 200 under them, 1,780 leaves
MANAGER_SHARE = 0.05
TEAMS = [f"Team {n}" for n in "Alpha Bravo Charlie Delta Echo Foxtrot Golf Hotel India Juliett Kilo Lima "
         "Mike November Oscar Papa Quebec Romeo Sierra Tango".split()]  # fmt: skip
TITLES = [
    f"{level} {role}"
    for level in ("Junior", "Associate", "Senior", "Lead", "Principal")
    for role in "Engineer Analyst Designer Accountant Recruiter Operator Technician Writer Planner Agent".split()
]
FIRST = "Ana Ben Chloe Dmitri Elif Farid Grace Hiro Ines Jonas Kemal Lena Marta Nils Olga Pavel".split()
LAST = "Adams Berg Costa Dubois Eriksen Fischer Garcia Haas Ito Jansen Kowalski Lindqvist Moreau".split()
USER_COLUMNS = (
    "EmployeeId Login WorkEmail PersonalEmail FirstName LastName DepartmentCode ManagerLogin "
    "FunctionalManagerLogin Status TerminationDate Team Title Company"
).split()


class Files:
    """Where one generated dataset lives (a temp dir per N)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.users, self.departments = root / "users.csv", root / "departments.csv"
        self.lms, self.expected = root / "lms.pkl", root / "expected.json"


def config(files: Files) -> Config:
    """The demo config's mapping and rules, with nothing held by safety limits."""
    fields = {
        "users": {
            "user_unique_key": "EmployeeId",
            "login": "Login",
            "email": ["WorkEmail", "PersonalEmail"],
            "first_name": "FirstName",
            "last_name": "LastName",
            "department": "DepartmentCode",
            "manager": "ManagerLogin",
            "functional_manager": "FunctionalManagerLogin",
            "status": "Status",
            "termination_date": "TerminationDate",
            "groups": "Team",
            "custom": {"job_title": "Title"},
        },
        "departments": {
            "department_unique_key": "DepartmentId",
            "code": "Code",
            "name": "Name",
            "parent": "ParentCode",
        },
    }
    sync = {
        "sources": {
            "users": {"kind": "file", "path": str(files.users)},
            "departments": {"kind": "file", "path": str(files.departments)},
        },
        "fields": fields,
        "rules": [{"skip": {"field": "Company", "contains": "Contractor"}}],
        "matching": {"users": ["user_unique_key", "login", "email"]},
        "safety": {"max_deactivations": "100%"},
        "target": {"kind": "embedded", "url": "sqlite://"},
    }
    return Config.model_validate({"syncs": {"bench": sync}})


def _numbered(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    return np.strings.add(prefix, np.strings.zfill(numbers.astype("U"), width))


def _objects(values: np.ndarray) -> np.ndarray:
    return values.astype(object)


def _nones(n: int) -> np.ndarray:
    return np.full(n, None, dtype=object)


def _frame(columns: dict[str, np.ndarray], names: list[str]) -> pd.DataFrame:
    # dtype=object: pandas 3 would otherwise infer its str dtype, and LmsState cells are str or None
    return pd.DataFrame({name: columns[name] for name in names}, dtype=object)


def _departments(files: Files) -> tuple[np.ndarray, pd.DataFrame]:
    """Write departments.csv; return (codes, the LMS's identical departments, id = index + 1)."""
    j = np.arange(DEPARTMENTS)
    middle = (j - ROOTS) // 10
    leaf = ROOTS + (j - ROOTS - MIDDLE) % MIDDLE
    parent = np.where(j < ROOTS, -1, np.where(j < ROOTS + MIDDLE, middle, leaf))
    codes, keys = _numbered("DEP", j, 4), (100_000 + j).astype("U")
    names = np.strings.add("Department ", j.astype("U"))
    parent_codes = np.where(parent >= 0, _objects(codes)[parent], None)
    table = {"DepartmentId": keys, "Code": codes, "Name": names, "ParentCode": parent_codes}
    pacsv.write_csv(pa.table(table), files.departments)
    ids = _objects((j + 1).astype("U"))
    lms = {
        "id": ids,
        "code": _objects(codes),
        "name": _objects(names),
        "parent_id": np.where(parent >= 0, ids[parent], None),
        "department_unique_key": _objects(keys),
    }
    return codes, _frame(lms, DEPARTMENT_STATE_COLUMNS)


def generate(n: int, files: Files) -> dict:
    """Write users.csv, departments.csv, the pickled LmsState and expected.json; return the expectations."""
    assert n >= 10_000, "below 10,000 users some 0.1% / 1% differences would round to zero"
    rng = np.random.default_rng(SEED)
    absent, changed, email_changed, extra = n // 100, n // 100, n // 1000, n // 100
    codes, lms_departments = _departments(files)

    # people 0..n-1 are in the source, n..n+extra-1 only in the LMS; attributes are indexes into the pools
    everyone = n + extra
    people = np.arange(everyone)
    uuk, login = _numbered("E", people, 8), _numbered("u", people, 8)
    email = np.strings.add(login, "@example.com")
    first, last = rng.integers(0, len(FIRST), everyone), rng.integers(0, len(LAST), everyone)
    dept, team = rng.integers(0, DEPARTMENTS, everyone), rng.integers(0, len(TEAMS), everyone)
    title = rng.integers(0, len(TITLES), everyone)
    order = rng.permutation(n)
    is_absent, is_changed = order[:absent], order[absent : absent + changed]
    is_email = order[absent + changed : absent + changed + email_changed]
    in_lms = np.ones(everyone, dtype=bool)
    in_lms[is_absent] = False
    staying = np.flatnonzero(in_lms[:n])  # managers are people the LMS has, so their id is known
    has_manager = rng.random(n) < MANAGER_SHARE
    manager = staying[rng.integers(0, len(staying), n)]
    other = np.where(people[:n] == staying[0], staying[1], staying[0])
    manager = np.where(manager == people[:n], other, manager)  # nobody manages themselves
    logins = _objects(login)
    teams, titles = np.array(TEAMS, dtype=object), np.array(TITLES, dtype=object)
    firsts, lasts = np.array(FIRST, dtype=object), np.array(LAST, dtype=object)

    source = {
        "EmployeeId": uuk[:n],
        "Login": login[:n],
        "WorkEmail": email[:n],
        "PersonalEmail": _nones(n),
        "FirstName": firsts[first[:n]],
        "LastName": lasts[last[:n]],
        "DepartmentCode": codes[dept[:n]],
        "ManagerLogin": np.where(has_manager, logins[manager], None),
        "FunctionalManagerLogin": _nones(n),
        "Status": np.full(n, "Active"),
        "TerminationDate": _nones(n),
        "Team": teams[team[:n]],
        "Title": titles[title[:n]],
        "Company": np.full(n, "Acme Corp"),
    }
    pacsv.write_csv(pa.table({name: source[name] for name in USER_COLUMNS}), files.users)

    # the LMS's view: changed people differ in one field (and their team), a few in their email
    kind = np.arange(changed) % 4  # first_name, last_name, title, department
    for values, size, k in ((first, len(FIRST), 0), (last, len(LAST), 1), (title, len(TITLES), 2)):
        values[is_changed[kind == k]] = (values[is_changed[kind == k]] + 1) % size
    dept[is_changed[kind == 3]] = (dept[is_changed[kind == 3]] + 1) % DEPARTMENTS
    team[is_changed] = (team[is_changed] + 1) % len(TEAMS)
    email = _objects(email)
    email[is_email] = _objects(np.strings.add(login[is_email], "@old.example.com"))

    held = np.flatnonzero(in_lms)
    number = np.full(everyone, -1)
    number[held] = rng.permutation(len(held)) + 1
    ids = _objects(number.astype("U"))
    manager_id = _nones(everyone)
    manager_id[:n] = np.where(has_manager, ids[manager], None)
    rows = held[np.argsort(number[held])]  # the embedded target reads in primary-key order
    custom = np.empty(len(rows), dtype=object)
    custom[:] = [{"job_title": value} for value in titles[title[rows]].tolist()]
    users = {
        "id": ids[rows],
        "login": logins[rows],
        "email": email[rows],
        "first_name": firsts[first[rows]],
        "last_name": lasts[last[rows]],
        "department_id": lms_departments["id"].to_numpy()[dept[rows]],
        "status": np.full(len(rows), "active", dtype=object),
        "user_unique_key": _objects(uuk[rows]),
        "manager_id": manager_id[rows],
        "functional_manager_id": _nones(len(rows)),
        "role": np.full(len(rows), "learner", dtype=object),
        "custom_fields": custom,
    }
    admin = dict.fromkeys(USER_STATE_COLUMNS) | {
        "id": str(len(held) + 1),
        "login": "admin",
        "email": "admin@example.com",
        "status": "active",
        "role": "superadmin",
    }  # protected: missing from the source, never deactivated
    group_ids = _objects(np.arange(1, len(TEAMS) + 1).astype("U"))
    lms = LmsState(
        users=pd.concat(
            [_frame(users, USER_STATE_COLUMNS), pd.DataFrame([admin], dtype=object)], ignore_index=True
        ),
        departments=lms_departments,
        groups=_frame({"id": group_ids, "name": teams}, GROUP_STATE_COLUMNS),
        group_members=_frame(
            {"group_id": group_ids[team[rows]], "user_id": ids[rows]}, GROUP_MEMBER_STATE_COLUMNS
        ),
    )
    with files.lms.open("wb") as out:
        pickle.dump({"lms": lms, "owned_groups": set(group_ids)}, out, protocol=pickle.HIGHEST_PROTOCOL)

    per_kind = np.bincount(kind, minlength=4)
    updates = int(per_kind[:3].sum()) + email_changed
    expected = {
        "n": n,
        "counts": {  # summarize()'s shape; the sync owns every group, so stale memberships are removed
            "users": {"create": absent, "deactivate": extra, "move": int(per_kind[3]), "update": updates},
            "departments": {},
            "groups": {"add_member": absent + changed, "remove_member": changed},
            "held": {},
            "conflicts": 0,
            "errors": 0,
            "rejected_rows": 0,
            "skipped_rows": 0,
            "unchanged": n - absent - changed - email_changed + 1 + DEPARTMENTS,  # +1: the protected admin
        },
        "created": sorted(logins[is_absent]),
        "deactivated": sorted(logins[n:]),
        "email_changed": sorted(logins[is_email]),
        "merge": {"both": n - absent, "left_only": absent, "right_only": extra + 1},
    }
    files.expected.write_text(json.dumps(expected))
    return expected
