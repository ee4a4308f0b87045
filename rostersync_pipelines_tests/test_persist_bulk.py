"""What the plan step writes and passes on, written in bulk, reads back exactly as the per-row code did."""

from __future__ import annotations

import json
import random

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from rostersync_pipelines.csv_text import _cells, write_csv
from rostersync_pipelines.defs import columnar, previews
from rostersync_pipelines.json_cells import encode_all, encoder
from rostersync_pipelines.reconcile.rows import plan_frame
from rostersync_pipelines.state import StateStore

CHARS = ["a", ",", '"', "\n", "\r", "\t", "=", "'", " ", "é", "😀", "\\"]


def _word(rng: random.Random):
    return rng.choice([None, "", *("".join(rng.choices(CHARS, k=rng.randint(0, 6))) for _ in range(5))])


def _column(rng: random.Random, kind: str, n: int) -> pd.Series:
    if kind == "text":
        return pd.Series([_word(rng) for _ in range(n)], dtype=object)
    if kind == "pandas text":
        return pd.Series([_word(rng) for _ in range(n)], dtype=rng.choice(["str", "string"]))
    if kind == "int":
        return pd.Series([rng.randint(-5, 10**12) for _ in range(n)], dtype="int64")
    if kind == "bool":
        return pd.Series([rng.random() < 0.5 for _ in range(n)], dtype=bool)
    if kind == "ints and None":
        return pd.Series([rng.choice([None, 3, np.int64(-7), 10**15]) for _ in range(n)], dtype=object)
    if kind == "mixed":
        return pd.Series([rng.choice([None, 3, "a,b", 2.5, True]) for _ in range(n)], dtype=object)
    if kind == "float":
        return pd.Series([rng.choice([1.5, np.nan, 1e20]) for _ in range(n)])
    return pd.Series([rng.choice(["a", np.nan]) for _ in range(n)], dtype=object)  # NaN is not None


