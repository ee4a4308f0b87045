"""Build one group per sync and merge: kept apart from definitions.py so the CLI can build from any config."""

from __future__ import annotations

import dagster as dg

from rostersync_pipelines.config import Config
from rostersync_pipelines.defs.alerts import alerts_definitions
from rostersync_pipelines.defs.resources import resources_definitions
from rostersync_pipelines.defs.syncs import sync_definitions


def build_definitions(config: Config) -> dg.Definitions:
    return dg.Definitions.merge(
        resources_definitions(),
        alerts_definitions(),
        *(sync_definitions(name, sync) for name, sync in config.syncs.items()),
    )
