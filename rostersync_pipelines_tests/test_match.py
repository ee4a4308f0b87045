"""reconcile.match: the link table first, then each configured key in order; never a guess (DESIGN §2)."""

from __future__ import annotations

import pandas as pd
import pytest

from rostersync_pipelines.reconcile.departments import department_source_ids
from rostersync_pipelines.reconcile.match import Matches, key_values, match
from rostersync_pipelines.reconcile.users import user_source_ids

USER_KEYS = ["user_unique_key", "login", "email"]


def frame(rows: list[tuple], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            name: pd.Series([row[position] for row in rows], dtype=object)
            for position, name in enumerate(columns)
        }
    )


def source(*rows: tuple) -> pd.DataFrame:
    """(user_unique_key, login, email) per source user."""
    return frame(list(rows), USER_KEYS)


def lms(*rows: tuple) -> pd.DataFrame:
    """(id, user_unique_key, login, email) per LMS user."""
    return frame(list(rows), ["id", *USER_KEYS])


def run(
    users: pd.DataFrame,
    accounts: pd.DataFrame,
    keys: list | None = None,
    links: dict | None = None,
) -> pd.DataFrame:
    found = match(
        users,
        accounts,
        USER_KEYS if keys is None else keys,
        user_source_ids(users),
        pd.Series(links or {}, dtype=object),
        "user",
    )
    assert_well_formed(found, users)
    return pd.DataFrame({"lms_id": found.lms_id, "situation": found.situation, "reason": found.reason})


def assert_well_formed(found: Matches, users: pd.DataFrame) -> None:
    for series in (found.lms_id, found.situation, found.reason):
        assert series.index.equals(users.index)
    assert all(value is None or type(value) is str for value in found.lms_id), found.lms_id.tolist()
    assert set(found.situation) <= {"linked", "matched", "unmatched", "conflict"}
    chosen = found.situation.isin(["linked", "matched"])
    assert found.lms_id[chosen].notna().all() and found.lms_id[~chosen].isna().all()
    assert all(isinstance(reason, str) and reason for reason in found.reason)


def outcome(result: pd.DataFrame, position: int = 0) -> tuple:
    return result.at[position, "situation"], result.at[position, "lms_id"]


# --- what matches -----------------------------------------------------------------------------------------


def test_each_key_in_order():
    result = run(
        source(
            ("E1", "ann", "ann@x.example"), ("E2", "bob", "bob@x.example"), ("E3", "cat", "cat@x.example")
        ),
        lms(("1", "E1", None, None), ("2", None, "bob", None), ("3", None, None, "cat@x.example")),
    )
    assert [outcome(result, i) for i in range(3)] == [("matched", "1"), ("matched", "2"), ("matched", "3")]
    assert result["reason"].tolist() == [
        "matched LMS user 1 by user_unique_key",
        "matched LMS user 2 by login",
        "matched LMS user 3 by email",
    ]


def test_unmatched_rows_are_new():
    result = run(
        source(("E9", "new", "new@x.example"), (None, "other", None)), lms(("1", "E1", "ann", "a@x.example"))
    )
    assert [outcome(result, i) for i in range(2)] == [("unmatched", None), ("unmatched", None)]
    assert set(result["reason"]) == {"not in the LMS: a new user"}


def test_keys_are_case_and_whitespace_insensitive():
    result = run(
        source((" e 1 ", None, None), (None, "  BOB ", None), (None, None, "Cat@X.Example ")),
        lms(("1", "E1", "x1", None), ("2", None, "bob", None), ("3", None, "x3", "cat@x.example")),
    )
    assert result["lms_id"].tolist() == ["1", "2", "3"]


def test_only_the_configured_keys_are_used():
    users = source(("E1", "ann", "ann@x.example"))
    accounts = lms(("1", "E1", "someone", "s@x.example"))
    assert outcome(run(users, accounts, keys=["login", "email"])) == ("unmatched", None)
    assert outcome(run(users, accounts, keys=["user_unique_key"])) == ("matched", "1")


