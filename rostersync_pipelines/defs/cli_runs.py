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

MODULE = "rostersync_pipelines.definitions"
REPOSITORY = "__repository__"  # the name Dagster gives the repository of a Definitions object
STARTED_BY = "rostersync/started_by"


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
    run = instance.create_run_for_job(
        job,
        run_config=run_config,
        tags={**job.run_tags, STARTED_BY: "cli"},
        remote_job_origin=origin,
        job_code_origin=code.get_reconstructable_job(job_name).get_python_origin(),
    )
    return execute_run(InMemoryJob(job), run, instance, raise_on_error=False)
