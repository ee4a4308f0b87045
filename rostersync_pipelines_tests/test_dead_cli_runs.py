"""A CLI run killed while it held its LMS's pool slot must not make every later apply to that LMS wait.

With the repo's dagster.yaml (a pool per LMS, limit 1), a `rostersync sync` killed mid-apply never frees its
slot nor reports its end. The next `rostersync sync` of this host finds the dead run (its process is gone),
marks it failed and frees its slot, then syncs; a run whose process still lives is left alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import dagster as dg

from rostersync_pipelines.config import load_config
from rostersync_pipelines.defs.cli_runs import HOST_TAG, PID_TAG, STARTED_BY, settle_dead_runs
from rostersync_pipelines.defs.pools import target_pool
from rostersync_pipelines.state.locks import HOST
from rostersync_pipelines_tests.cli_processes import BIN
from rostersync_pipelines_tests.conftest import REPO
from rostersync_pipelines_tests.test_daemon import SYNC, demo_workspace


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _run_holding_slot(instance: dg.DagsterInstance, pool: str, pid: int) -> str:
    run = instance.create_run_for_job(
        dg.GraphDefinition(name="stand_in").to_job(name=f"{SYNC}_sync_job"),
        status=dg.DagsterRunStatus.STARTED,
        tags={STARTED_BY: "cli", HOST_TAG: HOST, PID_TAG: str(pid), "rostersync/sync": SYNC},
    )
    instance.event_log_storage.initialize_concurrency_limit_to_default(pool)  # as a step's claim does
    claim = instance.event_log_storage.claim_concurrency_slot(pool, run.run_id, f"{SYNC}__applied_lms_state")
    assert claim.is_claimed
    return run.run_id


def test_a_killed_cli_run_gives_back_its_pool_slot(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    config = demo_workspace(tmp_path)
    pool = target_pool(load_config(str(config)).syncs[SYNC].target)
    env = {**os.environ, "DAGSTER_HOME": str(home), "ROSTERSYNC_CONFIG": str(config)}
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        with dg.DagsterInstance.get() as instance:
            dead = _run_holding_slot(instance, pool, _dead_pid())
            living = _run_holding_slot(instance, pool + "-other", os.getpid())
            assert instance.event_log_storage.get_concurrency_info(pool).active_slot_count == 1
    finally:
        del os.environ["DAGSTER_HOME"]

    # without the settle this sync waits on the slot for ever: the timeout turns that into a failure
    done = subprocess.run(
        [str(BIN / "rostersync"), "sync", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    os.environ["DAGSTER_HOME"] = str(home)
    try:
        with dg.DagsterInstance.get() as instance:
            assert instance.get_run_by_id(dead).status == dg.DagsterRunStatus.FAILURE
            assert instance.get_run_by_id(living).status == dg.DagsterRunStatus.STARTED
            assert instance.event_log_storage.get_concurrency_info(pool).active_slot_count == 0
            assert instance.event_log_storage.get_concurrency_info(pool + "-other").active_slot_count == 1
            last = instance.get_runs(limit=1)[0]
            assert last.status == dg.DagsterRunStatus.SUCCESS and last.tags[PID_TAG].isdigit()
            assert settle_dead_runs(instance) == []  # settled once; the living run is never touched
    finally:
        del os.environ["DAGSTER_HOME"]
