"""How the fake org writes what Salesforce sends: describe, REST records, aggregate rows, Bulk CSV.

Values are computed once per query over the selected rows (`prepare`, `csv_columns`), so each page is
only a slice of them.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd

from rostersync_pipelines_tests.fakes.salesforce_org import Org, SObject
from rostersync_pipelines_tests.fakes.soql import Query, SoqlError


def describe(sobject: SObject) -> dict:
    return {
        "name": sobject.name,
        "label": sobject.name,
        "queryable": True,
        "custom": sobject.name.endswith("__c"),
        "fields": [field.describe() for field in sobject.fields.values()],
    }


def aggregate(org: Org, sobject: SObject, query: Query, rows: np.ndarray) -> dict:
    record = {"attributes": {"type": "AggregateResult"}}
    for index, item in enumerate(query.items):
        if item[0] != "agg":
            raise SoqlError("MALFORMED_QUERY", f"Field must be grouped or aggregated: {item[1]}")
        _, values, _ = org.column(sobject, item[2])
        present = [value for value in values[rows] if value is not None]
        function = {"COUNT": len, "MAX": max, "MIN": min}.get(item[1])
        record[f"expr{index}"] = function(present) if present or item[1] == "COUNT" else None
    return {"totalSize": 1, "done": True, "records": [record]}


def prepare(org: Org, sobject: SObject, paths: list[str], rows: np.ndarray) -> dict:
    """Each selected path's values for the selected rows, and for a dotted one the related record's type
    and Id at each step, computed once per query so each page is only a slice."""
    columns = []
    for path in paths:
        _, values, names = org.column(sobject, path)
        links = []
        for depth in range(1, len(names)):
            prefix = ".".join(path.split(".")[:depth])
            linked = org.column(sobject, prefix + ".Id")[1][rows]
            links.append((names[depth - 1], target(org, sobject, prefix), linked))
        columns.append((names[-1], values[rows], links))
    return {"type": sobject.name, "ids": sobject.frame["Id"].to_numpy(dtype=object)[rows], "columns": columns}


def records(prepared: dict, start: int, stop: int, version: str) -> list[dict]:
    """REST records: `attributes`, then each field; a relationship is a nested record with its own
    `attributes`, or null when the lookup is empty."""
    base = f"/services/data/v{version}/sobjects/"
    out = []
    for position in range(start, stop):
        record_id = prepared["ids"][position]
        record = {"attributes": {"type": prepared["type"], "url": f"{base}{prepared['type']}/{record_id}"}}
        for name, values, links in prepared["columns"]:
            holder = record
            for relation, target, linked in links:
                if linked[position] is None:
                    holder[relation] = None
                    holder = None
                    break
                if holder.get(relation) is None:
                    holder[relation] = {
                        "attributes": {"type": target, "url": f"{base}{target}/{linked[position]}"}
                    }
                holder = holder[relation]
            if holder is not None:
                holder[name] = values[position]
        out.append(record)
    return out


def target(org: Org, sobject: SObject, prefix: str) -> str:
    current = sobject
    for part in prefix.split("."):
        current = org.objects[current.relationship(part).reference_to[0]]
    return current.name


def csv_columns(org: Org, sobject: SObject, paths: list[str], rows: np.ndarray) -> pd.DataFrame:
    """Bulk 2.0 CSV columns, headed by the field paths: checkboxes as true / false, null as empty."""
    columns = {}
    for path in paths:
        found, values, names = org.column(sobject, path)
        chunk = pd.Series(values[rows], dtype=object)
        if found.type == "boolean":
            chunk = chunk.map({True: "true", False: "false"})
        columns[".".join(names)] = chunk
    return pd.DataFrame(columns)


def csv_text(columns: pd.DataFrame) -> str:
    """Every value quoted, as Bulk API 2.0 writes its results."""
    buffer = io.StringIO()
    columns.to_csv(buffer, index=False, quoting=csv.QUOTE_ALL, lineterminator="\n", na_rep="")
    return buffer.getvalue()
