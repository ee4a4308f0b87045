"""One sync's definitions: its asset group, jobs and schedules."""

from __future__ import annotations

import dagster as dg

from rostersync_pipelines.config import Sync
from rostersync_pipelines.defs.assets import sync_assets
from rostersync_pipelines.defs.jobs import sync_jobs
from rostersync_pipelines.defs.schedules import sync_schedules


def sync_definitions(sync_name: str, sync: Sync) -> dg.Definitions:
    return dg.Definitions(
        assets=sync_assets(sync_name, sync),
        jobs=sync_jobs(sync_name),
        schedules=sync_schedules(sync_name, sync),
    )