@pytest.mark.parametrize("seed", range(4))
def test_the_arrow_csv_is_byte_for_byte_what_pandas_writes(tmp_path, seed):
    rng = random.Random(seed)
    kinds = ["text", "text", "pandas text", "int", "bool", "ints and None", "mixed", "float", "nan"]
    fast = 0
    for trial in range(100):
        n = rng.randint(0, 8)
        frame = pd.DataFrame({f"c{i}": _column(rng, rng.choice(kinds), n) for i in range(rng.randint(1, 5))})
        if rng.random() < 0.3:
            frame.index = rng.sample(range(100), n)
        frame.to_csv(tmp_path / "pandas.csv", index_label="seq")
        write_csv(frame, tmp_path / "arrow.csv", "seq")
        assert (tmp_path / "arrow.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes(), trial
        fast += _cells(frame) is not None
    assert fast > 20, "most frames of text, ints and bools go through Arrow"


def test_json_cells_are_what_json_dumps_writes():
    import datetime as dt

    values = [
        {"b": 1, "a": [1.5, None, True, float("nan")], "c": {"z": 'é\n"', "y": dt.date(2024, 1, 2)}},
        "x",
        3,
        None,
        [1, (2, 3)],
        {"k": np.float64(1.25), "n": np.int64(3)},
        {},
    ]
    for sort_keys in (False, True):
        encode = encoder(sort_keys)
        for value in values:
            if value is not None:
                assert encode(value) == json.dumps(value, sort_keys=sort_keys, default=str)
    assert encode_all([None, {"a": 1}]) == [None, '{"a": 1}']


def test_frames_with_attrs_and_dict_columns_round_trip_through_parquet_and_a_plain_pickle(tmp_path):
    frame = pd.DataFrame(
        {
            "login": pd.Series(["ann", None, "bo"], index=[5, 5, 6], dtype=object),
            "values": [{"ids": (1, 2)}, None, {"a": "b"}],
            "kind": pd.Categorical(["p", "q", "p"]),
        },
        index=[5, 5, 6],  # duplicates too
    )
    frame.attrs["headers"] = ["Login", "Values"]
    files = columnar.dump({"frame": frame}, tmp_path / "v.pickle")
    back = columnar.load(tmp_path / "v.pickle")["frame"]
    pd.testing.assert_frame_equal(back, frame)
    assert back.attrs == {"headers": ["Login", "Values"]}
    assert back["values"].iloc[0] == {"ids": (1, 2)}
    assert [path.name for path in files] == [
        "v.pickle",
        "v.pickle.0.parquet",
        "v.pickle.0.parquet.objects.pickle",
    ]


def _plan(n: int, seed: int) -> pd.DataFrame:
    rng = random.Random(seed)
    keys = [f"u{i}" for i in range(n)]
    rows = {name: [] for name in ("entity", "action", "key", "lms_id", "values", "changes", "order")}
    rows |= {"held": [], "error": [], "situation": []}
    for i in range(n):
        rows["entity"].append(rng.choice(["users", "users", "departments"]))
        rows["action"].append(rng.choice(["create", "update", "none", "move", "deactivate"]))
        rows["key"].append(keys[i])
        rows["lms_id"].append(rng.choice([None, str(i)]))
        refs = {
            f: rng.choice(["new:" + rng.choice(keys), str(rng.randrange(n)), None]) for f in ("manager_id",)
        }
        rows["values"].append(rng.choice([refs | {"login": keys[i]}, None, {}]))
        rows["changes"].append(rng.choice([None, {"department_id": [str(rng.randrange(n)), "new:D"]}]))
        rows["order"].append(rng.randint(0, 3))
        rows["held"].append(rng.random() < 0.2)
        rows["error"].append(rng.choice([None] * 9 + ["blocked"]))
        rows["situation"].append(rng.choice(["unmatched", "linked", "linked", "conflict"]))
    return plan_frame(**rows)


def _follow_ups_row_by_row(plan: pd.DataFrame) -> int:
    """The count as it was first written, one row at a time."""
    users = plan[(plan["entity"] == "users") & (plan["action"] != "none") & ~plan["held"].astype(bool)]
    users = users[users["error"].isna() & (users["situation"] != "conflict")]
    created = users[users["action"] == "create"]
    wave = dict(zip(created["key"].astype(str), created["order"], strict=True))
    count = 0
    for action, order, values in zip(users["action"], users["order"], users["values"], strict=True):
        refs = [
            value[4:]
            for name, value in (values or {}).items()
            if name in ("manager_id", "functional_manager_id") and str(value).startswith("new:")
        ]
        if any(action != "create" or wave.get(ref, order) >= order for ref in refs):
            count += 1
    return count


@pytest.mark.parametrize("seed", range(5))
def test_only_the_rows_a_person_can_see_are_described_and_the_counts_do_not_change(seed):
    plan = _plan(400, seed)
    everything = previews.plan_view(plan, described=None)
    view = previews.plan_view(plan, described=5)
    assert view.drop(columns="changes").equals(everything.drop(columns="changes"))
    shown = view["changes"].notna()
    assert (view["changes"][shown] == everything["changes"][shown]).all()
    for kind in view["attention"].unique():  # the first rows of every kind, in words
        assert view.loc[view["attention"] == kind, "changes"].head(5).notna().all()
    pd.testing.assert_frame_equal(previews.plan_view(plan), everything)  # 400 rows: all described
    assert previews.manager_follow_ups(plan) == _follow_ups_row_by_row(plan)


def test_the_sqlite_state_database_writes_ahead(tmp_path):
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("pragma journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("pragma synchronous").scalar() == 1  # NORMAL
    finally:
        store.dispose()


def test_a_saved_plan_and_its_links_read_back_as_they_were_written(database_url):
    plan = _plan(300, 7)
    plan.at[3, "action"] = "create"
    plan.at[3, "values"] = {"b": 1, "a": [1, 2], "when": pd.Timestamp("2024-01-01")}
    store = StateStore(database_url)
    try:
        store.save_plan("p-1", "hr", plan, {"users": {"rows": 300}}, {"plan_id": "p-1"}, "p-1.csv")
        back = store.plan_changes("p-1")
        changing = plan[plan["action"] != "none"]
        assert back["seq"].tolist() == changing.index.tolist()
        assert back["held"].tolist() == changing["held"].tolist()
        assert back["key"].tolist() == changing["key"].tolist()
        assert back["order"].tolist() == changing["order"].tolist()
        expected = [
            None if v is None else json.loads(json.dumps(v, sort_keys=True, default=str))
            for v in changing["values"]
        ]
        assert back["values"].tolist() == expected
        with store.engine.connect() as connection:
            texts = (
                connection.execute(sa.text('select "values" from plan_changes where seq = 3')).scalars().all()
            )
        assert texts == [json.dumps(plan.loc[3, "values"], sort_keys=True, default=str)]
        wanted = pd.Series({"s1": "1", "s2": "2"}, dtype=object)
        assert store.write_links("hr", "users", wanted) == 2
        assert store.write_links("hr", "users", pd.Series({"s1": "1", "s2": "3"}, dtype=object)) == 1
        assert store.links("hr", "users").sort_index().to_dict() == {"s1": "1", "s2": "3"}
    finally:
        store.dispose()


def test_the_plan_files_and_the_state_database_hold_the_dicts_encoded_once_alike(database_url, tmp_path):
    """plan_texts encodes each dict once; the CSV, the Parquet file and plan_changes all hold that text,
    and a plan saved with it is saved exactly as one the state database encodes itself."""
    from rostersync_pipelines.plan_files import plan_texts, write_plan_csv

    plan = _plan(300, 11)
    plan.at[3, "action"] = "create"
    plan.at[3, "values"] = {"login": "z", "b": {"y": 1, "x": [2]}, "when": pd.Timestamp("2024-01-01")}
    texts = plan_texts(plan)
    wanted = json.dumps(plan.loc[3, "values"], sort_keys=True, default=str)
    assert texts["values"][3] == wanted
    partial = write_plan_csv(plan, tmp_path / "p.csv", texts)
    sheet = pd.read_csv(partial, dtype=str, keep_default_na=False).set_index("seq")
    assert sheet.loc["3", "values"] == wanted
    full = pd.read_parquet(tmp_path / "p.parquet.partial").set_index("seq")
    assert full.loc[3, "values"] == wanted
    store = StateStore(database_url)
    try:
        store.save_plan("given", "hr", plan, {}, {}, "given.csv", texts=texts)
        store.save_plan("own", "hr", plan, {}, {}, "own.csv")
        query = 'select seq, changes, "values" from plan_changes where plan_id = :plan order by seq'
        with store.engine.connect() as connection:
            given, own = (connection.execute(sa.text(query), {"plan": p}).all() for p in ("given", "own"))
        assert given == own and len(given) == int((plan["action"] != "none").sum())
        assert dict((seq, value) for seq, _, value in given)[3] == wanted
    finally:
        store.dispose()
