"""The schedule of each sync, as its config states (at most three runs a day)."""

from __future__ import annotations

import dagster as dg

from rostersync_pipelines.config import Sync
from rostersync_pipelines.defs.jobs import sync_job_name


def sync_schedules(sync_name: str, sync: Sync) -> list[dg.ScheduleDefinition]:
    if not sync.schedule:
        return []
    return [
        dg.ScheduleDefinition(
            name=f"{sync_name}_schedule",
            cron_schedule=sync.schedule if len(sync.schedule) > 1 else sync.schedule[0],
            job_name=sync_job_name(sync_name),
            # the config asks for these runs: a schedule that starts stopped would silently not sync
            default_status=dg.DefaultScheduleStatus.RUNNING,
            description=f"Sync {sync_name} at {', '.join(sync.schedule)}",
        )
    ]
