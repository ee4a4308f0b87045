"""ROSTERSYNC_DASK_SCHEDULER sends the sync jobs to dask; unset, every job runs in process as before.

The cluster itself is exercised in test_dask_cluster.py; here only the choice, and that the `rostersync` CLI,
which executes its job object in its own process, still syncs with a cluster named (nothing listens there).
"""

from __future__ import annotations

import dagster as dg

from rostersync_pipelines.config import load_config
from rostersync_pipelines.defs.build import build_definitions
from rostersync_pipelines.defs.executors import SCHEDULER_ENV, sync_executor
from rostersync_pipelines_tests.conftest import REPO
from rostersync_pipelines_tests.test_two_syncs import EMPLOYEES, PARTNERS, TwoSyncs

NOBODY = "tcp://127.0.0.1:9"  # the discard port: a step sent there would fail its run


def test_unset_every_job_runs_in_process(monkeypatch):
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    assert sync_executor() is dg.in_process_executor


def test_a_named_scheduler_sends_every_sync_job_to_dask(monkeypatch):
    monkeypatch.setenv(SCHEDULER_ENV, NOBODY)
    defs = build_definitions(load_config(REPO / "rostersync.yaml"))
    executor = sync_executor()
    assert executor.name == "dask" and executor is not dg.in_process_executor
    for job in ("employees_plan_job", "employees_sync_job", "employees_learning_job"):
        assert defs.resolve_job_def(job).executor_def is executor, job
    assert defs.resolve_implicit_global_asset_job_def().executor_def is executor


def test_the_cli_still_syncs_in_its_own_process(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(SCHEDULER_ENV, NOBODY)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    two = TwoSyncs(tmp_path)
    two.write("employees", EMPLOYEES)
    two.write("partners", PARTNERS)
    first = two.cli(capsys, "sync")
    assert first["employees"]["users"] == {"create": 2}
    assert two.lms() == {"ann": "active", "bob": "active", "pat": "active", "quinn": "active"}
