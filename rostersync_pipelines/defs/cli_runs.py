"""Runs the CLI starts, created as the UI would create them: under their job, in the project's code location.

`execute_in_process` makes a run with no origin: the UI lists it among all runs but never under its job
(the job's runs page filters on the `.dagster/repository` tag, which only a run with a job origin gets).
Here the run is created through the instance with the origin of the job as `make ui` / `dagster dev` load it
(pyproject's code location `rostersync`), then executed in this process, so its steps, logs and events are
the same as before and the UI shows it under the job, with the plan id, held and conflicts as tags.
"""

from __future__ import annotations

import os
import sys

import dagster as dg
from dagster._core.definitions.job_base import InMemoryJob
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.execution.api import execute_run
from dagster._core.remote_origin import (
    ManagedGrpcPythonEnvCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

from rostersync_pipelines.defs.checks import LOCATION
from rostersync_pipelines.state.locks import HOST, process_alive

MODULE = "rostersync_pipelines.definitions"
REPOSITORY = "__repository__"  # the name Dagster gives the repository of a Definitions object
STARTED_BY = "rostersync/started_by"
HOST_TAG = "rostersync/host"
PID_TAG = "rostersync/pid"


def run_job(defs: dg.Definitions, job_name: str, instance: dg.DagsterInstance, run_config: dict):
    """Create the run with the job's origin and tags, execute it here; returns the execution result."""
    job = defs.resolve_job_def(job_name)
    working_directory = os.getcwd()
    target = LoadableTargetOrigin(
        executable_path=sys.executable, module_name=MODULE, working_directory=working_directory
    )
    location = ManagedGrpcPythonEnvCodeLocationOrigin(target, LOCATION)
    origin = RemoteJobOrigin(RemoteRepositoryOrigin(location, REPOSITORY), job_name)
    code = ReconstructableRepository.for_module(MODULE, "defs", working_directory)
    settle_dead_runs(instance)
    run = instance.create_run_for_job(
        job,
        run_config=run_config,
        tags={**job.run_tags, STARTED_BY: "cli", HOST_TAG: HOST, PID_TAG: str(os.getpid())},
        remote_job_origin=origin,
        job_code_origin=code.get_reconstructable_job(job_name).get_python_origin(),
    )
    return execute_run(InMemoryJob(job), run, instance, raise_on_error=False)


def settle_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """A CLI run killed mid-step (`kill -9`, a closed laptop) never reports its end: it stays STARTED in the
    UI, and the pool slot of the LMS it was applying to stays taken, so every later apply to that LMS, of
    any sync, would wait for it forever. A CLI run of this host whose process is gone is marked failed and
    its slots freed (the state database's lock and journal are settled by the run that follows)."""
    runs = instance.get_runs(
        filters=dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING],
            tags={STARTED_BY: "cli", HOST_TAG: HOST},
        )
    )
    settled = []
    for run in runs:
        pid = run.tags.get(PID_TAG, "")
        if not pid.isdigit() or process_alive(int(pid)):
            continue
        instance.report_run_failed(run, message=f"the rostersync process {pid} on {HOST} ended mid-run")
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        settled.append(run.run_id)
    return settled
