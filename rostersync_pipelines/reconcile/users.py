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
from rostersync_pipelines.transform.identity import fold

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
    fields = [column for column in desired.columns]
    by_id = lms.set_index("id")
    current = by_id.reindex(found.lms_id).reset_index(drop=True)
    current.index = users.index
    for column in fields:
        if column.startswith(CUSTOM_PREFIX):
            name = column[len(CUSTOM_PREFIX) :]
            current[column] = pd.Series(
                [
                    fields.get(name) if isinstance(fields, dict) else None
                    for fields in current["custom_fields"]
                ],
                index=current.index,
                dtype=object,
            )
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
    reason[action == "deactivate"] += "; " + _leaving_reason(users, terminated)[action == "deactivate"]
    reason[action == "reactivate"] += "; returning (policy returning_users: reactivate)"

    unmatched = situation == "unmatched"
    leaving = unmatched & (desired["status"] == "inactive")
    reason[leaving] = "not created: " + _leaving_reason(users, terminated)[leaving]
    action[unmatched & ~leaving] = "create"

    protected = found.lms_id.isin(set(lms.loc[protected_mask(lms, sync.policies.protected_logins), "id"]))
    action[protected] = "none"  # before the identity checks: a protected account keeps its login and email
    records = record_positions(found.lms_id, lms)
    conflict = taken_identity(desired, records, lms, action)
    conflict = conflict.combine_first(_unknown_department(users, desired, (action != "none") | matched))
    reason[protected] += "; protected: never changed"
    situation[conflict.notna()] = "conflict"
    reason[conflict.notna()] = conflict[conflict.notna()]
    action[conflict.notna()] = "none"

    values = values_from_changes(changes)
    create = action == "create"
    values[create] = desired[create].astype(object).where(desired[create].notna(), None).to_dict("records")
    values = values.where(action != "none", None)
    with_values = values.notna()
    values[with_values] = [
        _fold_custom(value, custom)
        for value, custom in zip(values[with_values], current.loc[with_values, "custom_fields"], strict=True)
    ]
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


def _fold_custom(values: dict, current: dict | None) -> dict:
    """custom.<name> columns travel as one custom_fields mapping; names the sync does not map are kept."""
    names = [key for key in values if key.startswith(CUSTOM_PREFIX)]
    if names:
        merged = dict(current) if isinstance(current, dict) else {}
        merged.update({key[len(CUSTOM_PREFIX) :]: values.pop(key) for key in names})
        values["custom_fields"] = merged
    return values
