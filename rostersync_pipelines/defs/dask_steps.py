"""dagster-dask's executor on an existing cluster, with the two things it leaves out for RosterSync.

Its workers run each step with `execute_plan`, outside the run's concurrency context, so a step's pool is
never claimed there (Dagster 1.13 / dagster-dask 0.29): here the worker holds the slot around the step
(defs/pools.py), which keeps an LMS's rate limit across workers and machines. And each step records, as
an engine event, which worker and process ran it, so a person (and the tests) can see where it went.
Its task key `job.step` is also the same for two runs of one job, which dask would take for one task:
here the key carries the run id.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import dask.distributed
from dagster import _check as check
from dagster._core.errors import raise_execution_interrupts
from dagster._core.events import EngineEventData
from dagster._core.execution.plan.active import _pool_key_for_step
from dagster._core.instance import DagsterInstance
from dagster._core.storage.tags import PRIORITY_TAG
from dagster._utils import iterate_with_context
from dagster_dask.executor import DaskExecutor, get_dask_resource_requirements, query_on_dask_worker

from rostersync_pipelines.defs import pools

WORKER_PID = "rostersync/worker_pid"  # engine event metadata: the process that ran the step
WORKER_ADDRESS = "rostersync/worker"


class PooledDaskExecutor(DaskExecutor):
    def execute(self, plan_context, execution_plan):
        check.invariant(plan_context.instance.is_persistent, "dask needs a persistent DagsterInstance")
        futures = {}
        with dask.distributed.Client(self.cluster_configuration["address"]) as client:
            for level in execution_plan.get_steps_to_execute_by_level():
                for step in level:
                    after = [futures[key] for i in step.step_inputs for key in i.dependency_keys]
                    order = StepOrder(
                        plan_context.reconstructable_job,
                        plan_context.dagster_run,
                        plan_context.run_config,
                        step.key,
                        _pool_key_for_step(step),
                        int(step.tags.get(PRIORITY_TAG, "0")),
                        plan_context.instance.get_ref(),
                        execution_plan.known_state,
                    )
                    futures[step.key] = client.submit(
                        run_step_on_worker,
                        after,
                        order,
                        key=f"{plan_context.run_id}.{step.key}",
                        resources=get_dask_resource_requirements(step.tags),
                    )
            done = dask.distributed.as_completed(list(futures.values()), with_results=True)
            for _future, events in iterate_with_context(raise_execution_interrupts, done):
                yield from events


@dataclass(frozen=True)
class StepOrder:
    """What a worker needs to run one step, as one object dask does not look into: dask 2026 walks the
    tuples among a task's arguments for futures, and a DagsterRun (a named tuple holding records that
    refuse iteration) fails that walk, as it does for dagster-dask's own executor on any job with a pool."""

    recon_job: object
    run: object
    run_config: dict
    step_key: str
    pool: str | None
    priority: int
    instance_ref: object
    known_state: object


def run_step_on_worker(dependencies, order: StepOrder):
    """On a dask worker: say where the step runs, wait for its pool's slot, run it, release the slot.
    `dependencies` (the results of the steps before) makes dask run it after them."""
    run, step_key, pool = order.run, order.step_key, order.pool
    with DagsterInstance.from_ref(order.instance_ref) as instance:
        where = {WORKER_PID: os.getpid(), WORKER_ADDRESS: _worker_address()}
        instance.report_engine_event(
            f"Step {step_key} on dask worker {where[WORKER_ADDRESS]} (pid {where[WORKER_PID]})",
            run,
            EngineEventData(metadata=where),
            step_key=step_key,
        )
        step = (
            dependencies,
            order.recon_job,
            run,
            order.run_config,
            [step_key],
            order.instance_ref,
            order.known_state,
        )
        if pool is None:
            return query_on_dask_worker(*step)

        def waiting():
            instance.report_engine_event(
                f"Step {step_key} waits for a slot of pool {pool}", run, step_key=step_key
            )

        with pools.slot(instance, run, step_key, pool, order.priority, on_wait=waiting) as held:
            return query_on_dask_worker(*step) if held else []


def _worker_address() -> str:
    try:
        return dask.distributed.get_worker().address
    except ValueError:  # not inside a worker
        return "none"
