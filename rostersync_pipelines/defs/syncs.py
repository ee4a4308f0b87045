"""One sync's definitions: its asset group, jobs and schedules."""

from __future__ import annotations

import dagster as dg

from rostersync_pipelines.config import Sync
from rostersync_pipelines.defs.approve import approve_job
from rostersync_pipelines.defs.assets import sync_assets
from rostersync_pipelines.defs.executors import sync_executor
from rostersync_pipelines.defs.jobs import sync_jobs, sync_tags
from rostersync_pipelines.defs.learning import learning_definitions
from rostersync_pipelines.defs.schedules import sync_schedules
from rostersync_pipelines.defs.sensors import sync_sensors


def sync_definitions(sync_name: str, sync: Sync) -> dg.Definitions:
    roster = dg.Definitions(
        assets=sync_assets(sync_name, sync),
        jobs=[*sync_jobs(sync_name), approve_job(sync_name, sync_tags(sync_name))],
        schedules=sync_schedules(sync_name, sync),
        sensors=sync_sensors(sync_name, sync),
        executor=sync_executor(),  # "Materialize all" in the UI runs where the sync jobs run
    )
    return dg.Definitions.merge(roster, learning_definitions(sync_name, sync))
