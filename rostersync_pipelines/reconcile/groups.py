"""Groups made from a field value, and their memberships.

The sync owns the groups it created (the state database remembers them): only memberships in those groups
are ever removed, so a group an administrator made by hand is never emptied by a sync.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rostersync_pipelines.config import Sync
from rostersync_pipelines.frames import as_objects, lookup
from rostersync_pipelines.reconcile.codes import encode, holders, take
from rostersync_pipelines.reconcile.references import NEW
from rostersync_pipelines.reconcile.rows import plan_frame
from rostersync_pipelines.targets.base import LmsState
from rostersync_pipelines.transform.identity import fold, folded
from rostersync_pipelines.transform.normalize import user_groups


def plan_groups(
    users: pd.DataFrame, user_rows: pd.DataFrame, lms: LmsState, owned: set[str], sync: Sync
) -> pd.DataFrame:
    """Group creates, then add_member / remove_member rows. `user_rows` is the users' plan, aligned with `users`."""
    if sync.fields.users.groups is None:
        return plan_frame()
    user_ids = user_rows["lms_id"].where(user_rows["action"] != "create", NEW + users["login"])
    protected = user_rows["reason"].str.contains("protected", regex=False)
    in_scope = (user_rows["situation"] != "conflict") & ~protected & user_ids.notna()
    listed = pd.DataFrame({"login": users["login"], "user_id": user_ids})[in_scope]
    wanted = user_groups(users[in_scope]).merge(listed, on="login", how="left")
    # "Sales" and "sales " are one group, named as first written
    group_key = folded(wanted["group"])
    wanted["group"] = as_objects(group_key.map(lookup(group_key, wanted["group"])))
    wanted = wanted.assign(group_key=group_key).drop_duplicates(["login", "group_key"], ignore_index=True)
    existing = lookup(fold(lms.groups, "name"), lms.groups["id"])
    firsts = wanted.drop_duplicates("group_key")
    new_names = firsts.loc[~firsts["group_key"].isin(existing.index), "group"]
    creates = plan_frame(
        entity="groups",
        action="create",
        situation="unmatched",
        key=new_names,
        values=new_names.map(lambda name: {"name": name}),
        reason="a new group from the " + str(sync.fields.users.groups) + " field",
    )
    group_ids = as_objects(wanted["group_key"].map(existing))
    wanted["group_id"] = group_ids.where(group_ids.notna(), NEW + wanted["group"].astype(object))

    members = lms.group_members
    adds = _without(wanted, members)
    add_rows = plan_frame(
        entity="groups",
        action="add_member",
        situation="unmatched",
        key=adds["group"] + ": " + adds["login"],
        lms_id=adds["group_id"],
        values=adds["user_id"].map(lambda user_id: {"user_id": user_id}),
        reason="the source puts " + adds["login"] + " in " + adds["group"],
    )
    parts = [creates, add_rows]
    if sync.policies.stale_group_memberships == "remove":
        parts.append(_removals(lms, wanted, user_rows, in_scope, owned))
    return pd.concat(parts, ignore_index=True)


def _removals(lms: LmsState, wanted, user_rows, in_scope, owned: set[str]) -> pd.DataFrame:
    """Memberships in owned groups of people the source still lists, whose field no longer names the group."""
    members = lms.group_members
    listed = user_rows.loc[in_scope & user_rows["lms_id"].notna(), "lms_id"]
    candidates = members[members["group_id"].isin(owned) & members["user_id"].isin(listed)]
    stale = _without(candidates, wanted)
    stale = stale.assign(
        login=_names(stale["user_id"], lms.users["id"], lms.users["login"]),
        group=_names(stale["group_id"], lms.groups["id"], lms.groups["name"]),
    )
    return plan_frame(
        entity="groups",
        action="remove_member",
        situation="linked",
        key=stale["group"] + ": " + stale["login"],
        lms_id=stale["group_id"],
        values=stale["user_id"].map(lambda user_id: {"user_id": user_id}),
        reason=stale["login"]
        + " is no longer in "
        + stale["group"]
        + " in the source (policy stale_group_memberships: remove)",
    )


def _without(pairs: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    """The (group_id, user_id) pairs of `pairs` that `other` does not have, compared as integer codes."""
    (mine_group, their_group), _ = encode(pairs["group_id"], other["group_id"])
    (mine_user, their_user), users = encode(pairs["user_id"], other["user_id"])
    width = np.int64(max(users, 1))
    kept = ~np.isin(mine_group * width + mine_user, their_group * width + their_user)
    return pairs[kept].reset_index(drop=True)


def _names(ids: pd.Series, all_ids: pd.Series, names: pd.Series) -> pd.Series:
    """The name of each of a few records, without building a table of every record's name."""
    (mine, theirs), size = encode(ids, all_ids)
    position, _ = holders(theirs, size)
    return pd.Series(
        take(names.to_numpy(dtype=object), position[mine.clip(0)]), index=ids.index, dtype=object
    )
