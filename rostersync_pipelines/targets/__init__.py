"""LMS targets behind one protocol (targets.base.Target)."""

from __future__ import annotations

from rostersync_pipelines.config import Config, EmbeddedTarget
from rostersync_pipelines.targets.base import Target
from rostersync_pipelines.targets.embedded import EmbeddedLms


def make_target(spec: EmbeddedTarget, config: Config) -> Target:
    return EmbeddedLms(config.resolve_url(spec.url))
