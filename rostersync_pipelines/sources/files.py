"""File sources: one CSV or XLSX roster, local or over HTTP(S), read as text only.

HR exports arrive from many tools with many habits (BOMs, Windows-1252, semicolons, every field quoted,
ids with leading zeros, Excel dates). Everything is kept as text so that nothing is silently reinterpreted
before the transform step decides what a value means; `__row__` lets later errors point at the row a person
sees when opening the file.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import io
import itertools
import json
import zipfile
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import openpyxl
import pandas as pd
import requests
from openpyxl.utils.exceptions import InvalidFileException

from rostersync_pipelines import http
from rostersync_pipelines.errors import SourceError
from rostersync_pipelines.sources import Change

ROW_COLUMN = "__row__"
TIMEOUT_SECONDS = 30
_DELIMITERS = ",;\t|"
_SNIFF_CHARS = 64 * 1024
_SNIFF_RECORDS = 50
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
    grid, rows = _excel_grid(data, sheet, shown) if kind == "xlsx" else _csv_grid(data, shown)
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
                client, "GET", url, auth=auth, timeout=TIMEOUT_SECONDS, stream=True, deadline=deadline
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
        validators.update(_validators(response))
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


def _encoding(data: bytes, shown: str) -> str:
    # A BOM is a promise; without one, valid UTF-8 is almost never accidental, and Windows-1252 is what
    # Excel "CSV" exports on Western Windows machines actually contain.
    if data.startswith(codecs.BOM_UTF8):
        encodings = ["utf-8-sig"]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings = ["utf-16"]
    else:
        encodings = ["utf-8", "cp1252"]
    for encoding in encodings:
        try:
            codecs.decode(data, encoding)  # validates only: the parser decodes again from the bytes
            return encoding
        except UnicodeDecodeError as error:
            failure = error
    raise SourceError(
        f"{shown} is not {' or '.join(encodings)} text (byte {failure.start} cannot be decoded)"
    )


def _sniff_delimiter(sample: str, truncated: bool) -> str:
    with contextlib.suppress(csv.Error):
        guess = csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
        records = list(itertools.islice(csv.reader(io.StringIO(sample), delimiter=guess), _SNIFF_RECORDS + 1))
        if truncated or len(records) > _SNIFF_RECORDS:
            records.pop()  # possibly cut by the sample boundary, so its width proves nothing
        widths = {len(record) for record in records if record}
        if len(widths) == 1 and min(widths) > 1:
            return guess
    # The Sniffer is fooled by ragged or one-line files; the header alone is the best remaining witness.
    header = sample.splitlines()[0]
    counts = {d: len(next(csv.reader([header], delimiter=d))) - 1 for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _csv_grid(data: bytes, shown: str) -> tuple[pd.DataFrame, np.ndarray]:
    encoding = _encoding(data, shown)
    if encoding == "utf-16":  # rare: decode once and hand the parser UTF-8 bytes
        data, encoding = data.decode(encoding).encode("utf-8"), "utf-8"
    elif encoding == "utf-8-sig":
        data, encoding = data[len(codecs.BOM_UTF8) :], "utf-8"
    # the parser reads the bytes itself: a decoded copy of a million-row file would cost gigabytes
    body = data.lstrip(b"\r\n")  # the C parser cannot start on blank lines when it keeps blank lines
    if not body[:4096].strip() and not body.strip():  # the full scan only for a file that starts blank
        raise SourceError(f"{shown} is empty")
    skipped = len(data[: len(data) - len(body)].decode(encoding).splitlines())
    sample = body[:_SNIFF_CHARS].decode(encoding, errors="ignore")
    try:
        grid = pd.read_csv(
            io.BytesIO(body),
            encoding=encoding,
            sep=_sniff_delimiter(sample, truncated=len(body) > _SNIFF_CHARS),
            header=None,
            dtype=object,
            keep_default_na=False,  # "NA", "null", "N/A" are values someone typed, not missing data
            na_values=[""],
            skip_blank_lines=False,  # blank lines still count as rows when a person opens the file
            quotechar='"',
            engine="c",
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        message = str(error).replace("Error tokenizing data. C error: ", "").strip()
        raise SourceError(f"cannot parse {shown}: {message}") from error
    return grid, np.arange(len(grid), dtype="int64") + skipped + 1


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


def _excel_grid(data: bytes, sheet: str | None, shown: str) -> tuple[pd.DataFrame, np.ndarray]:
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError) as error:
        raise SourceError(f"{shown} is not a readable XLSX workbook: {error}") from error
    try:
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
    finally:
        book.close()
    width = max(map(len, rows), default=0)
    grid = pd.DataFrame([row + [None] * (width - len(row)) for row in rows], dtype=object)
    return grid, np.arange(1, len(rows) + 1, dtype="int64")  # openpyxl yields blank rows too


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
    positions, names, used = [], [], {ROW_COLUMN}
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
    if positions != list(range(values.shape[1])):
        body = body[:, positions]
    table = pd.DataFrame(body, columns=names, dtype=object, copy=False)
    table[ROW_COLUMN] = rows[kept]
    return table


# --- the changes sensor (DESIGN §1.5): did the file change since the cursor, asked cheaply -------------


def changed(spec, context, cursor: str | None) -> Change:
    """A local file by its size and modification time; a URL by a conditional GET on its ETag /
    Last-Modified (304 = unchanged), so the roster itself is not downloaded to find out."""
    path = context.config.resolve_path(spec.path)
    shown = _display(path)
    if urlsplit(path).scheme.lower() in ("http", "https"):
        return _url_change(path, shown, spec, context, cursor)
    return _local_change(path, shown, cursor)


def _local_change(path: str, shown: str, cursor: str | None) -> Change:
    try:
        stat = Path(path).expanduser().stat()
    except OSError as error:
        reason = "file not found" if isinstance(error, FileNotFoundError) else error.strerror or str(error)
        raise SourceError(f"cannot read {shown}: {reason}") from error
    seen = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    now = json.dumps(seen, sort_keys=True)
    stamp = dt.datetime.fromtimestamp(stat.st_mtime_ns / 1e9, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if cursor is None:
        return Change(True, now, f"{shown}: first look (modified {stamp})")
    if _loads(cursor) == seen:
        return Change(False, now, f"{shown} unchanged since {stamp}")
    return Change(True, now, f"{shown} changed (modified {stamp}, {stat.st_size} bytes)")


def _url_change(url: str, shown: str, spec, context, cursor: str | None) -> Change:
    """Before the sensor's first look, the validators the last sync read kept are the baseline."""
    known = _loads(cursor) if cursor is not None else {}
    if not known and context.cursors is not None:
        known = {name: context.cursors.get(name) for name in ("etag", "last_modified")}
    known = {name: known.get(name) for name in _NAMES if known.get(name)}
    headers = {}
    if known.get("etag"):
        headers["If-None-Match"] = known["etag"]
    if known.get("last_modified"):
        headers["If-Modified-Since"] = known["last_modified"]
    auth = _basic_auth(spec.username, spec.password)
    client = context.session if context.session is not None else http.new_session()
    try:
        response = http.request(
            client,
            "GET",
            url,
            auth=auth,
            headers=headers,
            timeout=TIMEOUT_SECONDS,
            stream=True,
            deadline=context.deadline,
        )
        response.close()  # only the status and headers are wanted, never the body
    except requests.RequestException as error:
        raise SourceError(f"cannot check {shown}: {type(error).__name__}") from error
    finally:
        if context.session is None:
            client.close()
    if response.status_code == 304:
        seen = known | {name: value for name, value in _validators(response).items() if value}
        return Change(False, json.dumps(seen, sort_keys=True), f"{shown} unchanged (HTTP 304 Not Modified)")
    if not 200 <= response.status_code < 300:
        hint = " (check the username and password)" if response.status_code in (401, 403) else ""
        reason = f"{response.status_code} {response.reason or ''}".strip()
        raise SourceError(f"cannot check {shown}: HTTP {reason}{hint}")
    seen = {name: value for name, value in _validators(response).items() if value}
    now = json.dumps(seen, sort_keys=True)
    if not seen:
        # the look's time as cursor: each such look is a new change, so the run it asks for is never a repeat
        now = json.dumps({"looked_at": dt.datetime.now(dt.UTC).isoformat()})
        return Change(True, now, f"{shown}: cannot tell (the server sends no ETag or Last-Modified)")
    if not known:
        return Change(True, now, f"{shown}: first look")
    if all(known.get(name) == value for name, value in seen.items()):
        # a server that ignores conditional headers still answers with the same validators
        return Change(False, now, f"{shown} unchanged (same {' and '.join(_NAMES[name] for name in seen)})")
    return Change(True, now, f"{shown} changed (new {_NAMES['etag' if 'etag' in seen else 'last_modified']})")


_NAMES = {"etag": "ETag", "last_modified": "Last-Modified"}


def _validators(response: requests.Response) -> dict[str, str | None]:
    return {"etag": response.headers.get("ETag"), "last_modified": response.headers.get("Last-Modified")}


def _basic_auth(username: str | None, password: str | None) -> tuple[str, str] | None:
    return (username or "", password or "") if username is not None or password is not None else None


def _loads(cursor: str) -> dict:
    """A cursor written by an older version, or by hand, is no cursor: the next look counts as the first."""
    try:
        value = json.loads(cursor)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
