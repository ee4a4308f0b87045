"""Logins and emails are unique in the LMS: who holds each one before and after this plan's renames.

A create, or a rename, onto a value another person will still hold is a conflict; a value someone gives up
in the same plan is free, as long as that rename lands first (the `order` this module computes).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rostersync_pipelines.reconcile.codes import NONE, encode, holders
from rostersync_pipelines.transform.identity import fold

WRITES = ["create", "update", "move", "deactivate", "reactivate"]
FIELDS = ("login", "email")


def record_positions(lms_ids: pd.Series, lms: pd.DataFrame) -> np.ndarray:
    """Row position in the LMS table of each plan row's record (-1 for none)."""
    (mine, theirs), size = encode(lms_ids, lms["id"])
    position, _ = holders(theirs, size)
    return np.where(mine >= 0, position[mine.clip(0)], NONE)


def taken_identity(
    desired: pd.DataFrame, records: np.ndarray, lms: pd.DataFrame, action: pd.Series
) -> pd.Series:
    """Per row: why its login or email is taken by another person after this plan, else None."""
    conflict = pd.Series([None] * len(desired), index=desired.index, dtype=object)
    writes = action.isin(WRITES).to_numpy()
    lms_ids = lms["id"].to_numpy(dtype=object)
    for field in FIELDS:
        (wanted, current), size = encode(fold(desired, field), fold(lms, field))
        renamed = writes & (records >= 0) & (wanted >= 0)
        after = current.copy()
        after[records[renamed]] = wanted[renamed]
        held = np.bincount(after[after >= 0], minlength=max(size, 1))
        own = (
            np.where(records >= 0, after[records.clip(0)], NONE)
            if len(after)
            else np.full(len(records), NONE)
        )
        others = np.where(wanted >= 0, held[wanted.clip(0)], 0) - (own == wanted) * (wanted >= 0)
        taken = np.flatnonzero(writes & (others > 0) & conflict.isna().to_numpy())
        for row in taken:  # few: name the other holder
            holder = next(
                position for position in np.flatnonzero(after == wanted[row]) if position != records[row]
            )
            conflict.iloc[row] = (
                f'{field} "{desired[field].iloc[row]}" already belongs to LMS user {lms_ids[holder]}, '
                "another person: review them"
            )
    return conflict


def rename_order(
    desired: pd.DataFrame, records: np.ndarray, lms: pd.DataFrame, action: pd.Series
) -> np.ndarray:
    """How many renames must land before each row's: taking over an email someone else gives up in the
    same plan only works once they have let go of it. Creates wait for every rename by their phase."""
    renamed = (action.isin(WRITES) & (action != "create")).to_numpy() & (records >= 0)
    row_of = np.full(max(len(lms), 1), NONE)
    row_of[records[renamed]] = np.flatnonzero(renamed)
    parent = np.full(len(desired), NONE)
    for field in FIELDS:
        (wanted, current), size = encode(fold(desired, field), fold(lms, field))
        holder, _ = holders(current, size)
        held_by = np.where(wanted >= 0, holder[wanted.clip(0)], NONE)
        waits = renamed & (held_by >= 0) & (held_by != records) & (parent < 0)
        parent[waits] = row_of[held_by[waits]]
    return chain_depth(parent)


def chain_depth(parent: np.ndarray) -> np.ndarray:
    """Steps to the top of each chain of parent positions (-1 = none); a cycle stops after 32 steps."""
    depth = np.zeros(len(parent), dtype=int)
    current = parent
    for _ in range(32):
        reached = current >= 0
        if not reached.any():
            break
        depth += reached
        current = np.where(reached, parent[current.clip(0)], NONE)
    return depth
