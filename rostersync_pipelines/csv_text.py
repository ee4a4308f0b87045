"""A frame written as `DataFrame.to_csv` writes it, byte for byte, by Arrow when its columns allow.

pandas formats and quotes every cell in Python: for a first sync's plan of two million rows that is most
of the time spent writing the plan's CSV. Arrow builds the same text column by column: None as an empty
cell, True/False, integers as digits, and a cell holding a comma, a double quote or a newline quoted with
its quotes doubled (Python's csv QUOTE_MINIMAL with pandas' "\\n" line end; a lone "\\r" is not quoted).
Columns of any other kind (floats, dates, a mix of text and numbers) go to pandas as before.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

NEEDS_QUOTES = r'[,"\n]'
_FAILED = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, UnicodeError, OverflowError)


def write_csv(frame: pd.DataFrame, path: Path, index_label: str) -> None:
    """`frame.to_csv(path, index_label=index_label)`."""
    header = [index_label, *(str(name) for name in frame.columns)]
    columns = None
    if not any(re.search(NEEDS_QUOTES, name) for name in header):
        columns = _cells(frame)
    if columns is None:
        frame.to_csv(path, index_label=index_label)
        return
    rows = pc.binary_join_element_wise(*columns, _text_scalar(","))
    lines = pc.binary_join_element_wise(rows, _text_scalar(""), _text_scalar("\n"))  # each row, then "\n"
    with path.open("wb") as handle:
        handle.write((",".join(header) + "\n").encode())
        handle.write(_data(lines))


def _text_scalar(text: str) -> pa.Scalar:
    return pa.scalar(text, pa.large_string())


def _data(text: pa.Array) -> memoryview:
    """The bytes of every value of a large_string array without nulls, one after the other."""
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int64)[text.offset : text.offset + len(text) + 1]
    data = text.buffers()[2]
    if data is None or not len(text):
        return memoryview(b"")
    return memoryview(data)[int(offsets[0]) : int(offsets[-1])]


def _cells(frame: pd.DataFrame) -> list[pa.Array] | None:
    """The index and every column as CSV cells, or None when one of them needs pandas."""
    try:
        if not pd.api.types.is_integer_dtype(frame.index.dtype):
            return None
        cells = [_quoted(pa.array(frame.index.to_numpy()).cast(pa.large_string()))]
        for _, column in frame.items():
            text = _text(column)
            if text is None:
                return None
            cells.append(_quoted(text))
        return cells
    except _FAILED:
        return None


def _text(column: pd.Series) -> pa.Array | None:
    values = column.to_numpy()
    if column.dtype == np.dtype("bool"):
        return pc.if_else(pa.array(values), "True", "False").cast(pa.large_string())
    if column.dtype == np.dtype("int64"):
        return pa.array(values).cast(pa.large_string())
    if isinstance(column.dtype, pd.StringDtype):  # pandas' own text: missing (NaN or NA) is empty
        return pc.fill_null(pa.array(column.array).cast(pa.large_string()), "")
    if column.dtype != object:
        return None
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind in ("string", "empty"):
        text = pa.array(values, type=pa.large_string(), from_pandas=False)  # refuses NaN and non-text
    elif kind == "integer":  # Python or NumPy ints, and None: no bools, no floats
        text = pa.array(values, type=pa.int64(), from_pandas=False).cast(pa.large_string())
    else:
        return None
    return pc.fill_null(text, "")


def _quoted(text: pa.Array) -> pa.Array:
    needs = pc.match_substring_regex(text, NEEDS_QUOTES)
    if not pc.any(needs).as_py():
        return text
    mark = _text_scalar('"')
    quoted = pc.binary_join_element_wise(mark, pc.replace_substring(text, '"', '""'), mark, _text_scalar(""))
    return pc.if_else(needs, quoted, text)
