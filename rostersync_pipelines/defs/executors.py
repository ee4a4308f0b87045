"""Where a sync's steps run: in the run's own process (the default), or on an existing dask cluster.

`ROSTERSYNC_DASK_SCHEDULER=tcp://scheduler:8786` in the environment of the Dagster processes (the UI's
code server, the daemon, `dagster job execute`) sends every step of the sync jobs to that cluster through
dagster-dask (defs/dask_steps.py), without a word in the config file. The choice is per environment, like
the resources a deployment picks: a laptop runs in process, production on the cluster. dask is imported
only when a run starts on it: it costs seconds, which every CLI start would otherwise pay.

A run whose job is not reconstructable (the `rostersync` CLI executes its job object in its own process)
cannot be sent to workers, which import the code themselves: it runs in process, its pools held by Dagster.
"""

from __future__ import annotations

import functools
import os

import dagster as dg

SCHEDULER_ENV = "ROSTERSYNC_DASK_SCHEDULER"


def sync_executor() -> dg.ExecutorDefinition:
    """The executor of every sync job: the dask cluster ROSTERSYNC_DASK_SCHEDULER names, else in process."""
    return _executor_for(os.environ.get(SCHEDULER_ENV, "").strip())


@functools.cache  # one object for every sync: Definitions.merge refuses two different executors
def _executor_for(address: str) -> dg.ExecutorDefinition:
    if not address:
        return dg.in_process_executor
    return dask_cluster_executor.configured({"address": address}, name="dask")


@dg.executor(
    name="rostersync_dask",
    config_schema={"address": dg.Field(dg.StringSource, description="The dask scheduler, tcp://host:8786.")},
)
def dask_cluster_executor(init_context: dg.InitExecutorContext) -> dg.Executor:
    from dagster._core.definitions.reconstruct import ReconstructableJob

    if not isinstance(init_context.job, ReconstructableJob):
        from dagster._core.execution.retries import RetryMode
        from dagster._core.executor.in_process import InProcessExecutor

        return InProcessExecutor(retries=RetryMode.ENABLED)  # as dg.in_process_executor by default
    from rostersync_pipelines.defs.dask_steps import PooledDaskExecutor

    return PooledDaskExecutor("existing", {"address": init_context.executor_config["address"]})
