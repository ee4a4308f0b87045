"""Keys compared the way people mean them: case- and whitespace-insensitive.

Folding a million keys is the costliest string work of a plan, so it runs in Arrow's compute kernels, and
inside `fold_once()` each column of a table is folded once however many rules look at it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rostersync_pipelines.frames import fill, nones, rewrite_text
from rostersync_pipelines.schema import ROW

_folds: ContextVar[dict | None] = ContextVar("folds", default=None)


def folded(values: pd.Series) -> pd.Series:
    """Lower case with all whitespace removed; None stays None, and so does a value that was only blanks."""
    return rewrite_text(values, _fold_kernel)


def _fold_kernel(text: pa.Array) -> pa.Array:
    text = _one_spelling(text)
    lowered = pc.utf8_trim_whitespace(pc.utf8_lower(text))
    inner = pc.fill_null(pc.match_substring_regex(lowered, r"\s"), False)
    if not pc.any(inner).as_py():
        return lowered
    # whitespace inside a key is rare: the regex runs on those few values only
    squeezed = pc.replace_substring_regex(pc.filter(lowered, inner), r"\s+", "")
    return pc.replace_with_mask(lowered, inner, squeezed)


def _one_spelling(text: pa.Array) -> pa.Array:
    """Unicode NFKC without format characters: a fullwidth `ｕｓｅｒ8` is `user8`, and `anna` with a
    zero-width space is `anna`. Only non-ASCII values can differ, so only those few pay for it."""
    special = pc.invert(pc.fill_null(pc.string_is_ascii(text), True))
    if not pc.any(special).as_py():
        return text
    subset = pc.utf8_normalize(pc.filter(text, special), "NFKC")
    subset = pc.replace_substring_regex(subset, r"\p{Cf}+", "")
    return pc.replace_with_mask(text, special, subset)


@contextmanager
def fold_once() -> Iterator[None]:
    """While active, `fold(frame, column)` folds each column of each (unchanged) frame only once."""
    token = _folds.set({})
    try:
        yield
    finally:
        _folds.reset(token)


def plan_cache() -> dict | None:
    """The memo of the active `fold_once()` (None outside it), for other per-plan work on the same keys."""
    return _folds.get()


def fold(frame: pd.DataFrame, column: str) -> pd.Series:
    """folded(frame[column]), remembered inside `fold_once()`. Only for frames nobody modifies meanwhile."""
    cache = _folds.get()
    if cache is None:
        return folded(frame[column])
    key = (id(frame), column)
    hit = cache.get(key)
    if hit is None or hit[0] is not frame:
        hit = cache[key] = (frame, folded(frame[column]))  # holding the frame keeps its id from being reused
    return hit[1]


def share_folds(copy: pd.DataFrame, original: pd.DataFrame, columns: list[str]) -> None:
    """Inside `fold_once()`: `copy[column]` holds the same values as `original[column]`, so folding either
    gives the other's folded column (the same object, so their integer codes are shared too)."""
    cache = _folds.get()
    if cache is None:
        return
    for column in columns:
        cache[(id(copy), column)] = (copy, fold(original, column))


def exact_duplicates(frame: pd.DataFrame, columns: list[str], anchor: str) -> tuple[pd.Series, pd.Series]:
    """(mask of repeated rows after the first, the first row's number) — an exported row listed twice.

    Only rows whose `anchor` value repeats can be copies, so only those few are compared in full.
    """
    repeated = pd.Series(False, index=frame.index)
    first_row = frame[ROW].copy()
    suspects = frame[frame[anchor].duplicated(keep=False) & frame[anchor].notna()]
    if len(suspects):
        hashed = pd.util.hash_pandas_object(suspects[columns].astype(object).fillna("\x00"), index=False)
        repeated[suspects.index] = hashed.duplicated(keep="first").to_numpy()
        first_row[suspects.index] = suspects[ROW].groupby(hashed.to_numpy()).transform("min").to_numpy()
    return repeated, first_row


def shared_values(frame: pd.DataFrame, key: str) -> tuple[pd.Series, pd.Series]:
    """(mask of rows whose folded `key` another row also has, 'login "x" also on rows 3, 9')."""
    values = folded(frame[key])
    shared = values.notna() & values.duplicated(keep=False)
    reason = nones(frame.index)
    if shared.any():
        rows = fill("{}", frame.loc[shared, ROW]).groupby(values[shared]).agg(", ".join)
        reason[shared] = [
            f'{key} "{frame.at[index, key]}" is on rows {rows[value]}: the same identity twice'
            for index, value in values[shared].items()
        ]
    return shared, reason
