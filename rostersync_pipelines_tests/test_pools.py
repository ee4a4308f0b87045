"""One pool per LMS, named without secrets, and held on dask workers where dagster-dask does not hold it.

The worker tests call the functions a dask worker runs, in this process, on a SQLite instance: dagster-dask's
own `query_on_dask_worker` runs a pooled step while another run holds the pool's only slot (Dagster 1.13,
dagster-dask 0.29: the worker's `execute_plan` has no concurrency context), and RosterSync's
`run_step_on_worker` waits for the slot, runs the step once it is free, and gives it back.
"""

from __future__ import annotations

import threading
import time

import dagster as dg
import pytest
from dagster._core.definitions.reconstruct import ReconstructableJob
from dagster._core.instance.ref import InstanceRef
from dagster_dask.executor import query_on_dask_worker
from pydantic import TypeAdapter

from rostersync_pipelines.config_targets import Target
from rostersync_pipelines.defs.dask_steps import StepOrder, run_step_on_worker
from rostersync_pipelines.defs.pools import target_pool

POOL = "lms/probe/lms.example.com"
STEP = "write_to_lms"


def _target(**spec) -> Target:
    return TypeAdapter(Target).validate_python(spec)


@pytest.mark.parametrize(
    ("spec", "pool"),
    [
        (
            {"kind": "talentlms", "url": "https://admin:hunter2@Acme.TalentLMS.com/", "api_key": "k"},
            "lms/talentlms/acme.talentlms.com",
        ),
        (
            {"kind": "talentlms", "url": "acme.talentlms.com", "api_key": "k"},
            "lms/talentlms/acme.talentlms.com",
        ),
        (
            {"kind": "ispring", "client_id": "c", "client_secret": "s"},
            "lms/ispring/api-learn.ispringlearn.com",
        ),
        (
            {"kind": "scim", "url": "https://lms.example.com:8443/scim/v2?x=1", "token": "t"},
            "lms/scim/lms.example.com:8443",
        ),
        ({"kind": "embedded", "url": "sqlite:////srv/rostersync/private/lms.db"}, "lms/embedded/lms.db"),
        ({"kind": "embedded"}, "lms/embedded/lms.db"),
        (
            {
                "kind": "embedded",
                "url": "postgresql+psycopg://svc:s3cret@DB.internal:5432/lms?sslmode=require",
            },
            "lms/embedded/db.internal:5432/lms",
        ),
    ],
)
def test_one_pool_per_lms_without_secrets(spec, pool):
    assert target_pool(_target(**spec)) == pool
    for secret in ("hunter2", "admin", "s3cret", "svc", "private", "sslmode"):
        assert secret not in target_pool(_target(**spec))


@dg.op(pool=POOL)
def write_to_lms() -> int:
    return 1


@dg.job
def probe_job():
    write_to_lms()


@pytest.fixture
def instance(tmp_path):
    (tmp_path / "dagster.yaml").write_text("telemetry: {enabled: false}\n", encoding="utf-8")
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(tmp_path))) as instance:
        instance.event_log_storage.set_concurrency_slots(POOL, 1)
        claim = instance.event_log_storage.claim_concurrency_slot(POOL, "another-run", "its-apply")
        assert claim.is_claimed, "another run holds the pool's only slot"
        yield instance


def _order(instance) -> StepOrder:
    recon = ReconstructableJob.for_module(__name__, "probe_job")
    run = instance.create_run_for_job(probe_job)
    return StepOrder(recon, run, {}, STEP, POOL, 0, instance.get_ref(), None)


def _types(events) -> list[str]:
    return [event.event_type_value for event in events]


def test_dagster_dask_runs_a_pooled_step_whose_slot_another_run_holds(instance):
    order = _order(instance)
    events = query_on_dask_worker(
        [], order.recon_job, order.run, {}, [STEP], order.instance_ref, order.known_state
    )
    assert "STEP_SUCCESS" in _types(events), "dagster-dask's worker ignores the pool"


def test_a_rostersync_worker_waits_for_the_slot_then_gives_it_back(instance):
    order = _order(instance)
    found = {}
    worker = threading.Thread(target=lambda: found.update(events=run_step_on_worker([], order)), daemon=True)
    worker.start()
    time.sleep(3)
    logged = [entry.message for entry in instance.all_logs(order.run.run_id)]
    assert worker.is_alive() and "STEP_START" not in _types(
        [entry.dagster_event for entry in instance.all_logs(order.run.run_id) if entry.dagster_event]
    ), "the step must not start while another run holds the only slot"
    assert any(f"waits for a slot of pool {POOL}" in message for message in logged)

    instance.event_log_storage.free_concurrency_slot_for_step("another-run", "its-apply")
    worker.join(timeout=60)
    assert not worker.is_alive()
    assert "STEP_SUCCESS" in _types(found["events"])
    assert instance.event_log_storage.get_concurrency_info(POOL).claimed_slots == [], (
        "released after the step"
    )


def test_a_waiting_step_of_a_canceled_run_never_runs(instance):
    order = _order(instance)
    found = {}
    worker = threading.Thread(target=lambda: found.update(events=run_step_on_worker([], order)), daemon=True)
    worker.start()
    time.sleep(2)
    instance.report_run_canceling(order.run)
    worker.join(timeout=60)
    assert not worker.is_alive() and found["events"] == []
    assert instance.event_log_storage.get_concurrency_info(POOL).pending_step_count == 0
