"""Users: one row per person, with an identity, a valid email and a known department — or a reject.

Ambiguity is never resolved by guessing: when two rows claim one login or email, neither is imported
(an exact copy of a row is the exception: it is the same person listed twice, so the first copy stands).
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rostersync_pipelines.config import Policies, StatusValues
from rostersync_pipelines.frames import as_objects, fill, nones, per_distinct
from rostersync_pipelines.schema import CUSTOM_PREFIX, NOT_SYNCED, ROW, USER_COLUMNS
from rostersync_pipelines.transform.identity import exact_duplicates, folded, shared_values
from rostersync_pipelines.transform.rejects import concat_rejects, split_off
from rostersync_pipelines.transform.values import value_problems

SOURCE = "users"
EMAIL = r"[^@\s]+@[^@\s]+\.[^@\s.]+"
# Every character Python's `re` counts as \s (str.isspace), spelled out: RE2's \s is ASCII only.
SPACES = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_EMAIL_RE2 = "^" + EMAIL.replace("\\s", SPACES) + "$"


def normalize_users(
    frame: pd.DataFrame,
    department_codes: pd.Series | None,
    department_problems: dict[str, str],
    policies: Policies,
    status_values: StatusValues | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(canonical users, rejects). `department_codes` maps folded code or unique key -> canonical code."""
    for column in USER_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    custom = [column for column in frame.columns if column.startswith(CUSTOM_PREFIX)]
    frame = frame[[ROW, *USER_COLUMNS, *custom]].copy()
    frame["login"] = frame["login"].where(frame["login"].notna(), frame["email"])
    rejects = []

    def reject(mask: pd.Series, reason, outcome: str = "rejected") -> None:
        nonlocal frame
        frame, rejected = split_off(frame, mask, reason, SOURCE, outcome)
        rejects.append(rejected)

    reject(frame["login"].isna(), "no login or email")
    unusable = value_problems(frame, [*USER_COLUMNS, *custom], policies.max_lengths)
    reject(unusable.notna(), unusable)
    repeated, first_row = exact_duplicates(frame, [*USER_COLUMNS, *custom], anchor="login")
    reject(repeated, fill("duplicate of row {}", first_row[repeated]))
    for key in ("user_unique_key", "login", "email"):
        shared, reason = shared_values(frame, key)
        reject(shared, _two_departments(frame, key, shared).combine_first(reason))

    bad_email = frame["email"].notna() & ~valid_emails(frame["email"])
    reject(bad_email, fill('invalid email "{}"', frame.loc[bad_email, "email"]))

    status, unknown_status, hint = read_status(frame["status"], status_values or StatusValues())
    reject(unknown_status, fill('unknown status "{}"; ' + hint, frame.loc[unknown_status, "status"]))
    frame["status"] = status[frame.index]

    parsed = parse_dates(frame["termination_date"])
    bad_date = frame["termination_date"].notna() & parsed.isna()
    reject(
        bad_date,
        fill('invalid termination date "{}"; use YYYY-MM-DD', frame.loc[bad_date, "termination_date"]),
    )
    frame["termination_date"] = parsed[frame.index]

    if department_codes is not None:
        no_department = frame["department"].isna()
        if policies.users_without_department == "skip":
            reject(no_department, "no department (policy users_without_department: skip)", NOT_SYNCED)
        key = folded(frame["department"])
        code = key.map(department_codes)
        why = key.map(department_problems)
        unknown = frame["department"].notna() & code.isna()
        why = why.where(why.notna(), "is not in the departments source")
        reject(unknown, fill('department "{}" {}', frame.loc[unknown, "department"], why[unknown]))
        frame["department"] = as_objects(code[frame.index])
    for name, default in policies.custom_field_defaults.items():
        column = CUSTOM_PREFIX + name
        frame[column] = frame[column].where(frame[column].notna(), default) if column in frame else default
    return frame.reset_index(drop=True), concat_rejects(rejects)


def valid_emails(values: pd.Series) -> pd.Series:
    """`EMAIL` fully matched, as Python's `re` would (its \\s is Unicode whitespace), in Arrow's kernels."""
    text = pa.array(values.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    found = pc.fill_null(pc.match_substring_regex(text, _EMAIL_RE2), False)
    return pd.Series(found.to_numpy(zero_copy_only=False), index=values.index, dtype=bool)


def read_status(values: pd.Series, status_values: StatusValues) -> tuple[pd.Series, pd.Series, str]:
    """(active | inactive per row, mask of values in neither list, what to write instead).

    Each source writes status its own way (Salesforce IsActive true/false, an HR export Active/Leaver), so
    the lists come from the sync's `status_values`; a blank status is active, as the LMS would assume.
    """
    folded = per_distinct(values, lambda text: text.str.strip().str.casefold())
    inactive = {value.strip().casefold() for value in status_values.inactive}
    active = {value.strip().casefold() for value in status_values.active}
    unknown = folded.notna() & ~folded.isin(inactive | active)
    status = folded.isin(inactive).map({True: "inactive", False: "active"}).astype(object)
    if status_values == StatusValues():
        hint = "use Active or Inactive"
    else:
        hint = (
            "use one of " + ", ".join([*status_values.active, *status_values.inactive]) + " (status_values)"
        )
    return status, unknown, hint


def parse_dates(values: pd.Series) -> pd.Series:
    """ISO dates as text; US M/D/YYYY is accepted too because HR exports from Excel often use it."""
    return per_distinct(values, _parse_dates)


def _parse_dates(values: pd.Series) -> pd.Series:
    text = values.astype(object).where(values.notna(), None)
    iso = pd.to_datetime(text, errors="coerce", format="ISO8601")
    us = pd.to_datetime(text, errors="coerce", format="%m/%d/%Y")
    parsed = iso.where(iso.notna(), us)
    return parsed.dt.strftime("%Y-%m-%d").astype(object).where(parsed.notna(), None)


def _two_departments(frame: pd.DataFrame, key: str, shared: pd.Series) -> pd.Series:
    """A person listed under two departments gets that named, since it is the usual cause."""
    reason = nones(frame.index)
    if not shared.any():
        return reason
    values = folded(frame[key])[shared]
    departments = frame.loc[shared, "department"].fillna("(none)")
    per_identity = departments.groupby(values).nunique()
    split = values.map(per_identity) > 1
    if split.any():
        listing = fill("{} on row {}", departments, frame.loc[shared, ROW]).groupby(values).agg(", ".join)
        reason[split[split].index] = [
            f'{key} "{frame.at[index, key]}" is in two departments ({listing[value]})'
            for index, value in values[split].items()
        ]
    return reason