def test_blank_values_never_match_each_other():
    result = run(source((None, "ann", None)), lms(("1", None, "bob", None), ("2", None, "cat", None)))
    assert outcome(result) == ("unmatched", None)


def test_all_keys_agreeing_is_a_match_by_the_first():
    result = run(source(("E1", "ann", "ann@x.example")), lms(("1", "E1", "ann", "ann@x.example")))
    assert outcome(result) == ("matched", "1")
    assert result.at[0, "reason"] == "matched LMS user 1 by user_unique_key"


# --- the link table ---------------------------------------------------------------------------------------


def test_link_comes_first_so_a_rename_keeps_the_account():
    users = source(("E1", "ann.new", "ann.new@x.example"))
    accounts = lms(("1", None, "ann", "ann@x.example"), ("2", None, "bob", "bob@x.example"))
    result = run(users, accounts, links={"e1": "1"})
    assert outcome(result) == ("linked", "1")
    assert result.at[0, "reason"] == "linked to LMS user 1 by an earlier sync"


def test_link_works_whatever_keys_are_configured():
    result = run(
        source((None, "dan", None)), lms(("7", None, "daniel", None)), keys=["email"], links={"dan": "7"}
    )
    assert outcome(result) == ("linked", "7")


def test_link_agreeing_with_the_keys_is_linked():
    result = run(
        source(("E1", "ann", "ann@x.example")), lms(("1", "E1", "ann", "ann@x.example")), links={"e1": "1"}
    )
    assert outcome(result) == ("linked", "1")


def test_link_to_an_lms_id_that_no_longer_exists_is_ignored():
    users = source(("E1", "ann", "ann@x.example"), ("E2", "bob", None))
    accounts = lms(("1", "E1", "ann", "ann@x.example"))
    result = run(users, accounts, links={"e1": "99", "e2": "98"})
    assert outcome(result, 0) == ("matched", "1")
    assert outcome(result, 1) == ("unmatched", None)


def test_link_and_keys_pointing_at_different_records_is_a_conflict():
    users = source(("E1", "ann", "ann@x.example"))
    accounts = lms(("1", "E1", "ann", "ann@x.example"), ("7", None, "zed", "zed@x.example"))
    result = run(users, accounts, links={"e1": "7"})
    assert outcome(result) == ("conflict", None)
    assert result.at[0, "reason"] == (
        "keys point at different LMS users: link -> 7, user_unique_key -> 1, login -> 1, email -> 1"
    )


def test_a_link_wins_over_an_ambiguous_key():
    users = source((None, "ann", None))
    accounts = lms(("1", None, "ann", None), ("2", None, "ANN", None))
    assert outcome(run(users, accounts, keys=["login"], links={"ann": "2"})) == ("linked", "2")


# --- conflicts --------------------------------------------------------------------------------------------


def test_two_lms_candidates_for_a_key_value_is_a_conflict():
    users = source((None, "ann", "ann@x.example"), (None, "bob", None))
    accounts = lms(("1", None, "ann", None), ("2", None, " Ann", None), ("3", None, "bob", None))
    result = run(users, accounts, keys=["login", "email"])
    assert outcome(result, 0) == ("conflict", None)
    assert result.at[0, "reason"] == "two LMS users share a key value: review them"
    assert outcome(result, 1) == ("matched", "3"), "the ambiguity of one value touches only its rows"


def test_ambiguous_weaker_key_is_a_conflict_even_when_a_stronger_key_matched():
    users = source(("E1", "ann", "shared@x.example"))
    accounts = lms(("1", "E1", "ann", "shared@x.example"), ("2", "E2", "bob", "SHARED@x.example"))
    assert outcome(run(users, accounts)) == ("conflict", None)


