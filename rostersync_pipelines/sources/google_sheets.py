"""Google Sheets sources: one worksheet read with a service account, every cell as the text a person sees.

HR teams keep rosters in sheets where an employee id `00123` or a date `03/01/2026` means exactly what is
shown, so values are asked for as FORMATTED_VALUE and never numericised. Row 1 is the header and `__row__`
is the sheet's own row number, so a rejected row can be found by scrolling to it. A large sheet is read in
blocks of rows (bounded responses, each retried on its own); all HTTP goes through `rostersync.http`
sessions, the token request included, so proxies, private CAs and test transports apply everywhere.
"""

from __future__ import annotations

import functools
import hashlib
import json

import gspread
import numpy as np
import pandas as pd
import requests
from google.auth.exceptions import GoogleAuthError, RefreshError
from gspread.exceptions import APIError, NoValidUrlKeyFound
from gspread.utils import ValueRenderOption, extract_id_from_url, rowcol_to_a1

from rostersync_pipelines import http
from rostersync_pipelines.errors import SourceError
from rostersync_pipelines.sources import Change
from rostersync_pipelines.sources.google_sheets_auth import (
    RetryingHTTPClient,
    authorized_session,
    refused_key,
    service_account_info,
)

ROW_COLUMN = "__row__"
ROWS_PER_REQUEST = 10_000


def read(spec, context) -> pd.DataFrame:
    """The source-kind entry point (sources/__init__.py): the worksheet as a text frame."""
    rows, shown = read_values(spec, context)
    return to_frame(rows, shown)


