"""Per sync: learning_records -> learning_delivery, daily partitions by the record's last update (DESIGN §1.5).

A range of days is one run (single-run backfill policy): from the UI, `dagster asset materialize
--partition-range A...B`, `rostersync learning-sync --from A --to B`, or the hourly sensor
(`defs/learning_sensor.py`). The assets sit in their own group, `<sync>_learning`, so the roster's plan and
sync jobs (a whole, unpartitioned group) never include them.
"""

import datetime as dt
import warnings

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from rostersync_pipelines.config import Sync
from rostersync_pipelines.defs.jobs import sync_tags
from rostersync_pipelines.defs.previews import markdown_table
from rostersync_pipelines.defs.resources import RosterSyncConfig
from rostersync_pipelines.learning import records as reading
from rostersync_pipelines.learning.delivery import deliver
from rostersync_pipelines.learning.records import LearningRecords
from rostersync_pipelines.state import StateStore

FIRST_DAY = "2020-01-01"  # the first partition: learning history older than this is not delivered
PARTITIONS = dg.DailyPartitionsDefinition(start_date=FIRST_DAY, end_offset=1)  # today included
# a range of days as one run is the contract (DESIGN §1.5); Dagster still labels the option beta
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)
PREVIEW = ["external_id", "lms_user_id", "course_name", "status", "completion_percent", "updated_at"]


def learning_job_name(sync_name: str) -> str:
    return f"{sync_name}_learning_job"


def range_tags(first_day: str, last_day: str) -> dict[str, str]:
    """The tags that make one run cover a range of daily partitions."""
    return {ASSET_PARTITION_RANGE_START_TAG: first_day, ASSET_PARTITION_RANGE_END_TAG: last_day}


def _days(context) -> tuple[dt.date, dt.date]:
    window = context.partition_time_window
    return window.start.date(), (window.end - dt.timedelta(days=1)).date()


def learning_assets(sync_name: str, sync: Sync) -> list[dg.AssetsDefinition]:
    records_key = dg.AssetKey([sync_name, "learning_records"])
    group = f"{sync_name}_learning"

    @dg.asset(
        key=records_key,
        group_name=group,
        partitions_def=PARTITIONS,
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={"pandas"},
        description=f"Course progress, certificates and badges of sync {sync_name}'s LMS, by day of last update.",
    )
    def _records(context: dg.AssetExecutionContext, rostersync: RosterSyncConfig):
        first, last = _days(context)
        found = reading.read(rostersync.load(), sync_name, first, last)
        metadata = {f"rows {kind}": len(frame) for kind, frame in found.frames.items()}
        metadata["dagster/row_count"] = sum(metadata.values())
        metadata["days"] = f"{first} .. {last}"
        metadata["preview"] = markdown_table(found.frames["course_progress"], PREVIEW)
        return dg.MaterializeResult(value=found, metadata=metadata)

    @dg.asset(
        key=dg.AssetKey([sync_name, "learning_delivery"]),
        group_name=group,
        partitions_def=PARTITIONS,
        backfill_policy=dg.BackfillPolicy.single_run(),
        ins={"learning_records": dg.AssetIn(key=records_key)},
        kinds={"salesforce" if sync.learning.destination.kind == "salesforce" else "sqlalchemy"},
        description=f"What of sync {sync_name}'s learning records was written to the destination: only changes.",
    )
    def _delivery(
        context: dg.AssetExecutionContext, rostersync: RosterSyncConfig, learning_records: LearningRecords
    ):
        config, (first, last) = rostersync.load(), _days(context)
        found = (
            learning_records.within(first, last)
            if learning_records.covers(first, last)
            else _read(config, first, last)  # materialized alone: the stored records are another range's
        )
        store = StateStore(config.resolve_url(config.state.url))
        try:
            report = deliver(config, sync_name, found, store)
        finally:
            store.dispose()
        summary = report.summary()
        if report.stopped:
            context.log.warning(report.stopped)
        metadata = {
            name: summary[name] for name in ("read", "written", "unchanged", "failed", "unsent", "created")
        } | {
            "write calls": report.calls,
            "destination": report.destination,
            "by kind": dg.MetadataValue.json(summary["by_kind"]),
            "summary": dg.MetadataValue.json(summary),
            "stopped": report.stopped or "",
            "failures": markdown_table(_problems(report), ["kind", "external_id", "error"]),
        }
        return dg.MaterializeResult(value=summary, metadata=metadata)

    def _read(config, first, last):
        return reading.read(config, sync_name, first, last)

    return [_records, _delivery]


def _problems(report):
    import pandas as pd

    return pd.DataFrame(report.problems, columns=["kind", "external_id", "error"])


def learning_jobs(sync_name: str) -> list:
    return [
        dg.define_asset_job(
            learning_job_name(sync_name),
            selection=dg.AssetSelection.groups(f"{sync_name}_learning"),
            description="Read learning records for a range of days and write what changed to the destination.",
            tags=sync_tags(sync_name),
        )
    ]


def learning_definitions(sync_name: str, sync: Sync) -> dg.Definitions:
    from rostersync_pipelines.defs.learning_sensor import learning_sensor

    return dg.Definitions(
        assets=learning_assets(sync_name, sync),
        jobs=learning_jobs(sync_name),
        sensors=[learning_sensor(sync_name)],
    )
