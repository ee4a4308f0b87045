"""What the plan asset hands the apply step: every row of the plan, without its dicts, and the manager
follow-ups counted from them; a value stored the older way (the dicts, no count) still applies the same."""

from __future__ import annotations

import json

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq
import yaml

from rostersync_pipelines.config import CONFIG_ENV, load_config
from rostersync_pipelines.defs import columnar
from rostersync_pipelines.defs.build import build_definitions
from rostersync_pipelines.defs.io_manager import storage_root
from rostersync_pipelines.state import StateStore
from rostersync_pipelines_tests.test_end_to_end import demo_config, materialization_metadata

PLAN = dg.AssetKey(["employees", "sync_plan"])
APPLIED = dg.AssetKey(["employees", "applied_lms_state"])


def _setup(tmp_path, monkeypatch):
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    raw = demo_config(
        f"sqlite:///{tmp_path / 'state.db'}", f"sqlite:///{tmp_path / 'lms.db'}", str(tmp_path / "plans")
    )
    config_file = tmp_path / "rostersync.yaml"
    config_file.write_text(yaml.safe_dump(raw), encoding="utf-8")
    monkeypatch.setenv(CONFIG_ENV, str(config_file))
    return build_definitions(load_config(config_file)), dg.DagsterInstance.local_temp(str(tmp_path / "home"))


def _stored(run_id: str):
    return storage_root() / run_id / "employees" / "sync_plan.pickle"


def test_the_plan_value_carries_the_follow_ups_not_the_dicts(tmp_path, monkeypatch):
    defs, instance = _setup(tmp_path, monkeypatch)
    with instance:
        result = defs.resolve_job_def("employees_sync_job").execute_in_process(instance=instance)
        assert result.success
        planned, applied = (
            materialization_metadata(result, name) for name in ("sync_plan", "applied_lms_state")
        )
        value = columnar.load(_stored(result.run_id))
        assert not {"changes", "values"} & set(value.plan.columns)
        assert len(value.plan) == planned["dagster/row_count"]
        assert value.follow_ups == planned["manager follow-ups"] > 0
        assert applied["of which manager follow-ups"] == value.follow_ups
        assert applied["applied by action"]["users update"] == value.follow_ups  # one update per follow-up


def test_a_plan_value_stored_with_its_dicts_still_applies(tmp_path, monkeypatch):
    defs, instance = _setup(tmp_path, monkeypatch)
    with instance:
        planned = defs.resolve_job_def("employees_plan_job").execute_in_process(instance=instance)
        assert planned.success
        path = _stored(planned.run_id)
        value = columnar.load(path)
        store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
        store.set_plan_status(value.plan_id, "planned")  # as a sync run's plan whose apply step runs alone
        store.dispose()
        # as a value stored before the plan value left its dicts out: the full plan, no count
        full = pq.read_table(value.plan_file.removesuffix(".csv") + ".parquet")
        seqs = full.column("seq").to_pylist()
        for column in ("changes", "values"):
            texts = full.column(column).to_pylist()
            value.plan[column] = pd.Series(
                [None if text is None else json.loads(text) for text in texts], index=seqs, dtype=object
            ).reindex(value.plan.index)
        value.follow_ups = None
        columnar.dump(value, path)

        result = defs.resolve_job_def("employees_sync_job").execute_in_process(
            instance=instance, asset_selection=[APPLIED]
        )
        assert result.success
        applied = materialization_metadata(result, "applied_lms_state")
        follow_ups = materialization_metadata(planned, "sync_plan")["manager follow-ups"]
        assert applied["of which manager follow-ups"] == follow_ups > 0
        assert applied["failed"] == 0 and applied["applied by action"]["users update"] == follow_ups
