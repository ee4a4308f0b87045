"""The planning core's column-at-a-time shortcuts give exactly what the plain per-row definitions give."""

from __future__ import annotations

import re
import sys

import numpy as np
import pandas as pd

from rostersync_pipelines.reconcile.codes import NONE, encode, encode_together, take
from rostersync_pipelines.reconcile.rows import diff, values_from_changes
from rostersync_pipelines.targets.embedded import _custom_fields
from rostersync_pipelines.transform.identity import fold, fold_once
from rostersync_pipelines.transform.users import EMAIL, SPACES, valid_emails


def test_email_check_counts_the_same_whitespace_as_python_re():
    spaces = [chr(c) for c in range(sys.maxunicode + 1) if re.match(r"\s", chr(c))]
    assert re.fullmatch(f"[{SPACES}]+", "".join(spaces))
    assert len(re.findall(f"[{SPACES}]", "".join(chr(c) for c in range(sys.maxunicode + 1)))) == len(spaces)
    emails = [
        "a@b.co",
        "a b@c.de",
        "a\xa0b@c.de",
        "a\u3000@b.cd",
        "a@b",
        "a@b.c.",
        "a@@b.c",
        "é@ü.de",
        "a@b.c\n",
        "a@b..c",
        None,
        *(f"x{space}y@z.io" for space in spaces),
    ]
    got = valid_emails(pd.Series(emails, dtype=object)).tolist()
    assert got == [email is not None and bool(re.fullmatch(EMAIL, email)) for email in emails]


def test_codes_of_a_wider_encoding_are_reused_and_consistent():
    users = pd.DataFrame({"login": ["Ann", "bob", None], "manager": ["BOB", None, "zed"]}, dtype=object)
    lms = pd.DataFrame({"login": ["bob", "cy"]}, dtype=object)
    with fold_once():
        encode_together(fold(users, "login"), fold(lms, "login"), fold(users, "manager"))
        (mine, theirs), size = encode(fold(users, "login"), fold(lms, "login"))
        (logins, managers), _ = encode(fold(users, "login"), fold(users, "manager"))
    assert size >= 4
    assert mine[1] == theirs[0] == logins[1] == managers[0]
    assert mine[2] == NONE and managers[1] == NONE
    assert len({mine[0], theirs[1], managers[2], mine[1]}) == 4


def _diff_per_row(desired, current, fields, clearable):
    flags = {}
    for field in fields:
        column = []
        for new, old in zip(desired[field], current[field], strict=True):
            new_blank, old_blank = pd.isna(new), pd.isna(old)
            same = (not new_blank and not old_blank and new == old) or (new_blank and old_blank)
            column.append(not same and (not new_blank or field in clearable))
        flags[field] = column
    return pd.DataFrame(flags, index=desired.index)


def test_diff_matches_the_per_row_definition():
    rng = np.random.default_rng(7)
    choices = np.array(["a", "b", None, np.nan, "c"], dtype=object)
    desired = pd.DataFrame({f: rng.choice(choices, 300) for f in "xyz"}, dtype=object)
    current = pd.DataFrame({f: rng.choice(choices, 300) for f in "xyz"}, dtype=object)
    described = pd.Series(rng.random(300) < 0.6)
    for rows in (None, described):
        changed, changes = diff(desired, current, list("xyz"), clearable={"z"}, described=rows)
        expected = _diff_per_row(desired, current, list("xyz"), {"z"})
        pd.testing.assert_frame_equal(
            changed[described] if rows is not None else changed,
            expected[described] if rows is not None else expected,
        )
        shown = expected.any(axis=1) & (described if rows is not None else True)
        assert changes[~shown].isna().all()
        for row in np.flatnonzero(shown):
            fields = [f for f in "xyz" if expected.at[row, f]]
            old = [None if pd.isna(current.at[row, f]) else current.at[row, f] for f in fields]
            new = [None if pd.isna(desired.at[row, f]) else desired.at[row, f] for f in fields]
            assert changes[row] == {f: [o, n] for f, o, n in zip(fields, old, new, strict=True)}
        values = values_from_changes(changes)
        assert all(
            (value is None) == (change is None)
            and (change is None or value == {f: p[1] for f, p in change.items()})
            for value, change in zip(values, changes, strict=True)
        )


def test_take_puts_the_default_where_there_is_no_position():
    values = np.array(["a", "b", "c"], dtype=object)
    assert take(values, np.array([2, -1, 0, 1])).tolist() == ["c", None, "a", "b"]
    assert take(values, np.array([-1]), default="?").tolist() == ["?"]
    assert take(np.array([], dtype=object), np.array([-1, -1])).tolist() == [None, None]


def test_custom_fields_parse_each_text_once_and_keep_nested_values_apart():
    flat, nested = '{"site": "Lyon"}', '{"tags": ["a"]}'
    parsed = _custom_fields([flat, None, flat, nested, nested])
    assert parsed == [{"site": "Lyon"}, None, {"site": "Lyon"}, {"tags": ["a"]}, {"tags": ["a"]}]
    assert parsed[3]["tags"] is not parsed[4]["tags"]
