"""DAGSTER_HOME prepared once, under a file lock, before any run touches it.

Dagster creates and stamps its storage tables the first time an instance opens a fresh home; two first runs
at once (two cron jobs, a CLI beside the UI) race on that and can leave the home broken for good ("table runs
already exists", then alembic's "more than one head"). The first process to take the lock creates the
home and opens the instance once; the others wait, then find it ready.
"""

from __future__ import annotations

import os
from pathlib import Path

from filelock import FileLock

from rostersync_pipelines.errors import RosterSyncError

DEFAULT_INSTANCE = "telemetry:\n  enabled: false\n"
LOCK_WAIT_SECONDS = 120


def prepare_home() -> Path:
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path(".dagster_home").resolve())))
    try:
        home.mkdir(parents=True, exist_ok=True)
        ready = home / ".rostersync-ready"
        if ready.exists():
            return home
        with FileLock(str(home / ".rostersync-home.lock"), timeout=LOCK_WAIT_SECONDS):
            if ready.exists():
                return home
            instance_file = home / "dagster.yaml"
            if not instance_file.exists():
                instance_file.write_text(DEFAULT_INSTANCE, encoding="utf-8")
            from dagster import DagsterInstance

            with DagsterInstance.get() as instance:
                instance.get_runs_count()  # creates and stamps every storage table
            ready.write_text("prepared by rostersync\n", encoding="utf-8")
    except OSError as error:
        raise RosterSyncError(f"cannot prepare DAGSTER_HOME {home}: {error.strerror or error}") from None
    return home
