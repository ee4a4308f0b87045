"""Rows that cannot be imported are kept with their reason, never dropped silently."""

from __future__ import annotations

import pandas as pd

from rostersync_pipelines.frames import fill, nones
from rostersync_pipelines.schema import REJECT_COLUMNS, REJECTED, ROW


def empty_rejects() -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype=object) for column in REJECT_COLUMNS})


def split_off(
    frame: pd.DataFrame, mask: pd.Series, reason: pd.Series | str, source: str, outcome: str = REJECTED
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows kept, rejects of the rows in mask) — the identity columns travel with the reject, so reconcile
    can leave that person's LMS account alone."""
    mask = mask.fillna(False).astype(bool)
    if not mask.any():  # the usual case: nothing to set aside, so the table is not copied
        taken, kept = frame.iloc[:0], frame
    else:
        taken, kept = frame[mask], frame[~mask]
    reasons = (
        reason.reindex(taken.index) if isinstance(reason, pd.Series) else pd.Series(reason, index=taken.index)
    )
    rejects = pd.DataFrame(index=taken.index)
    rejects["source"] = source
    rejects["row"] = taken[ROW]
    rejects["key"] = display_key(taken)
    rejects["outcome"] = outcome
    rejects["reason"] = reasons.astype(object)
    for column in REJECT_COLUMNS[5:]:
        rejects[column] = taken[column] if column in taken.columns else None
    return kept, rejects[REJECT_COLUMNS].reset_index(drop=True)


def display_key(frame: pd.DataFrame) -> pd.Series:
    """What a person would call the row: its login, else email, else code, else the row number."""
    key = nones(frame.index)
    for column in ("login", "email", "user_unique_key", "code", "department_unique_key"):
        if column in frame.columns:
            key = key.where(key.notna(), frame[column])
    return key.where(key.notna(), fill("row {}", frame[ROW])).astype(object)


def concat_rejects(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [part for part in parts if len(part)]
    if not parts:
        return empty_rejects()
    return pd.concat(parts, ignore_index=True).sort_values(
        ["source", "row"], kind="stable", ignore_index=True
    )
