"""Learning records read from TalentLMS and iSpring Learn targets, end to end through `learning-sync`.

Each test seeds the target's fake with courses and results on both sides of the day range, runs the real
CLI (config as DESIGN §1.4, secrets from the environment) into the embedded learning destination, checks
the rows in the state database's learning tables, and runs again to see nothing written."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from wsgiadapter import WSGIAdapter

from rostersync_pipelines import cli, http
from rostersync_pipelines.config import load_config
from rostersync_pipelines.errors import TargetError
from rostersync_pipelines.learning import records
from rostersync_pipelines.targets.ispring_client import IspringClient
from rostersync_pipelines.targets.talentlms_client import TalentLmsClient, TalentLmsRefused
from rostersync_pipelines_tests.fakes import ispring_learning
from rostersync_pipelines_tests.fakes.ispring import IspringFake
from rostersync_pipelines_tests.fakes.talentlms import FakeTalentLms

TALENTLMS, ISPRING = "https://acme.talentlms.com", "https://api-learn.ispringlearn.com"
API_KEY, CLIENT_ID, CLIENT_SECRET = "tlms-learning-key-123", "ispring-client-id", "ispring-very-secret"
FIRST, LAST = "2026-03-01", "2026-03-03"


def at(day: str, hour: int = 9) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour)


def write_config(tmp_path: Path, monkeypatch, target: dict) -> Path:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()
    (tmp_path / "users.csv").write_text("Login,Email\n", encoding="utf-8")
    raw = {
        "state": {"url": "sqlite:///state.db"},
        "syncs": {
            "employees": {
                "sources": {"users": {"kind": "file", "path": "users.csv"}},
                "fields": {"users": {"login": "Login", "email": "Email"}},
                "target": target,
                "learning": {"destination": {"kind": "embedded"}},
            }
        },
    }
    path = tmp_path / "rostersync.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def learning_sync(config: Path, host: str, fake, capsys) -> dict:
    with http.extra_transports({host: WSGIAdapter(fake)}):
        code = cli.main(["learning-sync", "--from", FIRST, "--to", LAST, "--config", str(config), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert API_KEY not in out + err and CLIENT_SECRET not in out + err
    return json.loads(out)


def delivered(tmp_path: Path, table: str) -> list[dict]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        with engine.connect() as connection:
            query = sa.text(f"SELECT * FROM {table} ORDER BY external_id")  # noqa: S608 (a fixed name)
            return [dict(row) for row in connection.execute(query).mappings()]
    finally:
        engine.dispose()


def test_talentlms_progress_certificates_and_badges_reach_the_embedded_destination(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("TALENTLMS_API_KEY", API_KEY)
    config = write_config(tmp_path, monkeypatch, {"kind": "talentlms", "url": TALENTLMS,
                                                  "api_key": "${TALENTLMS_API_KEY}"})  # fmt: skip
    fake = FakeTalentLms(api_key=API_KEY)
    ada = fake.add_user("ada", "ada@acme.com", "Ada", "Lovelace")
    bob = fake.add_user("bob", "bob@acme.com", "Bob", "Stone", status="inactive")
    safety, python = fake.add_course("Safety 101"), fake.add_course("Python")
    fake.enroll(ada, safety, at("2026-02-10"), percent=100, completed=at("2026-03-02", 14), seconds=3797)
    fake.enroll(ada, python, at("2026-03-01"), percent=40, seconds=600)  # in progress: its enrollment day
    fake.enroll(bob, safety, at("2026-02-01"), percent=10)  # enrolled before the range, not completed
    fake.enroll(bob, python, at("2026-03-02"), role="instructor")  # teaches it: no learning record
    fake.certify(ada, safety, at("2026-03-02", 14), expires=at("2027-03-02", 14))
    fake.certify(bob, safety, at("2026-03-05"))  # after the range
    fake.award_badge(ada, "Activity Newbie", "activity", "4 logins", at("2026-03-03", 8))

    summary = learning_sync(config, TALENTLMS, fake, capsys)
    assert (summary["read"], summary["written"], summary["failed"]) == (4, 4, 0)

    progress = delivered(tmp_path, "learning_course_progress")
    assert {(r["lms_user_id"], r["course_id"], r["status"]) for r in progress} == {
        (ada, safety, "Completed"),
        (ada, python, "incomplete"),
    }, "bob's enrollment is before the range and his instructor row is no record"
    done = next(r for r in progress if r["course_id"] == safety)
    assert done["external_id"] == f"employees:progress:{ada}:{safety}"
    assert (done["completion_percent"], done["time_spent_seconds"]) == (100.0, 3797)
    assert (done["enrolled_at"], done["completed_at"]) == (
        "2026-02-10T09:00:00.000Z",
        "2026-03-02T14:00:00.000Z",
    )
    assert done["course_name"] == "Safety 101" and done["score"] is None
    started = next(r for r in progress if r["course_id"] == python)
    assert (started["completion_percent"], started["time_spent_seconds"], started["completed_at"]) == (
        40.0,
        600,
        None,
    )

    [certificate] = delivered(tmp_path, "learning_certificates")
    assert certificate["lms_user_id"] == ada and certificate["course_name"] == "Safety 101"
    assert (certificate["issued_at"], certificate["expires_at"]) == (
        "2026-03-02T14:00:00.000Z",
        "2027-03-02T14:00:00.000Z",
    )
    assert certificate["url"].startswith(f"{TALENTLMS}/certification/")
    [badge] = delivered(tmp_path, "learning_badges")
    assert (badge["badge_name"], badge["badge_type"], badge["issued_at"]) == (
        "Activity Newbie",
        "activity",
        "2026-03-03T08:00:00.000Z",
    )
    assert badge["external_id"] == f"employees:badge:{ada}:activity:Activity Newbie"
    assert fake.calls["users"] == 1 + 3 + 1, "the list, one call per user (3 with the admin), the learners"
    assert fake.calls["courses"] == 0, "per-user answers carry every course: no per-course calls"
    assert fake.write_calls() == 0

    again = learning_sync(config, TALENTLMS, fake, capsys)
    assert (again["read"], again["written"], again["unchanged"]) == (4, 0, 4)


def test_ispring_results_of_every_user_status_and_certificates_reach_the_destination(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("ISPRING_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("ISPRING_CLIENT_SECRET", CLIENT_SECRET)
    config = write_config(tmp_path, monkeypatch, {"kind": "ispring", "url": ISPRING,
                                                  "client_id": "${ISPRING_CLIENT_ID}",
                                                  "client_secret": "${ISPRING_CLIENT_SECRET}"})  # fmt: skip
    fake = IspringFake(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, page_size=2)
    ada = fake.add_user("ada", "ada@acme.com")
    left = fake.add_user("left", "left@acme.com", status=5)  # employment ended: results still read
    safety = ispring_learning.add_course(fake, "Safety 101")
    python = ispring_learning.add_course(fake, "Python")
    enroll = ispring_learning.enroll
    enroll(fake, ada, safety, at("2026-02-10"), status="passed", progress=100.0, seconds=3797,
           completed=at("2026-03-02", 14), score=92.5, certificate=dt.date(2026, 3, 2),
           expires=dt.date(2027, 3, 2))  # fmt: skip
    enroll(fake, ada, python, at("2026-03-01"), status="in_progress", progress=40.0, seconds=600)
    enroll(fake, left, safety, at("2026-01-05"), status="complete", progress=100.0,
           completed=at("2026-03-03", 7), certificate=dt.date(2026, 3, 3))  # fmt: skip
    enroll(fake, left, python, at("2026-02-01"), status="not_started")  # before the range

    summary = learning_sync(config, ISPRING, fake, capsys)
    assert (summary["read"], summary["written"], summary["failed"]) == (5, 5, 0)
    assert summary["by_kind"]["badges"]["read"] == 0, "iSpring's API has no badges"

    progress = {
        (r["lms_user_id"], r["course_id"]): r for r in delivered(tmp_path, "learning_course_progress")
    }
    assert set(progress) == {(ada, safety), (ada, python), (left, safety)}
    passed = progress[(ada, safety)]
    assert (
        passed["status"],
        passed["completion_percent"],
        passed["time_spent_seconds"],
        passed["score"],
    ) == (
        "passed",
        100.0,
        3797,
        92.5,
    )
    assert (passed["enrolled_at"], passed["completed_at"]) == (
        "2026-02-10T09:00:00.000Z",
        "2026-03-02T14:00:00.000Z",
    )
    assert passed["external_id"] == f"employees:progress:{ada}:{safety}"
    assert (
        progress[(ada, python)]["status"] == "in_progress" and progress[(ada, python)]["completed_at"] is None
    )

    certificates = {r["lms_user_id"]: r for r in delivered(tmp_path, "learning_certificates")}
    assert set(certificates) == {ada, left}
    assert (certificates[ada]["issued_at"], certificates[ada]["expires_at"]) == (
        "2026-03-02T00:00:00.000Z",
        "2027-03-02T00:00:00.000Z",
    )
    assert certificates[left]["course_name"] == "Safety 101" and certificates[left]["url"] is None
    assert delivered(tmp_path, "learning_badges") == []
    results = [call for call in fake.calls if call[1] == "/learners/results"]
    assert len(results) == 2 and all(status == 200 for _, _, status in results), "4 results, pages of 2"
    assert fake.write_calls() == []

    again = learning_sync(config, ISPRING, fake, capsys)
    assert (again["read"], again["written"], again["unchanged"]) == (5, 0, 5)


def test_the_ispring_fake_answers_only_active_users_results_unless_asked():
    fake = IspringFake()
    active, ended = fake.add_user("ada", "ada@acme.com"), fake.add_user("left", "left@acme.com", status=5)
    course = ispring_learning.add_course(fake, "Safety 101")
    for user in (active, ended):
        ispring_learning.enroll(fake, user, course, at("2026-03-01"))
    with http.extra_transports({ISPRING: WSGIAdapter(fake)}):
        client = IspringClient(ISPRING, "ispring-client-id", "ispring-client-secret")
        default = [r["userId"] for r in client.pages("/learners/results", "results")]
        every = [
            r["userId"] for r in client.pages("/learners/results", "results", {"userStatuses": [1, 3, 5]})
        ]
    assert default == [active] and sorted(every) == sorted([active, ended])


def test_the_talentlms_fake_answers_a_course_with_its_users_and_refuses_an_unknown_one():
    fake = FakeTalentLms(api_key=API_KEY)
    ada = fake.add_user("ada", "ada@acme.com", "Ada", "Lovelace")
    course = fake.add_course("Safety 101")
    fake.enroll(ada, course, at("2026-03-01"), percent=50, seconds=197)
    with http.extra_transports({TALENTLMS: WSGIAdapter(fake)}):
        client = TalentLmsClient(TALENTLMS, API_KEY)
        listed = client.get("courses")
        one = client.get("courses", id=course)
        with pytest.raises(TalentLmsRefused) as refused:
            client.get("courses", id=999)
    assert (refused.value.status, refused.value.message) == (404, "The requested course does not exist")
    assert [c["id"] for c in listed] == [course] and "users" not in listed[0]
    [user] = one["users"]
    assert (user["id"], user["completion_percentage"], user["total_time"]) == (ada, "50", "3m 17s")
    assert user["enrolled_on"] == "01/03/2026, 09:00:00" and user["enrolled_on_timestamp"] == "1772355600"
    assert "completion_status" not in user, "a course's users[] has no completion status in v1"


def test_a_target_without_a_learning_reader_says_so_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("SCIM_TOKEN", "scim-secret-token")
    config = load_config(
        write_config(
            tmp_path,
            monkeypatch,
            {"kind": "scim", "url": "https://lms.example.com/scim/v2", "token": "${SCIM_TOKEN}"},
        )  # fmt: skip
    )
    with pytest.raises(TargetError) as error:
        records.read(config, "employees", dt.date(2026, 3, 1), dt.date(2026, 3, 3))
    text = str(error.value)
    assert "\n" not in text and "scim" in text and "scim-secret-token" not in text
