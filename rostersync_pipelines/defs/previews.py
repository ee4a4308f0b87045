"""The plan as a person reads it: what needs attention first, each change as old → new, reasons in full.

Table order says nothing (a first sync would show 20 department creations and no people), so the preview
ranks rows by what a person must look at: errors, conflicts, held changes, other destructive changes, then
moves, updates and creates, people before departments and groups. References are shown by what people call
them (a department code, a manager's login), not by LMS ids.
"""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd

from rostersync_pipelines.apply import PHASES
from rostersync_pipelines.reconcile.rows import DESTRUCTIVE

PREVIEW_ROWS = 20
PLAN_ROWS = 50  # the plan's Markdown preview
TABLE_ROWS = 500  # the plan's sortable table (the full plan is the CSV file)
ENTITIES = ("users", "departments", "groups")
ACTIONS = {entity: [a for e, actions in PHASES if e == entity for a in actions] for entity in ENTITIES}
ATTENTION = ["error", "conflict", "held", "destructive", "move", "update", "reactivate", "create", "other"]
PLAN_VIEW = ["attention", "entity", "action", "key", "changes", "reason", "situation", "row"]
REFERENCES = {
    "department_id": "departments",
    "parent_id": "departments",
    "manager_id": "users",
    "functional_manager_id": "users",
}


def markdown_table(frame: pd.DataFrame, columns: list[str], rows: int = PREVIEW_ROWS) -> dg.MetadataValue:
    """The first `rows` rows as Markdown, every cell in full (a reason cut short explains nothing)."""
    head = frame[columns].head(rows)
    shown = head.astype(object).where(head.notna(), "")
    if shown.empty:
        return dg.MetadataValue.md("_nothing to show_")
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += [
        "| " + " | ".join(_cell(value) for value in row) + " |" for row in shown.itertuples(index=False)
    ]
    more = len(frame) - rows
    if more > 0:
        lines.append(f"\n_and {more} more rows_")
    return dg.MetadataValue.md("\n".join(lines))


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def table_metadata(frame: pd.DataFrame | None) -> dict:
    if frame is None:
        return {"dagster/row_count": 0}
    columns = [column for column in frame.columns if column != "__row__"]
    return {
        "dagster/row_count": len(frame),
        "dagster/column_schema": column_schema(frame[columns]),
        "preview": markdown_table(frame, columns[:8], 10),
    }


def column_schema(frame: pd.DataFrame, descriptions: dict[str, str] | None = None) -> dg.TableSchema:
    descriptions = descriptions or {}
    return dg.TableSchema(
        columns=[
            dg.TableColumn(str(name), _type(frame[name]), description=descriptions.get(str(name)))
            for name in frame.columns
        ]
    )


def _type(column: pd.Series) -> str:
    if column.dtype == bool:
        return "bool"
    if pd.api.types.is_integer_dtype(column):
        return "int"
    if pd.api.types.is_float_dtype(column):
        return "float"
    return "text"


def attention(plan: pd.DataFrame) -> pd.Series:
    """Why a row needs a look, as one of ATTENTION; rows with no action and no problem get NaN."""
    action = plan["action"]
    picks = [
        plan["error"].notna(),
        plan["situation"] == "conflict",
        plan["held"].astype(bool) & (action != "none"),
        action.isin(DESTRUCTIVE),
        action == "move",
        action == "update",
        action == "reactivate",
        action == "create",
        action != "none",
    ]
    return pd.Series(np.select(picks, ATTENTION, default=None), index=plan.index, dtype=object)


