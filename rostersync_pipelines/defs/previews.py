"""Metadata a person wants to see on an asset: counts as numbers, the first changed rows as Markdown."""

from __future__ import annotations

import dagster as dg
import pandas as pd

PREVIEW_ROWS = 20


def markdown_table(frame: pd.DataFrame, columns: list[str], rows: int = PREVIEW_ROWS) -> dg.MetadataValue:
    shown = frame[columns].head(rows).astype(object).where(frame[columns].head(rows).notna(), "")
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
    text = str(value).replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 120 else text[:117] + "..."


def table_metadata(frame: pd.DataFrame | None) -> dict:
    if frame is None:
        return {"dagster/row_count": 0}
    columns = [column for column in frame.columns if column != "__row__"]
    return {
        "dagster/row_count": len(frame),
        "columns": ", ".join(str(column) for column in columns),
        "preview": markdown_table(frame, columns[:8], 10),
    }
