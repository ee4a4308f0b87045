"""File sources: one CSV or XLSX roster, local or over HTTP(S), read as text only.

HR exports arrive from many tools with many habits (BOMs, Windows-1252, semicolons, every field quoted,
ids with leading zeros, Excel dates). Everything is kept as text so that nothing is silently reinterpreted
before the transform step decides what a value means; `__row__` lets later errors point at the row a person
sees when opening the file.
"""

from __future__ import annotations

import codecs
import contextlib
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pandas as pd
import requests

from rostersync_pipelines import http
from rostersync_pipelines.errors import SourceError
from rostersync_pipelines.sources.file_csv import csv_grid
from rostersync_pipelines.sources.file_xlsx import excel_grid

ROW_COLUMN = "__row__"
HEADERS_ATTR = "headers"  # column -> (header as written, position): which cell a column came from
TIMEOUT_SECONDS = 30
_KIND_BY_SUFFIX = {".xlsx": "xlsx", ".xlsm": "xlsx", ".csv": "csv", ".txt": "csv", ".tsv": "csv"}
_KIND_BY_CONTENT_TYPE = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.ms-excel.sheet.macroenabled.12": "xlsx",
    "text/csv": "csv",
    "application/csv": "csv",
    "text/tab-separated-values": "csv",
    "text/plain": "csv",
}


def read(spec, context) -> pd.DataFrame:
    """The source-kind entry point (sources/__init__.py): a `kind: file` source as its config says.

    A URL's ETag / Last-Modified are remembered after a good read, so the changes sensor can ask the server
    "changed since?" about exactly what the last sync read."""
    validators: dict[str, str | None] = {}
    frame = read_file(
        context.config.resolve_path(spec.path),
        sheet=spec.sheet,
        username=spec.username,
        password=spec.password,
        session=context.session,
        deadline=context.deadline,
        validators=validators,
    )
    if validators and context.cursors is not None:
        context.cursors.put(**validators)
    return frame


def read_file(
    path: str,
    *,
    sheet: str | None = None,
    username: str | None = None,
    password: str | None = None,
    session: requests.Session | None = None,
    base_dir: Path | None = None,
    deadline: float | None = None,
    validators: dict | None = None,
) -> pd.DataFrame:
    """Read one roster file into str/None columns plus the spreadsheet row number in `__row__`.

    `validators`, when given, receives a URL's `etag` and `last_modified` (None when the server sent none)."""
    shown = _display(path)
    if urlsplit(path).scheme.lower() in ("http", "https"):
        data, content_type = _download(path, shown, username, password, session, deadline, validators)
        suffix = PurePosixPath(urlsplit(path).path).suffix
    else:
        data, content_type, suffix = _read_local(path, shown, base_dir), None, Path(path).suffix
    if not data:
        raise SourceError(f"{shown} is empty")
    kind = _KIND_BY_SUFFIX.get(suffix.lower())
    if kind is None and content_type:
        kind = _KIND_BY_CONTENT_TYPE.get(content_type.split(";")[0].strip().lower())
    if kind is None and data.startswith(b"PK\x03\x04"):
        kind = "xlsx"  # an XLSX is a zip archive; nothing else we accept starts like one
    if kind is None:
        raise SourceError(f"{shown}: unknown file type {suffix or content_type or ''!r}; use CSV or XLSX")
    grid, rows = excel_grid(data, sheet, shown) if kind == "xlsx" else csv_grid(data, shown)
    return _to_table(grid, rows, shown)


def _display(path: str) -> str:
    """The path as it may appear in messages: no credentials in the userinfo, no tokens in the query."""
    parts = urlsplit(path)
    if parts.scheme.lower() not in ("http", "https"):
        return path
    return urlunsplit(
        (parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "..." if parts.query else "", "")
    )