def test_keys_pointing_at_different_records_is_a_conflict_naming_them():
    users = source((None, "ann", "bob@x.example"))
    accounts = lms(("1", None, "ann", "ann@x.example"), ("2", None, "bob", "bob@x.example"))
    result = run(users, accounts)
    assert outcome(result) == ("conflict", None)
    assert result.at[0, "reason"] == "keys point at different LMS users: login -> 1, email -> 2"


def test_weaker_key_is_refused_when_a_stronger_key_differs():
    users = source(("E1", "ann", "ann@x.example"))
    accounts = lms(("1", "E2", "ann", "ann@x.example"))
    result = run(users, accounts)
    assert outcome(result) == ("conflict", None)
    assert result.at[0, "reason"] == (
        "matched LMS user 1 by login, but its user_unique_key differs (e1 vs e2): a different person"
    )


def test_email_match_is_refused_when_the_logins_differ():
    result = run(source((None, "ann", "a@x.example")), lms(("1", None, "bob", "a@x.example")))
    assert outcome(result) == ("conflict", None)
    assert "its login differs (ann vs bob)" in result.at[0, "reason"]


@pytest.mark.parametrize(
    ("user", "account"),
    [
        (("E1", "ann", "ann@x.example"), ("1", None, "ann", "ann@x.example")),
        ((None, "ann", "ann@x.example"), ("1", "E2", "ann", "ann@x.example")),
        ((None, None, "ann@x.example"), ("1", "E2", "bob", "ann@x.example")),
        (("E1", None, "ann@x.example"), ("1", None, "bob", "ann@x.example")),
    ],
    ids=["key blank in LMS", "key blank in source", "both stronger keys blank in source", "one each side"],
)
def test_weaker_key_is_allowed_when_the_stronger_key_is_blank_on_one_side(user, account):
    assert outcome(run(source(user), lms(account))) == ("matched", "1")


def test_two_source_rows_matching_one_lms_record_are_both_conflicts():
    users = source(("E1", "ann", None), ("E2", "ANN", None), ("E3", "cat", None))
    accounts = lms(("1", None, "ann", None), ("3", None, "cat", None))
    result = run(users, accounts)
    for position in (0, 1):
        assert outcome(result, position) == ("conflict", None)
        assert result.at[position, "reason"] == "two source rows match the same LMS user 1: review them"
    assert outcome(result, 2) == ("matched", "3")


def test_a_record_held_by_a_link_is_not_taken_by_a_weaker_key_of_another_row():
    """E1 renamed their login away from "ann"; E2 now has "ann": a newcomer, not E1's account."""
    users = source(("E1", "ann.new", None), ("E2", "ann", None))
    accounts = lms(("1", None, "ann", None))
    result = run(users, accounts, links={"e1": "1"})
    assert result["situation"].tolist() == ["linked", "unmatched"]
    assert outcome(result, 0) == ("linked", "1")


def test_a_record_matched_by_a_stronger_key_is_not_a_candidate_for_a_weaker_one():
    users = source(("E1", "ann", None), ("E2", "bea", "ann@x.example"))
    accounts = lms(("1", None, "ann", "ann@x.example"))
    result = run(users, accounts, keys=["login", "email"])
    assert result["situation"].tolist() == ["matched", "unmatched"]


def test_candidates_keep_every_method_for_a_conflict():
    users = source((None, "ann", "bob@x.example"))
    accounts = lms(("1", None, "ann", None), ("2", None, "bob", "bob@x.example"))
    found = match(users, accounts, USER_KEYS, user_source_ids(users), pd.Series(dtype=object), "user")
    assert list(found.candidates.columns) == ["link", *USER_KEYS]
    row = found.candidates.iloc[0]
    assert (row["login"], row["email"]) == ("1", "2")
    assert pd.isna(row["link"]) and pd.isna(row["user_unique_key"])


# --- composite keys ---------------------------------------------------------------------------------------

COMPOSITE = [["user_unique_key", "login"], ["login", "email"]]


