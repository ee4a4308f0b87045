"""The plan's row shape and the field-by-field diff shared by every entity."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rostersync_pipelines.frames import nones

PLAN_COLUMNS = [
    "entity",  # users | departments | groups
    "action",  # create update move deactivate reactivate delete add_member remove_member none
    "situation",  # linked matched unmatched missing conflict
    "key",  # what a person calls the record: login, department code, group name, "group: login"
    "lms_id",
    "row",  # source row number, when the row came from a source
    "source_id",  # the source identity the link table remembers
    "changes",  # {field: [old, new]}
    "values",  # what the LMS is sent; *_ref values name records this plan creates
    "reason",
    "held",
    "error",
    "order",  # apply order within the entity's phase: parents first, children last
]
DESTRUCTIVE = {"deactivate", "delete", "remove_member"}


def plan_frame(**columns) -> pd.DataFrame:
    """A plan fragment with every column present, so fragments concatenate cleanly."""
    length = max((len(value) for value in columns.values() if isinstance(value, pd.Series | list)), default=0)
    data = {}
    for column in PLAN_COLUMNS:
        value = columns.get(column, False if column == "held" else 0 if column == "order" else None)
        dtype = bool if column == "held" else "int64" if column == "order" else object
        if isinstance(value, pd.Series | list):
            array = np.asarray(value.to_numpy() if isinstance(value, pd.Series) else value, dtype=dtype)
        else:
            array = np.full(length, value, dtype=dtype)
        if dtype is object:
            blank = pd.isna(array)
            if blank.any():
                array = array.copy()  # never write into the caller's column
                array[blank] = None
        data[column] = pd.Series(array, dtype=dtype, copy=False)
    return pd.DataFrame(data, index=range(length))


def diff(
    desired: pd.DataFrame,
    current: pd.DataFrame,
    fields: list[str],
    clearable: set[str] = frozenset(),
    described: pd.Series | None = None,
):
    """(changed: one bool column per field, changes: {field: [old, new]} or None per row).

    A blank source value never clears an LMS value (nothing is lost to a half-filled export), except for
    `clearable` fields where blank has a meaning (a department without a parent is a root). `described`
    limits the {field: [old, new]} dicts to the rows a caller reads them for (users: the matched ones; a
    first load of a million people would otherwise build a million dicts only to drop them).
    """
    # rows nobody reads the changes of are not compared at all (a first load: every row is a create)
    rows = np.arange(len(desired)) if described is None else np.flatnonzero(np.asarray(described, dtype=bool))
    whole = len(rows) == len(desired)
    flags, any_rows = {}, np.zeros(len(rows), dtype=bool)
    for field in fields:
        new, old = desired[field].to_numpy(dtype=object), current[field].to_numpy(dtype=object)
        if not whole:
            new, old = new[rows], old[rows]
        differs = np.asarray(new != old, dtype=bool)
        # blanks matter only where the values differ: few rows once the LMS is in step with the source
        unequal = np.flatnonzero(differs)
        new_blank = pd.isna(new[unequal])
        if field in clearable:
            differs[unequal] = ~(new_blank & pd.isna(old[unequal]))
        else:
            differs[unequal] = ~new_blank
        any_rows |= differs
        if whole:
            flags[field] = differs
        else:
            flags[field] = np.zeros(len(desired), dtype=bool)
            flags[field][rows] = differs
    changed = pd.DataFrame(flags, index=desired.index, columns=fields)
    any_changed = np.zeros(len(desired), dtype=bool)
    any_changed[rows] = any_rows
    any_changed = pd.Series(any_changed, index=desired.index)
    changes = nones(desired.index)
    if any_changed.any():
        rows = changed[any_changed]
        old_values = (
            current.loc[any_changed, fields]
            .astype(object)
            .where(current.loc[any_changed, fields].notna(), None)
        )
        new_values = (
            desired.loc[any_changed, fields]
            .astype(object)
            .where(desired.loc[any_changed, fields].notna(), None)
        )
        changes[any_changed] = [
            {field: [old[field], new[field]] for field in fields if flags[field]}
            for flags, old, new in zip(
                rows.to_dict("records"),
                old_values.to_dict("records"),
                new_values.to_dict("records"),
                strict=True,
            )
        ]
    return changed, changes


def values_from_changes(changes: pd.Series) -> pd.Series:
    """{field: new} of each {field: [old, new]}; None elsewhere. Only the rows that change build a dict."""
    cells = changes.to_numpy(dtype=object)
    values = np.full(len(cells), None, dtype=object)
    some = np.flatnonzero(np.fromiter((isinstance(change, dict) for change in cells), bool, len(cells)))
    for row in some:
        values[row] = {field: pair[1] for field, pair in cells[row].items()}
    return pd.Series(values, index=changes.index, dtype=object, copy=False)
