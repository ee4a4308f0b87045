"""LMS targets behind one protocol (targets.base.Target), one module per LMS, imported only when named."""

from __future__ import annotations

import importlib

from rostersync_pipelines.config import Config
from rostersync_pipelines.targets.base import Target

MODULES = {"embedded": "embedded", "talentlms": "talentlms", "ispring": "ispring", "scim": "scim"}


def make_target(spec, config: Config) -> Target:
    """`spec` is the sync's target config; each module's `make(spec, config)` builds its client."""
    module = importlib.import_module(f"rostersync_pipelines.targets.{MODULES[spec.kind]}")
    return module.make(spec, config)