def _download(
    url: str,
    shown: str,
    username: str | None,
    password: str | None,
    session: requests.Session | None,
    deadline: float | None,
    validators: dict | None = None,
) -> tuple[bytes, str | None]:
    auth = _basic_auth(username, password)
    with contextlib.nullcontext(session) if session is not None else http.new_session() as client:
        try:
            response = http.request(
                client,
                "GET",
                url,
                auth=auth,
                timeout=http.read_timeout(deadline, TIMEOUT_SECONDS),
                stream=True,
                deadline=deadline,
            )
            if not 200 <= response.status_code < 300:
                response.close()
                hint = " (check the username and password)" if response.status_code in (401, 403) else ""
                reason = f"{response.status_code} {response.reason or ''}".strip()
                raise SourceError(f"cannot download {shown}: HTTP {reason}{hint}")
            data = http.read_body(response, deadline)
        except http.DeadlineExceeded:
            raise SourceError(
                f"cannot download {shown}: not finished within the source's timeout; the server is too slow "
                "(raise `timeout:` on this source if the file is really that large)"
            ) from None
        except requests.RequestException as error:
            # The exception text can repeat the full URL (query tokens included), so only its kind is shown.
            raise SourceError(f"cannot download {shown}: {type(error).__name__}") from error
    content_type = response.headers.get("Content-Type")
    if _is_web_page(data, content_type):
        kind = "XLSX" if PurePosixPath(urlsplit(url).path).suffix.lower() in (".xlsx", ".xlsm") else "CSV"
        redirected = f" (redirected to {_display(response.url)})" if response.history else ""
        raise SourceError(
            f"cannot read {shown}: the server sent a web page, not a {kind} file (a login page?){redirected}; "
            "check the URL and the credentials"
        )
    if validators is not None:
        validators.update(response_validators(response))
    return data, content_type


def _is_web_page(data: bytes, content_type: str | None) -> bool:
    """A login or error page served with 200 must never be parsed as a one-column roster."""
    if content_type and content_type.split(";")[0].strip().lower() in ("text/html", "application/xhtml+xml"):
        return True
    head = data[:512].lstrip(codecs.BOM_UTF8).lstrip().lower()
    return (
        head.startswith((b"<!doctype html", b"<html", b"<head", b"<?xml")) and b"<html" in data[:4096].lower()
    )


def _read_local(path: str, shown: str, base_dir: Path | None) -> bytes:
    file = Path(path).expanduser()
    if not file.is_absolute():
        file = (base_dir or Path.cwd()) / file
    try:
        return file.read_bytes()
    except OSError as error:
        reason = "file not found" if isinstance(error, FileNotFoundError) else error.strerror or str(error)
        where = "" if str(file) == shown else f" (looked at {file})"
        raise SourceError(f"cannot read {shown}: {reason}{where}") from error


def _to_table(grid: pd.DataFrame, rows: np.ndarray, shown: str) -> pd.DataFrame:
    values = grid.to_numpy(dtype=object, copy=True)
    present = pd.notna(values)  # one vectorised pass serves header search, empty rows and None-filling
    values[~present] = None
    filled = present.any(axis=1)
    if not filled.any():
        raise SourceError(f"{shown} is empty")
    top = int(filled.argmax())
    keep = filled.copy()
    keep[: top + 1] = False
    # Slices instead of masks in the usual case (no blank rows) keep a million-row read free of copies.
    kept = slice(top + 1, None) if keep[top + 1 :].all() else keep
    body, body_present = values[kept], present[kept]
    positions, names, used, headers = [], [], {ROW_COLUMN}, {}
    for position, value in enumerate(values[top]):
        name = str(value).strip() if present[top, position] else ""
        if not name:
            if not body_present[:, position].any():
                continue  # trailing separators in the header (`role,,,`), not a real column
            name = f"column_{position + 1}"
        unique, counter = name, 0
        while unique in used:  # duplicated headers are kept, distinguishable the way pandas names them
            counter += 1
            unique = f"{name}.{counter}"
        used.add(unique)
        positions.append(position)
        names.append(unique)
        headers[unique] = (name, position)
    if positions != list(range(values.shape[1])):
        body = body[:, positions]
    table = pd.DataFrame(body, columns=names, dtype=object, copy=False)
    table[ROW_COLUMN] = rows[kept]
    table.attrs[HEADERS_ATTR] = headers  # a mapped header written twice is refused by find_column
    return table


def response_validators(response: requests.Response) -> dict[str, str | None]:
    return {"etag": response.headers.get("ETag"), "last_modified": response.headers.get("Last-Modified")}


def _basic_auth(username: str | None, password: str | None) -> tuple[str, str] | None:
    return (username or "", password or "") if username is not None or password is not None else None


def changed(spec, context, cursor: str | None):
    """The changes sensor's question for a file source (see file_changes.py)."""
    from rostersync_pipelines.sources import file_changes

    return file_changes.changed(spec, context, cursor)