def test_composite_keys_need_every_part():
    users = source(("E1", "ann", "ann@x.example"), (None, "bob", "bob@x.example"), (None, "cat", None))
    accounts = lms(
        ("1", "e1", "ANN", "other@x.example"),
        ("2", "E7", "bob", "Bob@X.example"),
        ("3", None, "cat", None),
    )
    result = run(users, accounts, keys=COMPOSITE)
    assert outcome(result, 0) == ("matched", "1")
    assert result.at[0, "reason"] == "matched LMS user 1 by user_unique_key+login"
    assert outcome(result, 1) == ("matched", "2")
    assert result.at[1, "reason"] == "matched LMS user 2 by login+email"
    assert outcome(result, 2) == ("unmatched", None), "a blank part means the composite key has no value"


def test_composite_key_with_one_part_different_does_not_match():
    result = run(source(("E1", "ann", None)), lms(("1", "E2", "ann", None)), keys=COMPOSITE)
    assert outcome(result) == ("unmatched", None)


def test_weaker_composite_key_refused_when_the_stronger_composite_differs():
    result = run(
        source(("E1", "bob", "bob@x.example")), lms(("2", "E2", "bob", "bob@x.example")), keys=COMPOSITE
    )
    assert outcome(result) == ("conflict", None)
    assert "user_unique_key+login differs" in result.at[0, "reason"]


def test_composite_key_values_are_readable_in_the_reason():
    result = run(
        source(("E1", "bob", "bob@x.example")), lms(("2", "E2", "bob", "bob@x.example")), keys=COMPOSITE
    )
    reason = result.at[0, "reason"]
    assert reason.isprintable(), repr(reason)


def test_key_values_fold_and_join():
    users = source((" E1", "Ann ", None), ("E2", None, "b@x.example"))
    assert key_values(users, "login").tolist() == ["ann", None]
    assert key_values(users, ["user_unique_key", "login"]).tolist() == ["e1\x1fann", None]
    assert key_values(users, "phone").tolist() == [None, None], "a column the frame lacks has no values"


# --- departments ------------------------------------------------------------------------------------------


def test_departments_match_by_unique_key_then_code():
    departments = frame(
        [("D1", "ENG"), (None, "ops"), ("D9", "NEW"), ("D4", "HR")], ["department_unique_key", "code"]
    )
    accounts = frame(
        [("10", "D1", "ENGINEERING"), ("11", None, "OPS"), ("12", "D5", "HR")],
        ["id", "department_unique_key", "code"],
    )
    found = match(
        departments,
        accounts,
        ["department_unique_key", "code"],
        department_source_ids(departments),
        pd.Series(dtype=object),
        "department",
    )
    assert_well_formed(found, departments)
    assert found.lms_id.tolist() == ["10", "11", None, None]
    assert found.situation.tolist() == ["matched", "matched", "unmatched", "conflict"]
    assert found.reason[0] == "matched LMS department 10 by department_unique_key"
    assert found.reason[3] == (
        "matched LMS department 12 by code, but its department_unique_key differs (d4 vs d5): "
        "a different person"
    )


# --- edges ------------------------------------------------------------------------------------------------


def test_empty_lms_leaves_everyone_unmatched():
    result = run(source(("E1", "ann", None)), lms())
    assert outcome(result) == ("unmatched", None)


def test_empty_source():
    result = run(source(), lms(("1", "E1", "ann", None)), links={"e1": "1"})
    assert result.empty


def test_source_index_is_kept():
    users = source(("E1", "ann", None), ("E2", "bob", None))
    users.index = pd.Index([10, 20])
    found = match(
        users,
        lms(("2", None, "bob", None)),
        USER_KEYS,
        user_source_ids(users),
        pd.Series(dtype=object),
        "user",
    )
    assert_well_formed(found, users)
    assert found.lms_id.to_dict() == {10: None, 20: "2"}
