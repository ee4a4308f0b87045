"""The one resource every asset uses: the loaded config (whose file ROSTERSYNC_CONFIG names)."""

from __future__ import annotations

import dagster as dg

from rostersync_pipelines.collector import collect_in_bulk
from rostersync_pipelines.config import Config, config_path, load_config
from rostersync_pipelines.defs.io_manager import run_scoped_io_manager


class RosterSyncConfig(dg.ConfigurableResource):
    """Loaded at run time, so a config edited after `dagster dev` started is what the next run uses."""

    path: str | None = None

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        collect_in_bulk()  # a step holds a sync's tables and plan: millions of small objects (collector.py)

    def load(self) -> Config:
        return load_config(self.path)


def resources_definitions() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "rostersync": RosterSyncConfig(path=str(config_path())),
            "io_manager": run_scoped_io_manager,
        }
    )
