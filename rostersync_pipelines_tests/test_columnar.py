"""Values between assets come back exactly as they were stored: Parquet only where that is exact."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from rostersync_pipelines.defs.columnar import dump, load


@dataclass
class Holder:
    frame: pd.DataFrame
    note: str


def test_frames_round_trip_exactly_and_text_columns_go_to_parquet(tmp_path):
    frame = pd.DataFrame(
        {
            "login": pd.Series(["ann", None, "=1+2"], dtype=object),
            "row": [2, 3, 4],
            "score": [1.5, np.nan, 2.0],
            "held": [True, False, True],
            "values": [{"first_name": "Ann"}, None, {"ids": (1, 2)}],  # dicts: stay in the pickle
            "mixed": pd.Series(["a", float("nan"), "b"], dtype=object),  # NaN is not None: stays
        }
    ).set_axis([10, 11, 12])
    files = dump({"holder": Holder(frame, "x"), "empty": frame.iloc[:0]}, tmp_path / "v.pickle")
    back = load(tmp_path / "v.pickle")
    pd.testing.assert_frame_equal(back["holder"].frame, frame)
    pd.testing.assert_frame_equal(back["empty"], frame.iloc[:0])
    for column in frame:
        assert [type(v) for v in back["holder"].frame[column]] == [type(v) for v in frame[column]], column
    assert back["holder"].note == "x"
    assert pq.read_table(files[1]).column_names == ["login", "row", "score", "held"]
