"""Learning records to Salesforce through the real simple-salesforce, against the writable fake org that
enforces lookups, External IDs, validation rules and the daily request limit."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa

from rostersync_pipelines import http
from rostersync_pipelines.config import load_config
from rostersync_pipelines.errors import TargetError
from rostersync_pipelines.learning import delivery, records, salesforce_bulk
from rostersync_pipelines.state import StateStore
from rostersync_pipelines.targets import embedded_schema as lms
from rostersync_pipelines.transform.identity import folded
from rostersync_pipelines_tests.learning_fixtures import (
    CLIENT_SECRET,
    add_learners,
    add_progress,
    deliveries,
    execute,
    org_with_people,
    salesforce_destination,
    write_config,
)

PROGRESS = "LMS_Course_Progress__c"
FIRST, LAST = dt.date(2026, 3, 1), dt.date(2026, 3, 3)


@pytest.fixture(autouse=True)
def _no_bulk_wait(monkeypatch):
    monkeypatch.setattr(salesforce_bulk, "BULK_POLL_SECONDS", 0)


def deliver(config_file, org):
    config = load_config(config_file)
    store = StateStore(config.resolve_url(config.state.url))
    try:
        with http.extra_transports(org.mounts()):
            return delivery.deliver(
                config, "employees", records.read(config, "employees", FIRST, LAST), store
            )
    finally:
        store.dispose()


def patches(org) -> list[dict]:
    return [
        call for call in org.calls if call["method"] == "PATCH" and "/composite/sobjects/" in call["path"]
    ]


def test_collections_write_450_records_in_three_calls_then_nothing(tmp_path, monkeypatch):
    org = org_with_people(150)
    config_file = write_config(tmp_path, monkeypatch, salesforce_destination())
    add_learners(config_file, 150)
    assert add_progress(config_file, 150, 3) == 450

    report = deliver(config_file, org)
    assert (report.summary()["written"], report.summary()["created"], report.calls) == (450, 450, 3)
    assert len(patches(org)) == 3
    stored = org.store.frame(PROGRESS)
    assert len(stored) == 450 and stored["External_Id__c"].is_unique
    users = org.org.objects["User"].frame.set_index("Email")["Id"]
    first = stored.set_index("External_Id__c").loc["employees:progress:1:C0"]
    assert first["User__c"] == users["l0@acme.com"], "the lookup found the learner's User by email"
    assert (first["Score__c"], first["Completed_At__c"]) == (80.0, "2026-03-01T09:00:00.000Z")

    writes_before = org.write_calls()
    again = deliver(config_file, org)
    assert (again.summary()["written"], again.summary()["unchanged"], again.calls) == (0, 450, 0)
    assert org.write_calls() == writes_before, "an idempotent second run makes zero write calls"


def test_a_changed_record_is_written_once(tmp_path, monkeypatch):
    org = org_with_people(10)
    config_file = write_config(tmp_path, monkeypatch, salesforce_destination())
    add_learners(config_file, 10)
    add_progress(config_file, 10, 2)
    deliver(config_file, org)
    table = lms.course_progress
    execute(
        config_file,
        lambda c: c.execute(
            table.update().where(table.c.user_id == 3, table.c.course_id == "C1").values(score=55.5)
        ),
    )
    changed = deliver(config_file, org)
    assert (changed.summary()["written"], changed.summary()["created"], changed.calls) == (1, 0, 1)
    assert len(patches(org)[-1:]) == 1
    record = org.store.records[PROGRESS]["employees:progress:3:C1"]
    assert record["Score__c"] == 55.5
    assert deliver(config_file, org).calls == 0


def test_bulk_above_the_threshold_one_ingest_job_with_per_record_failures(tmp_path, monkeypatch):
    org = org_with_people(100)
    org.store.validation_rule(
        PROGRESS, lambda r: (r.get("Score__c") or 0) >= 99, "Score must be below 99", ["Score__c"]
    )
    config_file = write_config(tmp_path, monkeypatch, salesforce_destination(bulk_above=100))
    add_learners(config_file, 100)
    add_progress(config_file, 100, 20)  # scores 80..99: one course in 20 (C19) fails the rule

    report = deliver(config_file, org)
    summary = report.summary()
    assert (summary["written"], summary["failed"]) == (1900, 100)
    jobs = [call for call in org.calls if call["method"] == "POST" and call["path"].endswith("/jobs/ingest")]
    assert len(jobs) == 1, "2,000 records above bulk_above=100 go as one Bulk API 2.0 job"
    assert not patches(org)
    assert len(org.calls) < 20, "a handful of calls, not one per 200 records"
    assert summary["problems"][0]["error"].startswith(
        "FIELD_CUSTOM_VALIDATION_EXCEPTION: Score must be below 99"
    )
    failed = [row for row in deliveries(config_file) if row["status"] == "failed"]
    assert len(failed) == 100 and all(row["content_hash"] is None for row in failed)

    org.store.validations.clear()  # the admin relaxes the rule: the next run sends exactly those 100
    retried = deliver(config_file, org)
    assert (retried.summary()["written"], retried.summary()["unchanged"]) == (100, 1900)
    assert len(org.store.records[PROGRESS]) == 2000


def test_a_lookup_that_no_longer_exists_is_refused_kept_and_retried(tmp_path, monkeypatch):
    org = org_with_people(5)
    ids = org.org.objects["User"].frame["Id"].tolist()
    config_file = write_config(tmp_path, monkeypatch, salesforce_destination(), users_from="salesforce")
    add_learners(config_file, 5, keys=ids)
    add_progress(config_file, 5, 1)
    config = load_config(config_file)
    store = StateStore(config.resolve_url(config.state.url))
    links = pd.Series([str(n + 1) for n in range(5)], index=folded(pd.Series(ids)).to_numpy())
    store.write_links("employees", "users", links)
    store.dispose()
    org.org.delete("User", ids[2])  # the third learner's User is gone from the org

    report = deliver(config_file, org)
    assert (report.summary()["written"], report.summary()["failed"]) == (4, 1)
    problem = report.summary()["problems"][0]
    assert problem["external_id"] == "employees:progress:3:C0"
    assert problem["error"] == "INVALID_CROSS_REFERENCE_KEY: invalid cross reference id (User__c)"
    assert org.store.records[PROGRESS]["employees:progress:1:C0"]["User__c"] == ids[0], (
        "linked, no email query"
    )
    assert not org.queries, "learners linked to Salesforce Users need no lookup by email"
    again = deliver(config_file, org)
    assert (again.summary()["written"], again.summary()["failed"], again.calls) == (0, 1, 1)


def test_request_limit_exceeded_mid_delivery_keeps_what_was_done_and_the_next_run_continues(
    tmp_path, monkeypatch
):
    org = org_with_people(150)
    config_file = write_config(tmp_path, monkeypatch, salesforce_destination())
    add_learners(config_file, 150)
    add_progress(config_file, 150, 3)
    org.limit_after(5)  # four email queries (User, Contact; 100 emails each) and one collection, then 403

    stopped = deliver(config_file, org)
    summary = stopped.summary()
    assert "REQUEST_LIMIT_EXCEEDED" in summary["stopped"] and "next run" in summary["stopped"]
    assert (summary["written"], summary["unsent"]) == (200, 250)
    assert len(org.store.records[PROGRESS]) == 200
    statuses = pd.Series([row["status"] for row in deliveries(config_file)]).value_counts().to_dict()
    assert statuses == {"delivered": 200, "unsent": 250}

    org.limit_after(None)
    resumed = deliver(config_file, org)
    assert (resumed.summary()["written"], resumed.summary()["unchanged"], resumed.calls) == (250, 200, 2)
    assert len(org.store.records[PROGRESS]) == 450
    assert deliver(config_file, org).calls == 0


def test_objects_not_deployed_and_a_refused_login_are_one_line_without_secrets(tmp_path, monkeypatch):
    org = org_with_people(3)
    config_file = write_config(tmp_path, monkeypatch, salesforce_destination())
    add_learners(config_file, 3)
    add_progress(config_file, 3, 1)
    del org.store.records[PROGRESS]  # an org where nobody deployed salesforce/
    with pytest.raises(TargetError) as refused:
        deliver(config_file, org)
    message = str(refused.value)
    assert message.startswith("learning destination: Salesforce refused the call: NOT_FOUND")
    assert "sf project deploy start" in message and "\n" not in message

    org.logins.clients.clear()
    with pytest.raises(TargetError) as login:
        deliver(config_file, org)
    assert str(login.value).startswith(
        "learning destination: Salesforce refused the client credentials login"
    )
    assert CLIENT_SECRET not in str(login.value)


def test_the_fake_refuses_what_salesforce_refuses(tmp_path, monkeypatch):
    from simple_salesforce import Salesforce
    from simple_salesforce.exceptions import SalesforceMalformedRequest

    org = org_with_people(2)
    contact = org.org.insert("Contact", [{"LastName": "Lee", "Email": "lee@acme.com"}])[0]
    with http.extra_transports(org.mounts()):
        sf = Salesforce(
            instance_url=org.instance_url, session_id=org.logins.new_session(), session=http.new_session()
        )
        path = f"composite/sobjects/{PROGRESS}/External_Id__c"
        record = {"attributes": {"type": PROGRESS}, "External_Id__c": "x"}
        with pytest.raises(SalesforceMalformedRequest) as too_many:
            sf.restful(path, method="PATCH", json={"records": [record] * 201})
        assert too_many.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
        with pytest.raises(SalesforceMalformedRequest):
            sf.restful(path, method="PATCH", json={"records": [{"External_Id__c": "x"}]})
        results = sf.restful(path, method="PATCH", json={"allOrNone": False, "records": [
            {**record, "External_Id__c": "a", "User__c": contact},
            {**record, "External_Id__c": "b", "User__c": "not-an-id"},
            {**record, "External_Id__c": "c", "Contact__c": contact},
            {**record, "External_Id__c": "d"}, {**record, "External_Id__c": "d"},
        ]})  # fmt: skip
        codes = [result["errors"][0]["statusCode"] if result["errors"] else None for result in results]
        assert codes == [
            "FIELD_INTEGRITY_EXCEPTION",
            "MALFORMED_ID",
            None,
            "DUPLICATE_VALUE",
            "DUPLICATE_VALUE",
        ]
        assert results[2]["created"] is True
        again = sf.restful(path, method="PATCH", json={"records": [{**record, "External_Id__c": "c"}]})
        assert (again[0]["created"], again[0]["id"]) == (False, results[2]["id"])
        described = sf.restful(f"sobjects/{PROGRESS}/describe")
        external = next(field for field in described["fields"] if field["name"] == "External_Id__c")
        assert (external["externalId"], external["unique"]) == (True, True)
    assert len({c["path"] for c in org.calls if "/composite/" in c["path"]}) == 1
    with StateStore("sqlite://").engine.connect() as connection:  # the tables exist in any state database
        assert "learning_deliveries" in sa.inspect(connection).get_table_names()
