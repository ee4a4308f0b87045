"""What every asset of a sync declares for the UI: owners and tags from the config, kinds, code versions,
and a freshness policy derived from the schedule (as dagster-open-platform does for its own assets)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import PurePosixPath

import dagster as dg
from dagster._utils.schedules import cron_string_iterator

from rostersync_pipelines.config import Sync
from rostersync_pipelines.defs.jobs import SYNC_TAG

RUN_ALLOWANCE = dt.timedelta(hours=1)  # how long a scheduled sync may take before its assets count as late
FILE_KINDS = {".csv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".xls": "excel"}
SOURCE_KINDS = {"salesforce": "salesforce", "google_sheets": "googlesheets", "entra_id": "azure"}
TARGET_KINDS = {"talentlms": "talentlms", "ispring": "ispring", "scim": "scim"}


def common(sync_name: str, sync: Sync, part: object) -> dict:
    """Keyword arguments shared by every asset of the sync; `part` is the config the asset computes from."""
    return {
        "group_name": sync_name,
        "owners": list(sync.owners),
        "tags": tags(sync_name, sync),
        "code_version": code_version(part),
        "freshness_policy": freshness(sync),
    }


def tags(sync_name: str, sync: Sync) -> dict[str, str]:
    return {SYNC_TAG: sync_name, "rostersync/target": sync.target.kind, "rostersync/apply": sync.apply}


def source_kind(spec) -> str:
    if spec.kind == "file":
        path = spec.path.split("?", 1)[0]
        return FILE_KINDS.get(PurePosixPath(path).suffix.lower(), "csv")
    return SOURCE_KINDS[spec.kind]


def target_kind(spec) -> str:
    if spec.kind != "embedded":
        return TARGET_KINDS[spec.kind]
    return "postgresql" if spec.url.startswith("postgres") else "sqlite"


def code_version(part: object) -> str:
    """The package version and a hash of the config the asset computes from: either changing means a
    materialization may no longer be what the code and config would give now."""
    try:
        package = version("rostersync")
    except PackageNotFoundError:  # run from a source tree that was never installed
        package = "0"
    dumped = part.model_dump(mode="json") if hasattr(part, "model_dump") else part
    digest = hashlib.sha256(json.dumps(dumped, sort_keys=True, default=str).encode()).hexdigest()
    return f"{package}+{digest[:12]}"


def freshness(sync: Sync) -> dg.FreshnessPolicy | None:
    """Late when no run landed within the longest gap between two scheduled runs, plus an hour."""
    gap = longest_gap(sync.schedule)
    return None if gap is None else dg.FreshnessPolicy.time_window(fail_window=gap + RUN_ALLOWANCE)


def longest_gap(schedule: list[str], days: int = 370) -> dt.timedelta | None:
    if not schedule:
        return None
    start = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)  # a Monday: weekday-only schedules show their weekend
    end = start + dt.timedelta(days=days)
    ticks = set()
    for cron in schedule:
        for tick in cron_string_iterator(start.timestamp(), cron, "UTC"):
            if tick > end:
                break
            ticks.add(tick)
    ordered = sorted(ticks)
    if len(ordered) < 2:
        return dt.timedelta(days=days)
    return max(later - earlier for earlier, later in zip(ordered, ordered[1:], strict=False))
