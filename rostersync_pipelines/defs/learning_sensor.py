"""`<sync>_learning_sensor`: every hour, a run for the days whose learning records changed, else a skip.

The cursor is the newest `updated_at` seen; a tick asks the LMS for the days holding records updated
after it (two small queries per kind) and adds the days whose records failed or were never sent (the
state database), so a limit-stopped or refused delivery is tried again next hour. Adjacent days become
one run over the range; separate stretches one run each.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from rostersync_pipelines.defs.jobs import sync_tags
from rostersync_pipelines.defs.learning import FIRST_DAY, learning_job_name, range_tags
from rostersync_pipelines.defs.resources import RosterSyncConfig
from rostersync_pipelines.errors import RosterSyncError
from rostersync_pipelines.learning.destinations import destination_key
from rostersync_pipelines.learning.records import changed_days
from rostersync_pipelines.state import StateStore
from rostersync_pipelines.state.deliveries import Deliveries


def learning_sensor(sync_name: str) -> dg.SensorDefinition:
    @dg.sensor(
        name=f"{sync_name}_learning_sensor",
        job_name=learning_job_name(sync_name),
        minimum_interval_seconds=3600,
        default_status=dg.DefaultSensorStatus.RUNNING,  # declared by the config: it must run
        description=f"Deliver the days whose learning records changed in sync {sync_name}'s LMS (hourly).",
    )
    def _learning(context: dg.SensorEvaluationContext, rostersync: RosterSyncConfig):
        try:
            config = rostersync.load()
            days, newest = changed_days(config, sync_name, context.cursor or None)
            spec = config.syncs[sync_name].learning.destination
            store = StateStore(config.resolve_url(config.state.url))
            try:
                pending = Deliveries(store.engine).pending_days(sync_name, destination_key(spec))
            finally:
                store.dispose()
        except (RosterSyncError, KeyError) as error:
            return dg.SkipReason(f"cannot look for learning records: {error}")
        wanted = sorted({day for day in [*days, *pending] if FIRST_DAY <= day <= _today()})
        if not wanted:
            since = f"since {context.cursor}" if context.cursor else "yet"
            return dg.SensorResult(
                skip_reason=dg.SkipReason(f"no learning record changed {since}"), cursor=newest
            )
        hour = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H") if pending else ""
        requests = [
            dg.RunRequest(
                run_key=f"{first}..{last}@{newest}{'+retry ' + hour if hour else ''}",
                tags={**range_tags(first, last), **sync_tags(sync_name)},
            )
            for first, last in stretches(wanted)
        ]
        return dg.SensorResult(run_requests=requests, cursor=newest)

    return _learning


def stretches(days: list[str]) -> list[tuple[str, str]]:
    """Sorted ISO days -> (first, last) of each run of consecutive days."""
    out: list[list[str]] = []
    for day in days:
        if out and dt.date.fromisoformat(day) - dt.date.fromisoformat(out[-1][1]) == dt.timedelta(days=1):
            out[-1][1] = day
        else:
            out.append([day, day])
    return [(first, last) for first, last in out]


def _today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()
