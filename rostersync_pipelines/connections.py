"""Opening the state database and a sync's LMS, with failures said in one line naming the config key.

A state or target URL that cannot work (a typo in the driver, a server that is down, a folder that cannot
be written) must stop `validate` and `sync` with the key to fix, never a 100-line SQLAlchemy traceback.
"""

from __future__ import annotations

import sqlalchemy as sa

from rostersync_pipelines.config import Config
from rostersync_pipelines.errors import ConfigError, RosterSyncError
from rostersync_pipelines.state import StateStore
from rostersync_pipelines.targets import make_target
from rostersync_pipelines.targets.base import Target


def shown_url(url: str) -> str:
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url.split("@")[-1]


def _failure(config: Config, key: str, url: str, error: Exception) -> ConfigError:
    reason = (
        str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        if str(error)
        else type(error).__name__
    )
    return ConfigError(f"{config.file}: {key}: cannot open {shown_url(url)}: {reason}")


def open_state(config: Config) -> StateStore:
    url = config.resolve_url(config.state.url)
    try:
        return StateStore(url)
    except (sa.exc.SQLAlchemyError, OSError, ValueError, ModuleNotFoundError) as error:
        raise _failure(config, "state.url", url, error) from None


def open_target(config: Config, sync_name: str) -> Target:
    spec = config.syncs[sync_name].target
    try:
        return make_target(spec, config)
    except RosterSyncError:
        raise
    except (sa.exc.SQLAlchemyError, OSError, ValueError, ModuleNotFoundError) as error:
        url = config.resolve_url(spec.url) if spec.kind == "embedded" else spec.url
        raise _failure(config, f"syncs.{sync_name}.target.url", url, error) from None


def check_connections(config: Config) -> list[str]:
    """Open the state database and each sync's LMS once; lines saying what was checked."""
    lines = []
    store = open_state(config)
    store.dispose()
    lines.append(f"state database {shown_url(config.resolve_url(config.state.url))}: OK")
    for sync_name, sync in config.syncs.items():
        target = open_target(config, sync_name)
        try:
            check = getattr(target, "check", None)
            if check is not None:
                check()
                lines.append(f"sync {sync_name}: {sync.target.kind} LMS answered")
            else:
                lines.append(f"sync {sync_name}: {sync.target.kind} LMS opened")
        finally:
            target.dispose()
    return lines
