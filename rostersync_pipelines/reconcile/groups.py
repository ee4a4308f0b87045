"""Groups made from a field value, and their memberships.

The sync owns the groups it created (the state database remembers them): only memberships in those groups
are ever removed, so a group an administrator made by hand is never emptied by a sync.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rostersync_pipelines.config import Sync
from rostersync_pipelines.frames import lookup
from rostersync_pipelines.reconcile.codes import NONE, encode, holders, take
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
    creating = (user_rows["action"] == "create").to_numpy(dtype=bool)
    user_ids = user_rows["lms_id"].copy()
    user_ids[creating] = NEW + users.loc[creating, "login"]
    protected = _contains(user_rows["reason"], "protected")
    in_scope = (user_rows["situation"] != "conflict") & ~protected & user_ids.notna()
    listed = pd.DataFrame({"login": users["login"], "user_id": user_ids})[in_scope]
    wanted = user_groups(users.loc[in_scope, ["login", "groups"]]).merge(listed, on="login", how="left")
    # "Sales" and "sales " are one group, named as first written; a few names, folded once each
    group_key, key_codes = _group_keys(wanted["group"])
    wanted["group"] = _first_written(wanted["group"], key_codes)
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
    group_ids = _per_value(wanted["group_key"], existing)
    missing = group_ids.isna().to_numpy()
    group_ids[missing] = NEW + wanted.loc[missing, "group"].astype(object)
    wanted["group_id"] = group_ids

    members = lms.group_members
    listed_ids = user_rows.loc[in_scope & user_rows["lms_id"].notna(), "lms_id"]
    wanted_pairs, member_pairs, member_users, listed_users = _pair_codes(wanted, members, listed_ids)
    adds = wanted[~_isin(wanted_pairs, member_pairs)].reset_index(drop=True)
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
        parts.append(_removals(lms, owned, wanted_pairs, member_pairs, member_users, listed_users))
    return pd.concat(parts, ignore_index=True)


def _removals(
    lms: LmsState, owned: set[str], wanted_pairs, member_pairs, member_users, listed_users
) -> pd.DataFrame:
    """Memberships in owned groups of people the source still lists, whose field no longer names the group.

    `member_users` / `listed_users`: the members' user ids and the listed people's LMS ids as codes."""
    members = lms.group_members
    listed = np.zeros(int(max(member_users.max(initial=-1), listed_users.max(initial=-1))) + 2, dtype=bool)
    listed[listed_users[listed_users >= 0]] = True
    candidate = members["group_id"].isin(owned).to_numpy(dtype=bool) & listed[member_users]
    candidate &= member_users >= 0
    kept = candidate.copy()
    kept[candidate] = ~_isin(member_pairs[candidate], wanted_pairs)
    stale = members[kept].reset_index(drop=True)
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


def _contains(text: pd.Series, word: str) -> pd.Series:
    """str.contains(word) over a million reasons, in Arrow's kernels."""
    found = pc.match_substring(
        pa.array(text.to_numpy(dtype=object), type=pa.string(), from_pandas=True), word
    )
    return pd.Series(pc.fill_null(found, False).to_numpy(zero_copy_only=False), index=text.index, dtype=bool)


def _group_keys(names: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """(folded name per row, a code per distinct folded name, -1 for none): each distinct name is folded
    once, since a million memberships name a few hundred groups."""
    codes, distinct = pd.factorize(names.to_numpy(dtype=object))
    keys = folded(pd.Series(np.asarray(distinct, dtype=object), dtype=object)).to_numpy(dtype=object)
    key_codes, _ = pd.factorize(keys)
    per_row = np.where(codes >= 0, key_codes[codes.clip(0)] if len(key_codes) else NONE, NONE)
    return pd.Series(take(keys, codes), index=names.index, dtype=object), per_row


def _first_written(names: pd.Series, key_codes: np.ndarray) -> pd.Series:
    """Each row's group as first written among the rows of its folded key (None without a key)."""
    rows = np.arange(len(key_codes))
    first = np.full(int(key_codes.max(initial=-1)) + 1, NONE)
    known = key_codes >= 0
    first[key_codes[known][::-1]] = rows[known][::-1]  # reversed: the first row of each key wins
    values = names.to_numpy(dtype=object)
    positions = np.where(known, first[key_codes.clip(0)], NONE)
    return pd.Series(take(values, positions), index=names.index, dtype=object)


def _per_value(keys: pd.Series, table: pd.Series) -> pd.Series:
    """keys.map(table) with None for misses, looked up once per distinct key."""
    codes, distinct = pd.factorize(keys.to_numpy(dtype=object))
    found = pd.Series(np.asarray(distinct, dtype=object), dtype=object).map(table)
    found = found.astype(object).where(found.notna(), None).to_numpy(dtype=object)
    return pd.Series(take(found, codes), index=keys.index, dtype=object)


def _pair_codes(pairs: pd.DataFrame, other: pd.DataFrame, listed: pd.Series):
    """Each (group_id, user_id) pair of both tables as one integer (equal pairs, equal integers), and the
    user ids of `other` and `listed` as codes: encoded once for the adds and the removals alike."""
    (mine_group, their_group), _ = encode(pairs["group_id"], other["group_id"])
    (mine_user, their_user, listed_users), users = encode(pairs["user_id"], other["user_id"], listed)
    width = np.int64(users + 1)  # codes start at -1 (None)
    mine, theirs = (mine_group + 1) * width + mine_user + 1, (their_group + 1) * width + their_user + 1
    return mine, theirs, their_user, listed_users


def _isin(values: np.ndarray, others: np.ndarray) -> np.ndarray:
    """np.isin by hashing rather than sorting: a million memberships in a few hundredths of a second."""
    return pd.Index(values).isin(others) if len(values) else np.zeros(0, dtype=bool)


def _names(ids: pd.Series, all_ids: pd.Series, names: pd.Series) -> pd.Series:
    """The name of each of a few records, without building a table of every record's name."""
    if ids.notna().all():  # a hash lookup of the few ids: no encoding of every record's id
        hit = all_ids.isin(set(ids)).to_numpy(dtype=bool)
        names_of = lookup(all_ids[hit], names[hit], keep="last")
        found = ids.map(names_of)
        return found.astype(object).where(found.notna(), None)
    (mine, theirs), size = encode(ids, all_ids)
    position, _ = holders(theirs, size)
    return pd.Series(
        take(names.to_numpy(dtype=object), position[mine.clip(0)]), index=ids.index, dtype=object
    )
