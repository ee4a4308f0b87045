"""What `dagster dev` and `dagster asset materialize` load: the definitions of the config in ROSTERSYNC_CONFIG."""

from rostersync_pipelines.config import load_config
from rostersync_pipelines.defs.build import build_definitions

defs = build_definitions(load_config())
