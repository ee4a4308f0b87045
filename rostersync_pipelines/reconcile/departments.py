"""Departments: matched by department_unique_key, else code; created parents first, deleted children first.

A department missing from the source is deleted only when nothing is left in it after the plan: users
moved out by the same plan free it, users who stay (even deactivated ones) keep it, named in the error.
"""

from __future__ import annotations

import pandas as pd

from rostersync_pipelines.config import Sync
from rostersync_pipelines.frames import lookup
from rostersync_pipelines.reconcile.match import match
from rostersync_pipelines.reconcile.references import pending, resolve
from rostersync_pipelines.reconcile.rows import diff, plan_frame, values_from_changes
from rostersync_pipelines.transform.identity import fold

FIELDS = ["code", "name", "department_unique_key", "parent_id"]


def department_source_ids(departments: pd.DataFrame) -> pd.Series:
    return fold(departments, "department_unique_key").combine_first(fold(departments, "code"))


def plan_departments(departments: pd.DataFrame | None, lms: pd.DataFrame, sync: Sync, links: pd.Series):
    """(plan rows for departments in the source, folded code -> LMS id or new:CODE for users to use,
    the LMS ids any source row points at — a conflict's candidates included, so none is deleted)."""
    if departments is None:
        return plan_frame(), lms_department_ids(lms), set(lms["id"])
    source_ids = department_source_ids(departments)
    found = match(departments, lms, sync.matching.departments, source_ids, links, "department")
    ids = found.lms_id.where(found.situation != "unmatched", pending(departments["code"]))
    code_ids = lookup(fold(departments, "code"), ids)

    desired = departments[["code", "name", "department_unique_key"]].copy()
    desired["parent_id"] = resolve(code_ids, departments, "parent")
    current = lms.set_index("id").reindex(found.lms_id)[FIELDS].reset_index(drop=True)
    current.index = departments.index
    changed, changes = diff(desired, current, FIELDS, clearable={"parent_id"})

    action = pd.Series("none", index=departments.index, dtype=object)
    matched = found.situation.isin(["linked", "matched"])
    action[matched & changed.any(axis=1)] = "update"
    action[matched & changed["parent_id"]] = "move"
    action[found.situation == "unmatched"] = "create"
    reason = found.reason.where(~(matched & (action == "none")), found.reason + "; up to date")
    values = values_from_changes(changes)
    create = action == "create"
    values[create] = desired[create].astype(object).where(desired[create].notna(), None).to_dict("records")
    rows = plan_frame(
        entity="departments",
        action=action,
        situation=found.situation,
        key=departments["code"],
        lms_id=found.lms_id,
        row=departments["__row__"],
        source_id=source_ids,
        changes=changes.where(matched, None),
        values=values.where(action != "none", None),
        reason=reason,
        order=departments["depth"],
    )
    return rows, code_ids, set(lms["id"].to_numpy()[found.claimed])


def lms_department_ids(lms: pd.DataFrame) -> pd.Series:
    """Folded code or name -> LMS id, for a sync without a departments source: a user's department value
    is a code first, else a name; a name two LMS departments share names neither (no guessing)."""
    by_code = lookup(fold(lms, "code"), lms["id"])
    names = fold(lms, "name")
    unique = names.notna() & ~names.duplicated(keep=False) & ~names.isin(set(by_code.index))
    return pd.concat([by_code, lookup(names[unique], lms.loc[unique, "id"])])


def plan_unknown_departments(
    users: pd.DataFrame, lms: pd.DataFrame, code_ids: pd.Series, sync: Sync
) -> tuple[pd.DataFrame, pd.Series]:
    """With `unknown_departments: create`, the department values no LMS department has, created at the top
    of the tree (code = name = the value as first written); users then point at them as new:<code>.

    A value that is the shared name of two LMS departments is not created: it stays a conflict to review."""
    values = users["department"] if "department" in users else pd.Series(dtype=object)
    if sync.policies.unknown_departments != "create" or not values.notna().any():
        return plan_frame(), code_ids
    keys = fold(users, "department")
    shared_names = fold(lms, "name")
    shared_names = set(shared_names[shared_names.duplicated(keep=False)].dropna())
    wanted = lookup(keys, values)
    new = wanted[~wanted.index.isin(code_ids.index) & ~wanted.index.isin(shared_names)]
    rows = plan_frame(
        entity="departments",
        action="create",
        situation="unmatched",
        key=new,
        values=new.map(
            lambda code: {"code": code, "name": code, "department_unique_key": None, "parent_id": None}
        ),
        reason="not in the LMS: a new department at the top of the tree (policy unknown_departments: create)",
    )
    return rows, pd.concat([code_ids, pending(new)])


def plan_department_deletions(
    lms: pd.DataFrame,
    kept_ids: set[str],
    lms_users: pd.DataFrame,
    user_destinations: pd.Series,
    parent_destinations: pd.Series,
    sync: Sync,
) -> pd.DataFrame:
    """Departments of the LMS the source no longer has. `user_destinations` / `parent_destinations` map
    LMS user / department ids to the department the plan moves them to (only those it moves)."""
    missing = lms[~lms["id"].isin(kept_ids)]
    if missing.empty:
        return plan_frame()
    where_users_end = lms_users.set_index("id")["department_id"].copy()
    where_users_end.update(user_destinations)
    staying = pd.DataFrame(
        {"login": lms_users["login"].to_numpy(), "department_id": where_users_end.to_numpy()}
    )
    logins = staying.groupby("department_id")["login"].agg(list)
    parents_after = lms.set_index("id")["parent_id"].copy()
    parents_after.update(parent_destinations)
    children = pd.Series(parents_after.index, index=parents_after.to_numpy()).groupby(level=0).agg(list)
    depth = _depths(lms)

    action, reason, error = {}, {}, {}
    for department_id in sorted(missing["id"], key=lambda value: -depth.get(value, 0)):
        if sync.policies.empty_departments == "keep":
            action[department_id], reason[department_id] = (
                "none",
                "missing from source; kept (policy empty_departments: keep)",
            )
            continue
        users = logins.get(department_id, [])
        blocking_children = [
            child for child in children.get(department_id, []) if action.get(child) != "delete"
        ]
        if users:
            shown = ", ".join(sorted(users)[:10]) + (
                f" and {len(users) - 10} more" if len(users) > 10 else ""
            )
            error[department_id] = f"not deleted: still has {len(users)} users after this plan: {shown}"
        elif blocking_children:
            error[department_id] = f"not deleted: still has {len(blocking_children)} sub-departments"
        action[department_id] = "none" if department_id in error else "delete"
        reason[department_id] = "missing from source (policy empty_departments: delete)"
    ids = missing["id"]
    return plan_frame(
        entity="departments",
        action=ids.map(action),
        situation="missing",
        key=missing["code"],
        lms_id=ids,
        reason=ids.map(reason),
        error=ids.map(error),
        order=ids.map(lambda value: -depth.get(value, 0)),
    )


def _depths(lms: pd.DataFrame) -> dict[str, int]:
    parent_of = dict(zip(lms["id"], lms["parent_id"], strict=True))
    depth: dict[str, int] = {}
    for start in parent_of:
        chain, node = [], start
        while node is not None and node not in depth and node not in chain:
            chain.append(node)
            node = parent_of.get(node)
        base = depth.get(node, -1) if node is not None else -1
        for offset, member in enumerate(reversed(chain), start=1):
            depth[member] = base + offset
    return depth
