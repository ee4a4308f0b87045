"""Property: applying a plan and planning again finds nothing left to do, whatever the roster looks like.

Rosters are drawn from a small alphabet of logins, emails and departments so that collisions, renames,
duplicates and conflicts happen often; the LMS may already hold people the sync never created.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rostersync_pipelines.apply import applicable
from rostersync_pipelines.errors import TargetError
from rostersync_pipelines_tests.roster import Roster, person

LOGINS = ["ann", "bob", "cat", "dan", "eve", "fay"]
EMAILS = [f"{name}@corp.example" for name in LOGINS] + ["shared@corp.example", "ANN@corp.example "]

people = st.builds(
    lambda login, key, email, dept, team, status, first: person(
        login, EmployeeId=key, Email=email, Dept=dept, Team=team, Status=status, FirstName=first
    ),
    login=st.sampled_from(LOGINS),
    key=st.sampled_from(["", "E1", "E2", "E3", "E4", "E5"]),
    email=st.sampled_from(EMAILS),
    dept=st.sampled_from(["ENG", "OPS", "HQ", "", "GONE"]),
    team=st.sampled_from(["", "Mentors", "Green Team", "Mentors; Green Team"]),
    status=st.sampled_from(["Active", "Active", "Inactive"]),
    first=st.sampled_from(["Ann", "Bea", ""]),
)
seeded = st.lists(
    st.tuples(st.sampled_from(LOGINS + ["zed"]), st.sampled_from(EMAILS + ["zed@corp.example"])),
    max_size=3,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=st.lists(people, max_size=6), second=st.lists(people, max_size=6), existing=seeded)
def test_apply_then_plan_again_finds_nothing_to_do(first, second, existing):
    with tempfile.TemporaryDirectory() as folder:
        roster = Roster(Path(folder), safety={"max_deactivations": "100%", "min_source_rows_ratio": 0})
        for login, email in existing:
            try:
                roster.seed("users", login=login, email=email.strip())
            except TargetError:  # the LMS refuses a second account with the same login or email: fine
                pass
        for rows in (first, second):
            roster.write_users(rows)
            outcome = roster.sync()
            assert outcome.failed == [], outcome.failed
            again = roster.plan()
            left = applicable(again.plan)
            assert left.empty, left[["entity", "action", "key", "reason"]].to_string()
