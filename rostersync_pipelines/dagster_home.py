"""DAGSTER_HOME as the user set it: their dagster.yaml used as it is, a missing one created once, under a lock.

A dagster.yaml in the home is the user's and is never rewritten. When its storage is PostgreSQL
(deploy/dagster.postgres.yaml) nothing is written to the folder, which may be a read-only mount shared by
the webserver and the daemon: the URL is checked (instance_storage.py) and the instance opened once, so a
wrong scheme, an unset variable or an unreachable server is one line, not a traceback. dagster-postgres
creates its own tables and retries when two first starts race on them (with the psycopg2 driver).

A home with SQLite storage (the default) is prepared under a file lock: Dagster creates and stamps its
storage tables the first time an instance opens a fresh home; two first runs at once (two cron jobs, a CLI
beside the UI) race on that and can leave the home broken for good ("table runs already exists", then
alembic's "more than one head"). The first process to take the lock creates the home and opens the
instance once; the others wait, then find it ready.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import yaml
from filelock import FileLock

from rostersync_pipelines.errors import RosterSyncError
from rostersync_pipelines.instance_storage import postgres_blocks, scheme_problems

DEFAULT_INSTANCE = "telemetry:\n  enabled: false\n"
STORAGE_KEYS = ("storage", "run_storage", "event_log_storage", "schedule_storage")
LOCK_WAIT_SECONDS = 120
URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)


def prepare_home() -> Path:
    home = Path(os.environ.get("DAGSTER_HOME") or ".dagster_home").expanduser().resolve()
    os.environ["DAGSTER_HOME"] = str(home)  # Dagster refuses a relative DAGSTER_HOME
    instance_file = home / "dagster.yaml"
    try:
        instance = _read(instance_file)
        if instance is not None and postgres_blocks(instance):
            problems = scheme_problems(instance, os.environ)
            if problems:
                raise RosterSyncError(f"DAGSTER_HOME {home}: dagster.yaml: {problems[0]}")
            _open_once(home)
            return home
        home.mkdir(parents=True, exist_ok=True)
        ready = home / ".rostersync-ready"
        if ready.exists():
            return home
        with FileLock(str(home / ".rostersync-home.lock"), timeout=LOCK_WAIT_SECONDS):
            if ready.exists():
                return home
            if not instance_file.exists():
                instance_file.write_text(DEFAULT_INSTANCE, encoding="utf-8")
            _open_once(home)
            ready.write_text("prepared by rostersync\n", encoding="utf-8")
    except OSError as error:
        raise RosterSyncError(f"cannot prepare DAGSTER_HOME {home}: {error.strerror or error}") from None
    return home


def open_instance(home: Path):
    """The home's instance for a CLI run. Storage left to Dagster's default (SQLite under the home) is opened
    through instance_sqlite.py: the same files and rows, without a new engine per event; any storage the
    user's dagster.yaml names is opened as Dagster opens it."""
    from dagster import DagsterInstance

    instance = _read(home / "dagster.yaml") or {}
    if any(key in instance for key in STORAGE_KEYS):
        return DagsterInstance.get()
    from dagster._core.instance.ref import InstanceRef

    from rostersync_pipelines.instance_sqlite import storage_override

    return DagsterInstance.from_ref(InstanceRef.from_dir(str(home), overrides=storage_override(str(home))))


def _read(instance_file: Path) -> dict | None:
    """The user's instance config, or None when the home has none yet."""
    if not instance_file.is_file():
        return None
    try:
        loaded = yaml.safe_load(instance_file.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise RosterSyncError(f"{instance_file} is not valid YAML: {error}") from None
    return loaded if isinstance(loaded, dict) else {}


def _open_once(home: Path) -> None:
    """Open the instance (which creates and stamps its tables); a failure is one line without the URL."""
    from dagster import DagsterInstance

    quiet = logging.root.manager.disable
    logging.disable(logging.WARNING)  # dagster-postgres logs each retry to the root logger, URL-free but long
    try:
        with DagsterInstance.get() as instance:
            instance.get_runs_count()
    except Exception as error:  # config, driver, network: whatever keeps the instance from opening
        raise RosterSyncError(
            f"cannot open the Dagster instance of DAGSTER_HOME {home}: {_one_line(error)}"
        ) from None
    finally:
        logging.disable(quiet)


def _one_line(error: BaseException) -> str:
    """The deepest cause's first line (the driver's own words), with any URL cut to its scheme."""
    while error.__cause__ is not None:
        error = error.__cause__
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else type(error).__name__
    return URL.sub(lambda match: match.group(0).split("://")[0] + "://…", text)
