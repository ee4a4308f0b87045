"""Load the config, build one group per sync, merge: what `dagster dev` and the CLI load."""

from __future__ import annotations

import dagster as dg

from rostersync_pipelines.config import Config, load_config
from rostersync_pipelines.defs.resources import resources_definitions
from rostersync_pipelines.defs.syncs import sync_definitions


def build_definitions(config: Config) -> dg.Definitions:
    return dg.Definitions.merge(
        resources_definitions(),
        *(sync_definitions(name, sync) for name, sync in config.syncs.items()),
    )


defs = build_definitions(load_config())
