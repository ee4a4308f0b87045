"""Departments: the tree must hold together before anything is planned against it.

A department with an unknown parent or in a parent cycle cannot be placed, and neither can anything under
it; those rows are rejected with the reason, and the users in them are rejected as a consequence.
"""

from __future__ import annotations

import pandas as pd

from rostersync_pipelines.frames import fill
from rostersync_pipelines.schema import DEPARTMENT_COLUMNS, ROW
from rostersync_pipelines.transform.identity import exact_duplicates, folded, shared_values
from rostersync_pipelines.transform.rejects import concat_rejects, split_off

SOURCE = "departments"


def normalize_departments(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(departments with a `depth` column, rejects)."""
    for column in DEPARTMENT_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    frame = frame[[ROW, *DEPARTMENT_COLUMNS]]
    rejects = []
    frame, rejected = split_off(frame, frame["code"].isna(), "no department code", SOURCE)
    rejects.append(rejected)
    repeated, first_row = exact_duplicates(frame, DEPARTMENT_COLUMNS, anchor="code")
    frame, rejected = split_off(frame, repeated, fill("duplicate of row {}", first_row[repeated]), SOURCE)
    rejects.append(rejected)
    for key in ("code", "department_unique_key"):
        shared, reason = shared_values(frame, key)
        frame, rejected = split_off(frame, shared, reason, SOURCE)
        rejects.append(rejected)

    depth, problem = tree_depths(frame)
    frame, rejected = split_off(frame, problem.notna(), problem, SOURCE)
    rejects.append(rejected)
    frame = frame.assign(depth=depth[frame.index].astype(int))
    return frame.reset_index(drop=True), concat_rejects(rejects)


def tree_depths(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Depth of each department (root = 0) and, for those that cannot be placed, why.

    A walk up the parents is plain Python: trees hold thousands of departments, not millions.
    """
    codes = folded(frame["code"])
    parents = folded(frame["parent"])
    parent_of = dict(zip(codes, parents, strict=True))
    label = dict(zip(codes, frame["code"], strict=True))
    depth: dict[str, int] = {}
    problem: dict[str, str] = {}
    for start in codes:
        path: list[str] = []
        node = start
        while node is not None and node not in depth and node not in problem:
            if node in path:
                cycle = path[path.index(node) :] + [node]
                for member in cycle[:-1]:
                    problem[member] = "department parent cycle: " + " -> ".join(label[m] for m in cycle)
                break
            path.append(node)
            parent = parent_of.get(node)
            if parent is not None and parent not in parent_of:
                problem[node] = f"unknown parent department '{frame['parent'][codes == node].iloc[0]}'"
                break
            node = parent
        # settle the path from the top down: depth from a placed ancestor, or the ancestor's problem
        for member in reversed(path):
            if member in problem or member in depth:
                continue
            parent = parent_of.get(member)
            if parent is None:
                depth[member] = 0
            elif parent in problem:
                problem[member] = f"under department '{label[parent]}', which cannot be placed"
            else:
                depth[member] = depth[parent] + 1
    return (
        pd.Series([depth.get(code, -1) for code in codes], index=frame.index),
        pd.Series([problem.get(code) for code in codes], index=frame.index, dtype=object),
    )