def plan_view(plan: pd.DataFrame, described: int | None = TABLE_ROWS) -> pd.DataFrame:
    """Every row that changes something or needs a person, most urgent first, changes as old → new.

    Only the first `described` rows of each kind of attention carry their changes in words (None after):
    no metadata shows more (the table shows TABLE_ROWS rows, the checks 50 of a kind), and a first sync of
    a million people would otherwise describe two million rows nobody reads. None describes every row.
    """
    why = attention(plan)
    rows = plan[why.notna()]
    why = why[rows.index]
    order = pd.DataFrame(
        {
            "rank": why.map({kind: rank for rank, kind in enumerate(ATTENTION)}),
            "entity": rows["entity"].map({entity: i for i, entity in enumerate(ENTITIES)}).fillna(9),
            "at": np.arange(len(rows)),
        },
        index=rows.index,
    ).sort_values(["rank", "entity", "at"])
    rows, why = rows.loc[order.index], why.loc[order.index]
    shown = np.ones(len(rows), dtype=bool)
    if described is not None:  # the kinds are contiguous once sorted: the first rows of each kind
        shown = why.groupby(why.to_numpy(), sort=False).cumcount().to_numpy() < described
    changes = np.full(len(rows), None, dtype=object)
    picked = (
        rows["changes"].to_numpy()[shown],
        rows["values"].to_numpy()[shown],
        rows["action"].to_numpy()[shown],
    )
    names = _names(plan, _referenced(*picked))
    described_rows = [
        _describe(change, values, action, names) for change, values, action in zip(*picked, strict=True)
    ]
    changes = described_rows if shown.all() else _placed(changes, shown, described_rows)
    reason = rows["reason"].fillna("")
    failed = rows["error"].notna()
    if failed.any():  # words joined for the failed rows only: a Python step per joined cell
        reason = reason.copy()
        reason[failed] = "error: " + rows["error"][failed] + "; " + reason[failed]
    view = pd.DataFrame(
        {
            "attention": why.to_numpy(),
            "entity": rows["entity"].to_numpy(),
            "action": rows["action"].to_numpy(),
            "key": _text(rows["key"]),
            "changes": changes,
            "reason": reason.to_numpy(),
            "situation": rows["situation"].to_numpy(),
            "row": rows["row"].to_numpy(),
        }
    )
    return view


def _placed(into: np.ndarray, where: np.ndarray, values: list) -> np.ndarray:
    into[where] = values
    return into


def _text(column: pd.Series) -> np.ndarray:
    """`column.astype(str)` as objects, without a round trip through Arrow when it is all text already."""
    values = column.to_numpy()
    if pd.api.types.infer_dtype(values, skipna=False) == "string":
        return values
    return column.astype(str).to_numpy()


class _Wanted:
    """Stands in for a names mapping while describing, to learn which LMS ids the words refer to."""

    def __init__(self):
        self.ids: set[str] = set()

    def get(self, text: str, default: str) -> str:
        self.ids.add(text)
        return default


def _referenced(changes, values, actions) -> dict[str, set[str]]:
    wanted = {entity: _Wanted() for entity in ("users", "departments")}
    for change, value, action in zip(changes, values, actions, strict=True):
        _describe(change, value, action, wanted)
    return {entity: found.ids for entity, found in wanted.items()}


def _names(plan: pd.DataFrame, wanted: dict[str, set[str]]) -> dict[str, dict[str, str]]:
    """LMS id -> what people call the record, per entity, from the plan's own rows: for the ids the
    described rows refer to only (a dict of every person's id costs seconds at a million)."""
    names = {}
    for entity in ("users", "departments"):
        if not wanted[entity]:
            names[entity] = {}
            continue
        rows = plan[(plan["entity"] == entity) & plan["lms_id"].notna()]
        ids = rows["lms_id"].astype(str)
        rows, ids = rows[ids.isin(wanted[entity])], ids[ids.isin(wanted[entity])]
        names[entity] = dict(zip(ids, rows["key"].astype(str), strict=True))
    return names


def _describe(change, values, action: str, names: dict[str, dict[str, str]]) -> str:
    if isinstance(change, dict) and change:
        return "; ".join(
            f"{field}: {_show(field, pair[0], names)} → {_show(field, pair[1], names)}"
            for field, pair in change.items()
        )
    if action == "create" and isinstance(values, dict):
        return "; ".join(f"{field} = {_show(field, value, names)}" for field, value in _flat(values))
    return ""