def changed(spec, context, cursor: str | None) -> Change:
    """The changes sensor's question: a hash of the values (Sheets offers no cheaper change marker to a
    service account holding only the Sheets scope); no frame is built and nothing is normalised."""
    rows, shown = read_values(spec, context)
    digest = hashlib.sha256(json.dumps(rows, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()
    if digest == cursor:
        return Change(False, digest, f"{shown}: values unchanged")
    return Change(True, digest, f"{shown}: first read" if cursor is None else f"{shown}: values changed")


def read_values(spec, context) -> tuple[list[list[str]], str]:
    """The worksheet's rows as the API sends them (trailing blanks trimmed) and its name for messages."""
    key = spreadsheet_key(spec.spreadsheet)
    shown = f"Google Sheet {key}"
    info = service_account_info(spec.credentials, context)
    email = info.get("client_email", "the service account")
    session = authorized_session(info, context.session or http.new_session())
    client = gspread.Client(
        auth=None,
        session=session,
        http_client=functools.partial(RetryingHTTPClient, deadline=context.deadline),
    )
    try:
        spreadsheet = client.open_by_key(key)
        worksheet = _worksheet(spreadsheet, spec.worksheet, shown)
        shown = f"{shown} worksheet {worksheet.title!r}"
        return _rows(worksheet), shown
    except PermissionError:  # gspread's translation of a 403 on open
        raise SourceError(
            f"{shown}: the service account cannot open it; share the spreadsheet with {email} (Viewer)"
        ) from None
    except gspread.SpreadsheetNotFound:
        raise SourceError(f"{shown}: no such spreadsheet; check the URL or key in `spreadsheet:`") from None
    except APIError as error:
        raise SourceError(f"{shown}: {_api_problem(error, email)}") from None
    except RefreshError as error:
        raise SourceError(f"{shown}: {refused_key(error, email)}") from None
    except (GoogleAuthError, requests.RequestException) as error:
        # exception texts can carry request details; the kind is enough to act on
        raise SourceError(
            f"{shown}: cannot reach Google ({type(error).__name__}); check the network or proxy"
        ) from None
    finally:
        if context.session is None:  # an injected session belongs to the caller, adapters included
            session.close()


def spreadsheet_key(spreadsheet: str) -> str:
    text = spreadsheet.strip()
    if "/" not in text:
        return text
    try:
        return extract_id_from_url(text)
    except NoValidUrlKeyFound:
        raise SourceError(
            f"spreadsheet {text!r} is not a Google Sheets URL; copy the address of the sheet "
            "(https://docs.google.com/spreadsheets/d/KEY/edit) or give the bare KEY"
        ) from None


def _worksheet(spreadsheet: gspread.Spreadsheet, title: str | None, shown: str) -> gspread.Worksheet:
    worksheets = spreadsheet.worksheets()
    if title is None:
        return worksheets[0]
    loose = {worksheet.title.strip().casefold(): worksheet for worksheet in reversed(worksheets)}
    chosen = next((ws for ws in worksheets if ws.title == title), loose.get(title.strip().casefold()))
    if chosen is None:
        present = ", ".join(repr(worksheet.title) for worksheet in worksheets)
        raise SourceError(f"{shown} has no worksheet {title!r}; worksheets present: {present}")
    return chosen


def _rows(worksheet: gspread.Worksheet) -> list[list[str]]:
    """Every row of the grid in blocks. The API drops a block's trailing empty rows, so they are put back
    (as one shared empty row) only when a later block has values, keeping every row on its number."""
    rows: list[list[str]] = []
    gap = 0
    for top in range(1, worksheet.row_count + 1, ROWS_PER_REQUEST):
        bottom = min(top + ROWS_PER_REQUEST - 1, worksheet.row_count)
        block = worksheet.get(
            f"{top}:{bottom}", value_render_option=ValueRenderOption.formatted, pad_values=False
        )
        if block:
            rows += [[]] * gap + list(block)
            gap = 0
        gap += bottom - top + 1 - len(block)
    while rows and not rows[-1]:  # gspread gives [[]] for a block with no values at all
        rows.pop()
    return rows


def _api_problem(error: APIError, email: str) -> str:
    code, status = error.code, error.error.get("status", "")
    if code == 403:
        return f"permission denied; share the spreadsheet with {email} (Viewer)"
    if code == 404:
        return "not found; check the URL or key in `spreadsheet:`"
    if code == 429:
        return "Google kept answering 429 (read quota exceeded) after retries; sync less often or try later"
    if code >= 500 or code == -1:
        return f"Google Sheets is unavailable ({code} {status}) after retries; try again later"
    return f"Google Sheets refused the read ({code} {status}: {error.error.get('message', '')})"


def to_frame(rows: list[list[str]], shown: str) -> pd.DataFrame:
    """Header in row 1, one text column per header; blank or repeated headers are refused by cell."""
    if not rows:
        raise SourceError(f"{shown} is empty")
    width = max(map(len, rows))
    values = _grid(rows[1:], width)
    blank = pd.isna(values) | (values == "")
    values[blank] = None
    header = [str(cell).strip() for cell in rows[0]] + [""] * (width - len(rows[0]))
    used = ~blank.all(axis=0)
    keep = [position for position, name in enumerate(header) if name or used[position]]
    _check_header(header, keep, shown)
    filled = ~blank[:, keep].all(axis=1)  # a blank line in a sheet is spacing, not a person
    table = pd.DataFrame(
        values[filled][:, keep], columns=[header[position] for position in keep], dtype=object
    )
    table[ROW_COLUMN] = np.arange(2, len(rows) + 1, dtype="int64")[filled]
    return table


def _grid(body: list[list[str]], width: int) -> np.ndarray:
    """The rows as one rectangle, None where the API trimmed a row short; rows of one length are copied as
    a block (a roster has few distinct lengths), so no row is rebuilt one by one."""
    values = np.full((len(body), width), None, dtype=object)
    lengths = np.fromiter(map(len, body), dtype=np.int64, count=len(body))
    for length in np.unique(lengths[lengths > 0]):
        at = np.flatnonzero(lengths == length)
        block = np.empty((len(at), length), dtype=object)
        block[:] = [body[index] for index in at]
        values[at, :length] = block
    return values


def _check_header(header: list[str], keep: list[int], shown: str) -> None:
    blank = [rowcol_to_a1(1, position + 1) for position in keep if not header[position]]
    if blank:
        raise SourceError(
            f"{shown}: blank header at {', '.join(blank)} above values; type a column name in row 1"
        )
    positions: dict[str, list[int]] = {}
    for position in keep:  # the mapping matches headers case-insensitively, so "email" repeats "Email"
        positions.setdefault(header[position].casefold(), []).append(position)
    repeated = [
        f"{header[at[0]]!r} at {' and '.join(rowcol_to_a1(1, position + 1) for position in at)}"
        for at in positions.values()
        if len(at) > 1
    ]
    if repeated:
        raise SourceError(
            f"{shown}: repeated header {'; '.join(repeated)}; give each column its own name in row 1"
        )
