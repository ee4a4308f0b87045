"""Users: what each matched person should look like in the LMS, and the one action that gets them there.

Another person's account is never repurposed: a create or a rename onto a login or email that an LMS user
already holds is a conflict for a person to review.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from rostersync_pipelines.config import Sync
from rostersync_pipelines.frames import fill, nones
from rostersync_pipelines.reconcile.codes import NONE, encode, holders, take
from rostersync_pipelines.reconcile.match import Matches
from rostersync_pipelines.reconcile.references import pending, resolve
from rostersync_pipelines.reconcile.renames import chain_depth, record_positions, rename_order, taken_identity
from rostersync_pipelines.reconcile.rows import diff, plan_frame, values_from_changes
from rostersync_pipelines.schema import CUSTOM_PREFIX
from rostersync_pipelines.transform.identity import fold, share_folds

BASE_FIELDS = ["login", "email", "first_name", "last_name", "user_unique_key"]


def user_source_ids(users: pd.DataFrame) -> pd.Series:
    return fold(users, "user_unique_key").combine_first(fold(users, "login"))


def protected_mask(lms: pd.DataFrame, protected_logins: list[str]) -> pd.Series:
    """Superadmins always, and the logins the config lists: never changed, never deactivated."""
    listed = {login.strip().casefold() for login in protected_logins}
    return (lms["role"] == "superadmin") | fold(lms, "login").isin(listed)


def desired_users(
    users: pd.DataFrame, found: Matches, code_ids: pd.Series, lms: pd.DataFrame, sync: Sync, today: dt.date
):
    """The LMS columns each source row asks for; references resolved to ids or new:<key>."""
    desired = users[BASE_FIELDS].copy()
    if sync.fields.users.department is not None:
        desired["department_id"] = resolve(code_ids, users, "department")
    desired = desired.assign(**_managers(users, found, lms))
    terminated = users["termination_date"].notna() & (users["termination_date"] <= today.isoformat())
    leaving = (users["status"] == "inactive") | (
        terminated & (sync.policies.terminated_users == "deactivate")
    )
    desired["status"] = leaving.map({True: "inactive", False: "active"}).astype(object)
    for column in users.columns:
        if column.startswith(CUSTOM_PREFIX):
            desired[column] = users[column]
    return desired, terminated


def plan_users(
    users: pd.DataFrame, found: Matches, lms: pd.DataFrame, code_ids: pd.Series, sync: Sync, today: dt.date
) -> pd.DataFrame:
    desired, terminated = desired_users(users, found, code_ids, lms, sync, today)
    share_folds(desired, users, ["login", "email"])  # copies of the source's keys: their folds and codes too
    fields = [column for column in desired.columns]
    records = found.positions if found.positions is not None else record_positions(found.lms_id, lms)
    current = _current(lms, records, fields, users.index)
    if sync.policies.returning_users == "ignore":
        desired["status"] = desired["status"].where(current["status"] != "inactive", "inactive")
    # the changes of a matched person only: an unmatched one is created from `desired`, and its changes
    # are never shown or sent
    matched_rows = found.situation.isin(["linked", "matched"])
    changed, changes = diff(desired, current[fields], fields, described=matched_rows)

    situation, reason = found.situation.copy(), found.reason.copy()
    matched = situation.isin(["linked", "matched"])
    action = pd.Series("none", index=users.index, dtype=object)
    action[matched & changed.any(axis=1)] = "update"
    if "department_id" in changed:
        action[matched & changed["department_id"]] = "move"
    action[matched & changed["status"] & (desired["status"] == "active")] = "reactivate"
    action[matched & changed["status"] & (desired["status"] == "inactive")] = "deactivate"
    reason[matched & (action == "none")] += "; up to date"
    leaving_reason = _leaving_reason(users, terminated)
    reason[action == "deactivate"] += "; " + leaving_reason[action == "deactivate"]
    reason[action == "reactivate"] += "; returning (policy returning_users: reactivate)"

    unmatched = situation == "unmatched"
    leaving = unmatched & (desired["status"] == "inactive")
    reason[leaving] = "not created: " + leaving_reason[leaving]
    action[unmatched & ~leaving] = "create"

    protected = found.lms_id.isin(set(lms.loc[protected_mask(lms, sync.policies.protected_logins), "id"]))
    action[protected] = "none"  # before the identity checks: a protected account keeps its login and email
    conflict = taken_identity(desired, records, lms, action)
    conflict = conflict.combine_first(_unknown_department(users, desired, (action != "none") | matched))
    reason[protected] += "; protected: never changed"
    in_conflict = conflict.notna()
    situation[in_conflict] = "conflict"
    reason[in_conflict] = conflict[in_conflict]
    action[in_conflict] = "none"

    create = (action == "create").to_numpy(dtype=bool)
    values = values_from_changes(changes).to_numpy(dtype=object, copy=True)
    values[(action == "none").to_numpy(dtype=bool)] = None
    customs = current["custom_fields"].to_numpy(dtype=object)
    for row in np.flatnonzero(pd.notna(values) & ~create):
        values[row] = _fold_custom(values[row], customs[row])
    values[create] = _create_values(desired, create)
    create = pd.Series(create, index=users.index)
    return plan_frame(
        entity="users",
        action=action,
        situation=situation,
        key=users["login"],
        lms_id=found.lms_id,
        row=users["__row__"],
        source_id=user_source_ids(users),
        changes=changes.where(~create & (action != "none"), None),
        values=values,
        reason=reason,
        order=np.where(
            action == "create",
            _manager_depth(users, action == "create"),
            rename_order(desired, records, lms, action),
        ),
    )


def _current(lms: pd.DataFrame, records: np.ndarray, fields: list[str], index: pd.Index) -> pd.DataFrame:
    """The LMS's values of each row's record (None for a row without one), taken by row position: no
    lookup by id, and custom.<name> read only from the records that rows point at."""
    plain = [column for column in fields if not column.startswith(CUSTOM_PREFIX)]
    columns = dict.fromkeys([*plain, "status", "custom_fields"])
    current = {column: take(lms[column].to_numpy(dtype=object), records) for column in columns}
    matched = np.flatnonzero(records >= 0)
    held = current["custom_fields"][matched]
    for column in fields:
        if column.startswith(CUSTOM_PREFIX):
            name = column[len(CUSTOM_PREFIX) :]
            values = np.full(len(records), None, dtype=object)
            values[matched] = [custom.get(name) if isinstance(custom, dict) else None for custom in held]
            current[column] = values
    return pd.DataFrame(current, index=index, dtype=object)


def _managers(users: pd.DataFrame, found: Matches, lms: pd.DataFrame) -> dict[str, pd.Series]:
    """The LMS id (or new:<login>) of the person each manager field names: a person of this source first,
    else an LMS user; a login nobody has stays None (the LMS keeps what it has)."""
    people = ["manager", "functional_manager"]
    (own, theirs, *named), size = encode(
        fold(users, "login"), fold(lms, "login"), *(fold(users, column) for column in people)
    )
    source_ids = found.lms_id.where(found.situation != "unmatched", pending(users["login"])).to_numpy(
        dtype=object
    )
    by_source, _ = holders(np.where(pd.notna(source_ids), own, NONE), size)
    by_lms, _ = holders(theirs, size)
    lms_ids = lms["id"].to_numpy(dtype=object)
    resolved = {}
    for column, codes in zip(people, named, strict=True):
        in_source = np.where(codes >= 0, by_source[codes.clip(0)], NONE)
        in_lms = np.where((codes >= 0) & (in_source < 0), by_lms[codes.clip(0)], NONE)
        ids = take(source_ids, in_source)
        ids[in_lms >= 0] = lms_ids[in_lms[in_lms >= 0]]
        resolved[f"{column}_id"] = pd.Series(ids, index=users.index, dtype=object)
    return resolved


def _manager_depth(users: pd.DataFrame, creating: pd.Series) -> pd.Series:
    """How many new managers sit above each new user, so managers are created before their reports and
    every create carries its manager in the same call (a cycle falls back to a follow-up update)."""
    (logins, managers), size = encode(fold(users, "login"), fold(users, "manager"))
    position, _ = holders(logins, size)
    manager = np.where(managers >= 0, position[managers.clip(0)], NONE)
    created = creating.to_numpy(dtype=bool)
    parent = np.where((manager >= 0) & created & created[manager.clip(0)], manager, NONE)
    return chain_depth(parent)


def _leaving_reason(users: pd.DataFrame, terminated: pd.Series) -> pd.Series:
    text = pd.Series("inactive in source", index=users.index, dtype=object)
    template = "terminated on {} (policy terminated_users: deactivate)"
    text[terminated] = fill(template, users.loc[terminated, "termination_date"])
    return text


def _unknown_department(users: pd.DataFrame, desired: pd.DataFrame, in_play: pd.Series) -> pd.Series:
    """A person whose department the LMS cannot place is left where they are, and said so."""
    conflict = nones(users.index)
    if "department_id" not in desired:
        return conflict
    lost = users["department"].notna() & desired["department_id"].isna() & in_play
    conflict[lost] = (
        'department "' + users.loc[lost, "department"] + '" is not in the LMS or is itself in conflict'
    )
    return conflict


def _create_values(desired: pd.DataFrame, create: np.ndarray) -> np.ndarray:
    """What each create sends: every desired column (blank = None), custom.<name> columns folded into one
    custom_fields mapping after the others, as `_fold_custom` would fold them for a record that has none.
    Built from columns, a dict per create and nothing per cell."""
    rows = np.flatnonzero(create)
    cells = {}
    for column in desired.columns:
        values = desired[column].to_numpy(dtype=object)[rows]
        blank = pd.isna(values)
        if blank.any():
            values[blank] = None
        cells[column] = values
    plain = [column for column in cells if not column.startswith(CUSTOM_PREFIX)]
    custom = [column for column in cells if column.startswith(CUSTOM_PREFIX)]
    made = [
        dict(zip(plain, row, strict=True)) for row in zip(*(cells[column] for column in plain), strict=True)
    ]
    if custom:
        names = [column[len(CUSTOM_PREFIX) :] for column in custom]
        for value, row in zip(made, zip(*(cells[column] for column in custom), strict=True), strict=True):
            value["custom_fields"] = dict(zip(names, row, strict=True))
    result = np.empty(len(rows), dtype=object)
    result[:] = made
    return result


def _fold_custom(values: dict, current: dict | None) -> dict:
    """custom.<name> columns travel as one custom_fields mapping; names the sync does not map are kept."""
    names = [key for key in values if key.startswith(CUSTOM_PREFIX)]
    if names:
        merged = dict(current) if isinstance(current, dict) else {}
        merged.update({key[len(CUSTOM_PREFIX) :]: values.pop(key) for key in names})
        values["custom_fields"] = merged
    return values