def _flat(values: dict):
    for field, value in values.items():
        if isinstance(value, dict):
            yield from ((f"{field}.{inner}", nested) for inner, nested in value.items())
        elif value is not None:
            yield field, value


def _show(field: str, value, names: dict[str, dict[str, str]]) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "(blank)"
    text = str(value)
    entity = REFERENCES.get(field.removesuffix("_ref"))
    if entity and text.startswith("new:"):
        return f"{text[4:]} (new)"
    if entity:
        return names[entity].get(text, text)
    return text


def plan_table(view: pd.DataFrame, rows: int = TABLE_ROWS) -> dg.MetadataValue:
    """The same rows as a table value: the UI shows it with a column schema, sortable."""
    shown = view.head(rows)
    records = [
        dg.TableRecord({name: _plain(value) for name, value in record.items()})
        for record in shown.to_dict("records")
    ]
    schema = dg.TableSchema(
        columns=[dg.TableColumn(name, "int" if name == "row" else "text") for name in view.columns]
    )
    return dg.MetadataValue.table(records=records, schema=schema)


def _plain(value):
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.integer | int | float) and not isinstance(value, bool):
        return int(value)
    return str(value)


def action_counts(plan: pd.DataFrame) -> pd.DataFrame:
    """entity, action, to apply, held: every action of every entity, zeros included."""
    changing = plan[plan["action"] != "none"]
    held = changing["held"].astype(bool)
    waiting = held | changing["error"].notna() | (changing["situation"] == "conflict")
    grid = pd.MultiIndex.from_tuples(
        [(entity, action) for entity in ENTITIES for action in ACTIONS[entity]], names=["entity", "action"]
    )

    def count(mask: pd.Series) -> pd.Series:
        found = changing[mask].groupby(["entity", "action"]).size()
        return found.reindex(grid.append(found.index.difference(grid)), fill_value=0)  # people first

    counts = pd.concat({"to apply": count(~waiting), "held": count(held)}, axis=1, sort=False)
    return counts.fillna(0).astype(int).reset_index()


def count_metadata(counts: pd.DataFrame) -> dict:
    """`users deactivate` (to apply) and `users deactivate held`, numbers for the plots, and one line each."""
    metadata, lines = {}, []
    for entity, action, to_apply, held in counts.itertuples(index=False):
        metadata[f"{entity} {action}"] = int(to_apply)
        metadata[f"{entity} {action} held"] = int(held)
        lines.append(f"- `{entity} {action}`: {held} held, {to_apply} to apply")
    metadata["counts"] = dg.MetadataValue.md("\n".join(lines))
    return metadata


def manager_follow_ups(plan: pd.DataFrame) -> int:
    """How many extra updates apply will send: a manager this plan creates in the same wave or later is
    set on the person once it exists (apply.py), so the plan announces them instead of apply surprising."""
    users = plan[(plan["entity"] == "users") & (plan["action"] != "none") & ~plan["held"].astype(bool)]
    users = users[users["error"].isna() & (users["situation"] != "conflict")]
    if users.empty:
        return 0
    values, actions, orders = (users[name].to_numpy() for name in ("values", "action", "order"))
    found = []
    for name in ("manager_id", "functional_manager_id"):  # a Python step per person, not per value
        refs = pd.Series([value.get(name) if value else None for value in values], dtype=object)
        at = np.flatnonzero(refs.notna().to_numpy())
        at = at[refs.iloc[at].astype(str).str.startswith("new:").to_numpy(dtype=bool)]
        found.append((at, refs.iloc[at].str[4:]))
    if not any(len(at) for at, _ in found):
        return 0
    created = users[users["action"] == "create"]
    wave = dict(zip(_text(created["key"]), created["order"].to_numpy(), strict=True))
    follows = np.zeros(len(users), dtype=bool)
    for at, refs in found:
        waves = refs.map(wave).to_numpy(dtype=float)  # NaN: a manager this plan does not create
        waves = np.where(np.isnan(waves), orders[at], waves)
        follows[at] |= (actions[at] != "create") | (waves >= orders[at])
    return int(follows.sum())
