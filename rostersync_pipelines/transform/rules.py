"""Import rules: who is in scope at all (SkyPrep import rules, TalentLMS filtered syncs).

A skipped row is out of scope, not rejected: its LMS account is treated as missing from the source, the way
Entra treats a user who leaves the provisioning scope, so it stays under the same safety limits.

Rules are read in order and the first one that puts a row out of scope names the reason: a `skip:` rule
whose condition holds, or a `keep:` rule whose condition does not (so several `keep:` rules must all hold;
`any:` says "either"). Every test runs on whole columns; text is compared trimmed and case-insensitively.
"""

from __future__ import annotations

import re
import warnings

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rostersync_pipelines.config_rules import Condition, Rule
from rostersync_pipelines.frames import nones
from rostersync_pipelines.transform.mapping import find_column


def skipped_by_rules(raw: pd.DataFrame, rules: list[Rule], source_name: str) -> pd.Series:
    """The reason each row is out of scope (the first rule that put it there), or None when it is imported."""
    reason = nones(raw.index)
    columns = _Columns(raw, source_name)
    for rule in rules:
        holds = evaluate(rule.condition, columns)
        if rule.skip is not None:
            out, text = holds, f"skipped by import rule: {describe(rule.skip)}"
        else:
            out, text = ~holds, f"not kept by import rule: {describe(rule.keep)}"
        reason = reason.where(reason.notna() | ~out, text)
    return reason


def in_scope(raw: pd.DataFrame, rules: list[Rule], source_name: str) -> pd.Series:
    """True for the rows every rule lets in: what a connector applies again after filtering server-side."""
    return skipped_by_rules(raw, rules, source_name).isna()


class _Columns:
    """Each source column a rule reads, as Arrow text trimmed (blank = null) and lower-cased, once however
    many tests look at it: the tests then run in Arrow's compute kernels (a million rows: about 0.4 s)."""

    def __init__(self, raw: pd.DataFrame, source_name: str):
        self.raw, self.source_name = raw, source_name
        self._trimmed: dict[str, pa.Array] = {}
        self._folded: dict[str, pa.Array] = {}

    def trimmed(self, field: str) -> pa.Array:
        if field not in self._trimmed:
            column = self.raw[find_column(self.raw, field, self.source_name)]
            text = pc.utf8_trim_whitespace(pa.array(column, pa.string(), from_pandas=True))
            self._trimmed[field] = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
        return self._trimmed[field]

    def folded(self, field: str) -> pa.Array:
        if field not in self._folded:
            self._folded[field] = pc.utf8_lower(self.trimmed(field))
        return self._folded[field]

    def mask(self, values: pa.Array) -> pd.Series:
        flags = pc.fill_null(values, False).to_numpy(zero_copy_only=False).astype(bool)
        return pd.Series(flags, index=self.raw.index)


def _fold(value: str) -> str:
    return str(value).strip().lower()


def evaluate(condition: Condition, columns: _Columns) -> pd.Series:
    """A bool per row: does the condition hold. A blank value equals, contains and starts with nothing."""
    if condition.all is not None or condition.any is not None:
        parts = [evaluate(part, columns) for part in condition.all or condition.any]
        combined = parts[0]
        for part in parts[1:]:
            combined = combined & part if condition.all is not None else combined | part
        return combined
    field, test = condition.field, condition.test
    if test == "empty":
        blank = columns.mask(pc.is_null(columns.trimmed(field)))
        return blank if condition.empty else ~blank
    if test == "regex":
        # Python's re, as the config documents (look-arounds, \b ...), which Arrow's RE2 does not all have
        text = pd.Series(columns.trimmed(field).to_pandas(), index=columns.raw.index, dtype=object).fillna("")
        with warnings.catch_warnings():  # pandas warns about groups in a pattern; the rule only asks "found?"
            warnings.simplefilter("ignore", UserWarning)
            return text.str.contains(condition.regex, flags=re.IGNORECASE, regex=True).astype(bool)
    values = columns.folded(field)
    if test in ("equals", "not_equals"):
        hit = pc.equal(values, _fold(condition.equals if test == "equals" else condition.not_equals))
    elif test in ("contains", "not_contains"):
        needle = _fold(condition.contains if test == "contains" else condition.not_contains)
        hit = pc.match_substring(values, needle)
    elif test == "starts_with":
        hit = pc.starts_with(values, _fold(condition.starts_with))
    else:  # in
        hit = pc.is_in(values, value_set=pa.array([_fold(value) for value in condition.one_of], pa.string()))
    hit = columns.mask(hit)
    return ~hit if test.startswith("not_") else hit


def describe(condition: Condition) -> str:
    """The condition as a person reads it in a reject's reason: "Company contains 'Contractor'"."""
    if condition.all is not None or condition.any is not None:
        joiner = " and " if condition.all is not None else " or "
        parts = condition.all or condition.any
        return joiner.join(_grouped(part) for part in parts)
    field, test = condition.field, condition.test
    if test == "empty":
        return f"{field} is {'empty' if condition.empty else 'not empty'}"
    if test == "in":
        return f"{field} is one of {', '.join(condition.one_of)}"
    verb = {
        "equals": "is",
        "not_equals": "is not",
        "contains": "contains",
        "not_contains": "does not contain",
        "starts_with": "starts with",
        "regex": "matches",
    }[test]
    return f"{field} {verb} '{getattr(condition, test)}'"


def _grouped(condition: Condition) -> str:
    text = describe(condition)
    return f"({text})" if condition.all is not None or condition.any is not None else text
