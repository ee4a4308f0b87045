"""One Dagster concurrency pool per LMS, so syncs that share an LMS never write to it at the same time.

An LMS's rate limit is per portal, not per sync: two syncs into one TalentLMS, each pacing itself to the
limit, would together send twice the limit. The step that writes to the LMS takes a slot of the LMS's pool
(`dagster instance concurrency set lms/talentlms/acme.talentlms.com 1`, or `concurrency: pools:
default_limit: 1` in dagster.yaml), so at most that many applies run at once, whichever process or machine
runs them. The name is the LMS's kind and host only: pool names show in the UI and the event log, so no
credential, user name or path goes into one.

Dagster's in-process and multiprocess executors claim the slot themselves; dagster-dask's does not (its
workers run `execute_plan` without the run's concurrency context), so defs/executors.py holds it with
`slot` around each step it sends to a worker.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from rostersync_pipelines.config_targets import Target

PREFIX = "lms"


def target_pool(target: Target) -> str:
    """`lms/<kind>/<host>`; an embedded LMS is named by its database file (or server and database)."""
    if target.kind == "embedded":
        return f"{PREFIX}/embedded/{_database_name(target.url)}"
    return f"{PREFIX}/{target.kind}/{_host(target.url)}"


def _host(url: str) -> str:
    """The host (and an explicit port) of a URL, without user, password, path or query."""
    parts = urlsplit(url if "//" in url else f"https://{url}")
    host = (parts.hostname or "unknown").lower()
    return f"{host}:{parts.port}" if parts.port else host


def _database_name(url: str) -> str:
    parsed = make_url(url)
    name = PurePosixPath((parsed.database or "memory").replace("\\", "/")).name or "memory"
    if parsed.get_backend_name() == "sqlite" or not parsed.host:
        return name
    host = parsed.host.lower()
    return f"{host}:{parsed.port}/{name}" if parsed.port else f"{host}/{name}"


@contextmanager
def slot(
    instance,
    run,
    step_key: str,
    pool: str,
    priority: int = 0,
    on_wait: Callable[[], None] = lambda: None,
    poll_seconds: float = 0.5,
) -> Iterator[bool]:
    """Hold one slot of `pool` for the step while the block runs; yields False when the run was stopped
    while waiting (the step must then not run). A pool with no limit never waits. Released in `finally`;
    a slot a killed worker kept is freed by the daemon once its run ended (`run_monitoring:
    free_slots_after_run_end_seconds`), or by hand from the UI's pool page."""
    from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext

    with InstanceConcurrencyContext(instance, run) as concurrency:
        waited = False
        while not concurrency.claim(pool, step_key, priority):
            if not waited:
                on_wait()
                waited = True
            if _stopped(instance, run.run_id):
                yield False
                return
            time.sleep(poll_seconds)
        try:
            yield True
        finally:
            concurrency.free_step(step_key)


def _stopped(instance, run_id: str) -> bool:
    from dagster import DagsterRunStatus

    run = instance.get_run_by_id(run_id)
    return run is None or run.status in (
        DagsterRunStatus.CANCELING,
        DagsterRunStatus.CANCELED,
        DagsterRunStatus.FAILURE,
    )


def ensure_pool(instance, pool: str) -> None:
    """Make the pool's row before any step claims it.

    Dagster writes a pool's row at the first claim of a step; on PostgreSQL, two first claims at once (two
    syncs into one LMS, started together) make one run fail: the loser's INSERT aborts its transaction and
    its UPDATE then fails ("current transaction is aborted"). The plan step, which never holds the slot,
    makes the row first; losing the same race here is harmless, since the winner made the row."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits or instance.global_op_concurrency_default_limit is None:
        return
    if any(limit.name == pool for limit in storage.get_pool_limits()):
        return
    try:
        storage.initialize_concurrency_limit_to_default(pool)
    except SQLAlchemyError:
        if not any(limit.name == pool for limit in storage.get_pool_limits()):
            raise
