"""The pieces of the learning flow without Salesforce: the demo's records, the embedded destination,
fingerprints, identity (case restored from 18-character Ids) and the sensor's day ranges."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import sqlalchemy as sa

from rostersync_pipelines.config import load_config
from rostersync_pipelines.defs.learning_sensor import stretches
from rostersync_pipelines.learning import delivery, demo, identity, records
from rostersync_pipelines.learning.hashes import changed_mask, content_hashes
from rostersync_pipelines.state import StateStore
from rostersync_pipelines.targets import embedded_schema as lms
from rostersync_pipelines_tests.learning_fixtures import add_learners, execute, write_config

SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def eighteen(id15: str) -> str:
    """Salesforce's case-safe suffix, computed the documented way, to check `restore_case` against."""
    suffix = ""
    for chunk in range(3):
        bits = sum(1 << n for n, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]) if char.isupper())
        suffix += SUFFIX[bits]
    return id15 + suffix


def test_restore_case_turns_a_folded_18_character_id_back_into_the_salesforce_id():
    for id15 in ("0055g00000ABcdE", "003Hp00002xYzQw", "005000000000001"):
        real = eighteen(id15)
        assert identity.restore_case(real.lower()) == real
    assert identity.restore_case("0055g00000abcde") is None, "15 characters: the case is lost"


def test_identity_prefers_the_link_then_email_and_never_guesses(tmp_path, monkeypatch):
    config = load_config(write_config(tmp_path, monkeypatch, users_from="salesforce"))
    user, contact = eighteen("0055g00000ABcdE"), eighteen("003Hp00002xYzQw")
    users = pd.DataFrame(
        {
            "id": ["1", "2", "3", "4"],
            "email": ["a@x.com", "b@x.com", "C@x.com", "d@x.com"],
            "user_unique_key": [None, contact, None, None],
        }  # fmt: skip
    )
    links = pd.Series(["1", "2"], index=[user.lower(), contact.lower()])

    def by_email(emails):
        assert emails == ["c@x.com", "d@x.com"], "only learners without a link are looked up"
        return pd.DataFrame({"email": emails, "salesforce_user_id": [eighteen("005000000000009"), None],
                             "salesforce_contact_id": [None, None]})  # fmt: skip

    found = identity.resolve(config, "employees", users, links, by_email)
    assert found.loc["1", "salesforce_user_id"] == user
    assert (found.loc["2", "salesforce_contact_id"], found.loc["2", "salesforce_user_id"]) == (contact, None)
    assert found.loc["3", "salesforce_user_id"] == eighteen("005000000000009")
    assert found.loc["4"].isna().all()


def test_fingerprints_change_with_the_content_only():
    frame = pd.DataFrame({"a": ["x", None, "z"], "b": [1.0, None, 3.5]}, dtype=object)
    first = content_hashes(frame, ["a", "b"])
    assert (first == content_hashes(frame.copy(), ["a", "b"])).all()
    changed = frame.copy()
    changed.loc[1, "b"] = 0.0
    assert list(content_hashes(changed, ["a", "b"]) != first) == [False, True, False]
    known = pd.Series(pd.array([first[0], None], dtype="Int64"), index=["e0", "e1"])
    ids = pd.Series(["e0", "e1", "e2"])
    assert list(changed_mask(first, ids, known)) == [False, True, True]
    assert first.dtype == np.int64


def test_stretches_join_adjacent_days():
    days = ["2026-02-27", "2026-02-28", "2026-03-01", "2026-03-03", "2026-03-10", "2026-03-11"]
    assert stretches(days) == [
        ("2026-02-27", "2026-03-01"),
        ("2026-03-03", "2026-03-03"),
        ("2026-03-10", "2026-03-11"),
    ]


def test_the_demo_records_reach_the_embedded_destination_once(tmp_path, monkeypatch):
    config_file = write_config(tmp_path, monkeypatch)
    add_learners(config_file, 30)
    config = load_config(config_file)
    url = config.resolve_url(config.syncs["employees"].target.url)
    made = demo.seed(url)
    assert made > 30 and demo.seed(url) == 0, "seeded once: a second make run adds nothing"
    counts = execute(config_file, lambda c: {t.name: c.execute(sa.select(sa.func.count()).select_from(t)).scalar()
                                             for t in lms.LEARNING_TABLES})  # fmt: skip
    assert sum(counts.values()) == made and counts["badges"] > 0
    first, last = demo.FIRST_DAY, demo.FIRST_DAY + dt.timedelta(days=demo.DAYS - 1)
    store = StateStore(config.resolve_url(config.state.url))
    try:
        report = delivery.deliver(config, "employees", records.read(config, "employees", first, last), store)
        assert (report.summary()["written"], report.summary()["failed"]) == (made, 0)
        with store.engine.connect() as connection:
            rows = (
                connection.execute(sa.text("SELECT * FROM learning_certificates ORDER BY external_id"))
                .mappings()
                .all()
            )
        assert len(rows) == counts["certificates"]
        assert rows[0]["external_id"].startswith("employees:certificate:")
        assert rows[0]["issued_at"].endswith("Z") and rows[0]["url"].startswith(
            "https://lms.northwind.example/"
        )
        again = delivery.deliver(config, "employees", records.read(config, "employees", first, last), store)
        assert (again.summary()["written"], again.summary()["unchanged"], again.calls) == (0, made, 0)
    finally:
        store.dispose()


def test_the_salesforce_dx_source_declares_every_field_the_delivery_writes():
    import xml.etree.ElementTree as ElementTree
    from pathlib import Path

    from rostersync_pipelines.learning.kinds import KINDS, salesforce_fields

    ns = {"m": "http://soap.sforce.com/2006/04/metadata"}
    root = Path(__file__).resolve().parent.parent / "salesforce"
    assert (root / "sfdx-project.json").is_file()
    objects = root / "force-app" / "main" / "default" / "objects"
    permissions = ElementTree.parse(
        root / "force-app/main/default/permissionsets/RosterSync_Learning.permissionset-meta.xml"
    ).getroot()
    granted = {f.findtext("m:field", namespaces=ns) for f in permissions.findall("m:fieldPermissions", ns)}
    for kind in KINDS.values():
        declared = {
            path.name.removesuffix(".field-meta.xml"): ElementTree.parse(path).getroot()
            for path in (objects / kind.sobject / "fields").glob("*.field-meta.xml")
        }
        assert set(declared) == set(salesforce_fields(kind).values())
        external = declared["External_Id__c"]
        assert [external.findtext(f"m:{tag}", namespaces=ns) for tag in ("externalId", "unique", "type")] == [
            "true", "true", "Text"
        ]  # fmt: skip
        assert declared["User__c"].findtext("m:referenceTo", namespaces=ns) == "User"
        assert declared["Contact__c"].findtext("m:referenceTo", namespaces=ns) == "Contact"
        assert {f"{kind.sobject}.{name}" for name in declared} <= granted
        assert (objects / kind.sobject / "listViews" / "All.listView-meta.xml").is_file()
