"""LMS users the source no longer lists.

Only people the source truly dropped count as missing: a person whose row was rejected or kept out by a
policy still has a row, so their account is left alone; a person an import rule skipped is out of scope and
counts as missing, as Entra treats users who leave the provisioning scope.
"""

from __future__ import annotations

import pandas as pd

from rostersync_pipelines.config import Sync
from rostersync_pipelines.reconcile.match import Matches
from rostersync_pipelines.reconcile.rows import plan_frame
from rostersync_pipelines.reconcile.users import protected_mask
from rostersync_pipelines.schema import OUT_OF_SCOPE, USER_KEYS
from rostersync_pipelines.transform.identity import fold


def accounts_of(rows: pd.DataFrame, lms: pd.DataFrame, links: pd.Series) -> pd.Series:
    """LMS user id -> True for accounts that any of the (reject) rows names by a key or a link."""
    hit = pd.Series(False, index=lms.index)
    for key in USER_KEYS:
        wanted = set(fold(rows, key).dropna())
        if wanted:
            hit |= fold(lms, key).isin(wanted)
    source_ids = fold(rows, "user_unique_key").combine_first(fold(rows, "login"))
    hit |= lms["id"].isin(set(source_ids.map(links).dropna())) if len(links) else False
    return hit


def in_missing_scope(lms: pd.DataFrame, links: pd.Series, sync: Sync) -> pd.Series:
    """Which LMS accounts this sync may call missing. With `missing_users_scope: linked`, only those it
    linked itself: two syncs into one LMS (Salesforce Users and Contacts) never deactivate each other's people,
    and accounts an administrator made by hand are left alone."""
    if sync.policies.missing_users_scope == "all":
        return pd.Series(True, index=lms.index)
    return lms["id"].isin(set(links.dropna())) if len(links) else pd.Series(False, index=lms.index)


def plan_missing_users(
    lms: pd.DataFrame, found: Matches, rejects: pd.DataFrame, sync: Sync, links: pd.Series
) -> pd.DataFrame:
    claimed = pd.Series(found.claimed, index=lms.index)
    user_rejects = rejects[rejects["source"] == "users"]
    kept_out = user_rejects[user_rejects["outcome"] != OUT_OF_SCOPE]
    claimed |= accounts_of(kept_out, lms, links)
    claimed |= ~in_missing_scope(lms, links, sync)
    out_of_scope = accounts_of(user_rejects[user_rejects["outcome"] == OUT_OF_SCOPE], lms, links)
    protected = protected_mask(lms, sync.policies.protected_logins)
    missing = lms[~claimed]
    if missing.empty:
        return plan_frame()
    why = pd.Series("missing from source", index=missing.index, dtype=object)
    why[out_of_scope[missing.index]] = "out of scope: skipped by an import rule"
    action = pd.Series("none", index=missing.index, dtype=object)
    active = missing["status"] == "active"
    deactivate = active & ~protected[missing.index] & (sync.policies.missing_users == "deactivate")
    action[deactivate] = "deactivate"
    reason = why.copy()
    reason[deactivate] += " (policy missing_users: deactivate)"
    reason[active & (sync.policies.missing_users == "ignore")] += " (policy missing_users: ignore)"
    reason[~active] += "; already inactive"
    reason[protected[missing.index]] += "; protected: never changed"
    return plan_frame(
        entity="users",
        action=action,
        situation="missing",
        key=missing["login"],
        lms_id=missing["id"],
        changes=deactivate.map({True: {"status": ["active", "inactive"]}, False: None}),
        values=deactivate.map({True: {"status": "inactive"}, False: None}),
        reason=reason,
    )
