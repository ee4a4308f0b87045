"""Per sync: a plan job (never writes to the LMS) and a sync job (plans and applies), each in one process.

A sync's steps are small and sequential: the multiprocess executor spent ~30 s starting a process per step
for a demo the CLI syncs in 4 s, so every job of a sync runs its steps in the run's own process, unless the
environment names a dask cluster (defs/executors.py).
"""

from __future__ import annotations

import dagster as dg

from rostersync_pipelines.defs.executors import sync_executor


def plan_job_name(sync_name: str) -> str:
    return f"{sync_name}_plan_job"


def sync_job_name(sync_name: str) -> str:
    return f"{sync_name}_sync_job"


def sync_jobs(sync_name: str) -> list[dg.UnresolvedAssetJobDefinition]:
    group = dg.AssetSelection.groups(sync_name)
    applied = dg.AssetSelection.assets(dg.AssetKey([sync_name, "applied_lms_state"]))
    return [
        dg.define_asset_job(
            plan_job_name(sync_name),
            selection=group - applied,
            description="Plan only: the LMS is not written.",
            tags=sync_tags(sync_name),
            executor_def=sync_executor(),
        ),
        dg.define_asset_job(
            sync_job_name(sync_name),
            selection=group,
            description="Plan, apply, read back and check.",
            tags=sync_tags(sync_name),
            executor_def=sync_executor(),
        ),
    ]


SYNC_TAG = "rostersync/sync"


def sync_tags(sync_name: str) -> dict[str, str]:
    """The run queue's concurrency key: dagster.yaml limits runs per value of this tag to one."""
    return {SYNC_TAG: sync_name}
