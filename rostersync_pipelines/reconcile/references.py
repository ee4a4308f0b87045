"""References to records this plan creates.

A new user's department may itself be new, so its id is unknown until apply. Such a reference is written
`new:<key>` in the plan (readable in the CSV) and resolved by the apply engine once the record exists.
"""

from __future__ import annotations

import pandas as pd

from rostersync_pipelines.frames import as_objects
from rostersync_pipelines.reconcile.codes import take
from rostersync_pipelines.transform.identity import fold

NEW = "new:"


def pending(keys: pd.Series) -> pd.Series:
    return (NEW + as_objects(keys)).where(keys.notna(), None).astype(object)


def is_pending(value) -> bool:
    return isinstance(value, str) and value.startswith(NEW)


def resolve(ids: pd.Series, frame: pd.DataFrame, column: str) -> pd.Series:
    """Folded key -> LMS id, or `new:<key>` when the record is being created, or None when unknown."""
    keys = fold(frame, column)
    if not ids.index.is_unique:  # as Series.map would: refused
        resolved = keys.map(ids)
        return resolved.astype(object).where(resolved.notna(), None)
    table = ids.to_numpy(dtype=object, copy=True)
    table[pd.isna(table)] = None
    positions = pd.Index(ids.index, dtype=object).get_indexer(keys.to_numpy(dtype=object))
    return pd.Series(take(table, positions), index=keys.index, dtype=object)
