"""XLSX by sheet name, every cell as the text a person sees: ids keep leading zeros, dates become ISO dates.

A damaged workbook fails anywhere inside openpyxl; those failures become one line naming the file.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import numpy as np
import pandas as pd

from rostersync_pipelines.errors import SourceError


def _cell(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, bool):  # before int: bool is an int
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Excel stores every number as a float; an id typed as 5 must not become "5.0"
    if isinstance(value, dt.datetime):  # before date: datetime is a date
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def excel_grid(data: bytes, sheet: str | None, shown: str) -> tuple[pd.DataFrame, np.ndarray]:
    # imported here: openpyxl takes most of a second to import, and most rosters arrive as CSV
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError) as error:
        raise SourceError(f"{shown} is not a readable XLSX workbook: {error}") from error
    except Exception as error:  # a damaged workbook fails anywhere inside openpyxl, in its own words
        raise SourceError(f"{shown} is not a readable XLSX workbook ({_first_line(error)})") from error
    try:
        return _sheet_grid(book, sheet, shown)
    except SourceError:
        raise
    except Exception as error:  # a corrupt entry surfaces only while the rows are read
        raise SourceError(
            f"{shown} is damaged: a part of the workbook cannot be read ({_first_line(error)}); "
            "open it in Excel and save it again"
        ) from error
    finally:
        book.close()


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200]}" if text else type(error).__name__


def _sheet_grid(book, sheet: str | None, shown: str) -> tuple[pd.DataFrame, np.ndarray]:
    sheets = book.worksheets
    if sheet is None:
        chosen = sheets[0] if sheets else None
    else:  # people type sheet names by hand in the config, so a near match is accepted after an exact one
        loose = {ws.title.strip().casefold(): ws for ws in reversed(sheets)}
        chosen = next((ws for ws in sheets if ws.title == sheet), loose.get(sheet.strip().casefold()))
    if chosen is None:
        present = ", ".join(repr(ws.title) for ws in sheets) or "none"
        raise SourceError(f"{shown} has no sheet {sheet!r}; sheets present: {present}")
    chosen.reset_dimensions()  # stored dimensions are often wrong and would cut columns off
    rows = [[_cell(value) for value in row] for row in chosen.iter_rows(values_only=True)]
    width = max(map(len, rows), default=0)
    grid = pd.DataFrame([row + [None] * (width - len(row)) for row in rows], dtype=object)
    return grid, np.arange(1, len(rows) + 1, dtype="int64")  # openpyxl yields blank rows too
