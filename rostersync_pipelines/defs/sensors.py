"""The changes sensor of a sync with `watch:` (DESIGN §1.5): a run only when a source really changed.

Each tick asks every source cheaply whether it changed since the sensor's cursor (a file's size and time,
a URL's ETag, a sheet's values hash, Salesforce MAX(SystemModstamp), the Graph delta link); the heavy read
happens in the run. The cursor is a JSON object of each source's own cursor, and a run's key is the hash of
the cursor that asked for it, so the same change never starts two runs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time

import dagster as dg

from rostersync_pipelines import sources
from rostersync_pipelines.config import Config, Sync
from rostersync_pipelines.defs.jobs import sync_job_name
from rostersync_pipelines.defs.resources import RosterSyncConfig
from rostersync_pipelines.errors import RosterSyncError, SourceError
from rostersync_pipelines.state import StateStore

# Dagster gives a sensor tick about a minute; a source that cannot answer in this long counts as unknown.
CHECK_SECONDS = 30


def sensor_name(sync_name: str) -> str:
    return f"{sync_name}_changes_sensor"


def sync_sensors(sync_name: str, sync: Sync) -> list[dg.SensorDefinition]:
    if sync.watch is None:
        return []

    @dg.sensor(
        name=sensor_name(sync_name),
        job_name=sync_job_name(sync_name),
        minimum_interval_seconds=sync.watch_seconds,
        # the config asks for this sensor: one that starts stopped would silently never sync
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Sync {sync_name} when one of its sources changed (checked every {sync.watch})",
    )
    def _changes(context: dg.SensorEvaluationContext, rostersync: RosterSyncConfig):
        try:
            config = rostersync.load()
        except RosterSyncError as error:
            return dg.SkipReason(f"the config cannot be loaded: {error}")
        if sync_name not in config.syncs:
            return dg.SkipReason(f"the config no longer has a sync named {sync_name}")
        previous = _loads(context.cursor)
        answers = source_changes(config, sync_name, previous)
        cursor = json.dumps({name: change.cursor for name, change in answers.items()}, sort_keys=True)
        why = "; ".join(f"{name}: {change.reason}" for name, change in answers.items())
        if any(change.changed for change in answers.values()):
            request = dg.RunRequest(
                run_key=hashlib.sha256(cursor.encode()).hexdigest()[:32],
                tags={"rostersync/changed": why[:4000]},
            )
            return dg.SensorResult(run_requests=[request], cursor=cursor)
        return dg.SensorResult(skip_reason=dg.SkipReason(f"no source changed ({why})"), cursor=cursor)

    return [_changes]


def source_changes(config: Config, sync_name: str, previous: dict) -> dict[str, sources.Change]:
    """Each source's answer. One that cannot be asked keeps its old cursor and does not start a run by
    itself: a run would only fail on the same source (the scheduled runs still show that failure)."""
    sync = config.syncs[sync_name]
    store = StateStore(config.resolve_url(config.state.url))
    answers = {}
    try:
        for name, spec in sync.sources.items():
            cursor = previous.get(name)
            check = getattr(sources.source_module(spec.kind), "changed", None)
            if check is None:
                # the tick's time as cursor, so each tick's run is a new run and not a repeat of the last
                looked = dt.datetime.now(dt.UTC).isoformat()
                answers[name] = sources.Change(
                    True, looked, f"cannot tell whether a {spec.kind} source changed"
                )
                continue
            context = sources.SourceContext(
                source_name=name,
                sync_name=sync_name,
                sync=sync,
                config=config,
                cursors=store.cursors(sync_name, name),
                deadline=time.monotonic() + min(spec.timeout, CHECK_SECONDS),
            )
            try:
                answers[name] = check(spec, context, cursor)
            except SourceError as error:
                answers[name] = sources.Change(False, cursor, f"cannot check: {error}")
    finally:
        store.dispose()
    return answers


def _loads(cursor: str | None) -> dict:
    try:
        value = json.loads(cursor) if cursor else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
