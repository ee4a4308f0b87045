"""CSV as HR tools export it: BOMs, Windows-1252, any of four delimiters, blank lines that still count.

Everything stays text; the parser reads the bytes itself, since a decoded copy of a million-row file would
cost gigabytes.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import itertools
import re

import numpy as np
import pandas as pd

from rostersync_pipelines.errors import SourceError

_DELIMITERS = ",;\t|"
_SNIFF_CHARS = 64 * 1024
_SNIFF_RECORDS = 50


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


def csv_grid(data: bytes, shown: str) -> tuple[pd.DataFrame, np.ndarray]:
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
        raise SourceError(f"cannot parse {shown}: {_parser_message(str(error), skipped)}") from error
    return grid, np.arange(len(grid), dtype="int64") + skipped + 1


def _parser_message(text: str, skipped: int) -> str:
    """pandas' parser errors in the README's numbering: the header is row 1, blank leading lines count."""
    text = text.replace("Error tokenizing data. C error: ", "").strip()
    quote = re.search(r"EOF inside string starting at row (\d+)", text)
    if quote:  # pandas counts rows from 0 here
        row = int(quote.group(1)) + 1 + skipped
        return f'row {row} opens a quoted value that is never closed (a missing " at the end of a value?)'
    return re.sub(r"in line (\d+)", lambda m: f"in row {int(m.group(1)) + skipped}", text)
