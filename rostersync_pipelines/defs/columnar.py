"""Values between assets as Parquet where that is exact, pickle for the rest.

A million-row frame pickled is a million Python strings written and rebuilt one by one; as Parquet the
text columns are written and read at disk speed. Only what round-trips exactly goes to Parquet: columns
of str/None (read back as object columns of str/None, never NaN), int64, float64 and bool. Everything else
(a column of dicts such as the plan's `changes`/`values`, other dtypes, the index, attrs, whatever holds
the frames: a SourceTable, a PlannedSync, a dict) stays in the pickle, which refers to each frame's
Parquet file by name, so one value is one pickle plus one Parquet file per frame it holds. A frame's
columns that stay pickled go to a pickle of their own beside its Parquet file, written without the hook
that finds frames: that hook is Python, and the main pickle would call it for every dict and every string
in them (four million calls for a first sync of 100,000 people).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

TAG = "rostersync-parquet-2"  # (tag, Parquet file, column order, index, dtypes, objects file, attrs)
TAG_1 = "rostersync-parquet"  # (tag, Parquet file, column order, index, dtypes, kept Series): older runs
OBJECTS = ".objects.pickle"  # beside `<name>.<n>.parquet`: the frame's columns that stay pickled
NUMERIC = {np.dtype("int64"), np.dtype("float64"), np.dtype("bool")}


def _arrow(column: pd.Series) -> pa.Array | None:
    """The column as Arrow when it reads back identical, else None (it stays in the pickle)."""
    if column.dtype in NUMERIC:
        return pa.array(column.to_numpy(), from_pandas=False)
    if column.dtype == object:
        try:  # from_pandas=False: NaN is not None, and anything but str or None refuses
            return pa.array(column.to_numpy(), type=pa.large_string(), from_pandas=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return None
    return None


class _Pickler(pickle.Pickler):
    def __init__(self, handle, folder: Path, stem: str):
        super().__init__(handle, protocol=pickle.HIGHEST_PROTOCOL)
        self.folder, self.stem, self.count = folder, stem, 0
        self.objects: list[str] = []

    def persistent_id(self, obj):
        if type(obj) is not pd.DataFrame or not obj.columns.is_unique:
            return None
        if not all(isinstance(name, str) for name in obj.columns):
            return None
        arrays, kept = {}, {}
        for name in obj.columns:
            array = _arrow(obj[name])
            if array is None:
                kept[name] = (obj[name].array, obj[name].dtype)  # the frame's index is in the pid
            else:
                arrays[name] = array
        if not arrays:
            return None
        file = f"{self.stem}.{self.count}.parquet"
        self.count += 1
        pq.write_table(pa.table(arrays), self.folder / file)
        dtypes = {name: obj[name].dtype for name in arrays}
        objects = None
        if kept:
            objects = f"{file}{OBJECTS}"
            with (self.folder / objects).open("wb") as handle:
                pickle.dump(kept, handle, protocol=pickle.HIGHEST_PROTOCOL)  # C all the way down
            self.objects.append(objects)
        return (TAG, file, list(obj.columns), obj.index, dtypes, objects, dict(obj.attrs))


class _Unpickler(pickle.Unpickler):
    def __init__(self, handle, folder: Path):
        super().__init__(handle)
        self.folder = folder

    def persistent_load(self, pid):
        if pid[0] == TAG_1:  # a run stored before the objects files: its columns are in the pickle
            _, file, order, index, dtypes, kept = pid
            objects, attrs = None, {}
        elif pid[0] == TAG:
            _, file, order, index, dtypes, objects, attrs = pid
            kept = {}
        else:
            raise pickle.UnpicklingError(f"unknown stored reference {pid[0]!r}")
        if objects is not None:
            with (self.folder / objects).open("rb") as handle:
                stored = pickle.load(handle)
            kept = {
                name: pd.Series(array, index=index, dtype=dtype, copy=False)
                for name, (array, dtype) in stored.items()
            }
        table = pq.read_table(self.folder / file)
        columns = {}
        for name, dtype in dtypes.items():
            values = table.column(name).to_numpy(zero_copy_only=False)
            columns[name] = pd.Series(values.astype(dtype, copy=False), index=index, dtype=dtype, copy=False)
        columns |= kept
        frame = pd.DataFrame({name: columns[name] for name in order}, index=index, copy=False)
        frame.attrs.update(attrs)
        return frame


def dump(obj, path: Path, name: str | None = None) -> list[Path]:
    """Write obj at `path` (a pickle) plus one Parquet file per frame beside it, `<name>.<n>.parquet`
    (name: the pickle's final name when `path` is a partial renamed later); returns every file."""
    name = name or path.name
    with path.open("wb") as handle:
        pickler = _Pickler(handle, path.parent, name)
        pickler.dump(obj)
    parquet = [path.parent / f"{name}.{n}.parquet" for n in range(pickler.count)]
    return [path, *parquet, *(path.parent / objects for objects in pickler.objects)]


def load(path: Path):
    with path.open("rb") as handle:
        return _Unpickler(handle, path.parent).load()
