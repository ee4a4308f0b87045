"""iSpring Learn end to end: the demo roster through `rostersync sync` into the stateful iSpring fake.

The config is the one a user writes (DESIGN §1.4: the real host, secrets as ${ENV}); the fake answers on
that host in-process. A CLI sync starts Dagster, so the scenarios share one synced workspace where they can.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from wsgiadapter import WSGIAdapter

from rostersync_pipelines import cli, http
from rostersync_pipelines.errors import TargetError, TransientTargetError
from rostersync_pipelines.targets.base import Operation
from rostersync_pipelines.targets.ispring import IspringLearn
from rostersync_pipelines.targets.ispring_client import IspringClient
from rostersync_pipelines_tests.fakes.ispring import IspringFake

REPO = Path(__file__).resolve().parent.parent
HOST = "https://api-learn.ispringlearn.com"
CLIENT_ID, CLIENT_SECRET = "ispring-client-id", "ispring-client-secret"
DEMO_GROUPS = {
    "Onboarding 2026",
    "Safety Champions",
    "Mentors",
    "First Aiders",
    "Leadership Track",
    "Green Team",
}
PAST_LEAVERS = {"olee", "cellis", "jfoster", "nfoster", "jyilmaz", "cvargas"}


def write_config(folder: Path) -> Path:
    raw = yaml.safe_load((REPO / "rostersync.yaml").read_text(encoding="utf-8"))
    sync = raw["syncs"]["employees"]
    sync["sources"]["users"]["path"] = str(REPO / "data" / "demo" / "users.csv")
    sync["sources"]["departments"]["path"] = str(REPO / "data" / "demo" / "departments.xlsx")
    sync["target"] = {"kind": "ispring", "url": HOST, "client_id": "${ISPRING_CLIENT_ID}",
                      "client_secret": "${ISPRING_CLIENT_SECRET}"}  # fmt: skip
    raw["state"] = {"url": f"sqlite:///{folder / 'state.db'}", "plans_dir": str(folder / "plans")}
    path = folder / "rostersync.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def sync(fake: IspringFake, config: Path, capsys) -> tuple[int, dict | None, str]:
    capsys.readouterr()
    with http.extra_transports({HOST: WSGIAdapter(fake)}):
        code = cli.main(["--config", str(config), "sync", "--json"])
    out, err = capsys.readouterr()
    try:
        return code, json.loads(out), err
    except ValueError:
        return code, None, out + err


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("ISPRING_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("ISPRING_CLIENT_SECRET", CLIENT_SECRET)
    (tmp_path / "dagster_home").mkdir()
    fake = IspringFake()
    # the account's own administrator, in no HR file: never deactivated, never changed
    owner = fake.add_user("owner", "owner@northwind.example", role="administrator", first_name="Olga")
    return fake, write_config(tmp_path), owner


def test_full_sync_then_a_second_sync_writes_nothing(workspace, capsys):
    fake, config, owner = workspace
    code, summary, text = sync(fake, config, capsys)
    assert code == 0, text
    assert summary["users"]["create"] == 269
    assert summary["departments"]["create"] == 24

    # the tree sits under the root: HQ directly below it, ENG below HQ, ENG-PLAT below ENG
    hq, eng, plat = fake.by_code("HQ"), fake.by_code("ENG"), fake.by_code("ENG-PLAT")
    assert hq["parentDepartmentId"] == fake.root and hq["name"] == "Northwind Learning Co."
    assert eng["parentDepartmentId"] == hq["departmentId"]
    assert plat["parentDepartmentId"] == eng["departmentId"]
    assert len(fake.departments) == 25  # 24 + the root

    users = {u["fields"]["login"]: u for u in fake.users.values()}
    assert len(users) == 270  # 269 + the owner
    sofia = users["slindqvist"]
    assert sofia["departmentId"] == fake.by_code("OPS-LOG")["departmentId"]
    assert sofia["fields"]["email"] == "sofia.lindqvist@northwind.example"
    assert sofia["fields"]["job_title"] == "Warehouse Operative"
    assert sofia["subordination"] == {
        "subordinationType": "manual",
        "supervisorId": users["bsousa"]["userId"],
    }
    assert sofia["coSubordination"] == {
        "subordinationType": "manual",
        "supervisorId": users["gsuzuki"]["userId"],
    }
    assert users["klovik"]["subordination"] == {"subordinationType": "inherit"}  # blank manager: inherit
    assert not PAST_LEAVERS & set(users)
    assert fake.users[owner]["status"] == 1 and fake.users[owner]["fields"]["first_name"] == "Olga"

    groups = {g["name"]: g for g in fake.groups.values()}
    assert set(groups) == DEMO_GROUPS
    assert sofia["userId"] in groups["Green Team"]["userIds"]
    green_team = [row for row in _demo_rows() if row["Team"] == "Green Team" and row["Login"] in users]
    assert set(groups["Green Team"]["userIds"]) == {users[row["Login"]]["userId"] for row in green_team}

    writes_before = len(fake.write_calls())
    code, summary, text = sync(fake, config, capsys)
    assert code == 0, text
    assert fake.write_calls()[writes_before:] == []
    assert all(
        not counts for entity, counts in summary.items() if entity in ("users", "departments", "groups")
    )


def test_a_leaver_is_deactivated_with_status_3_and_an_empty_department_is_deleted(
    workspace, capsys, tmp_path
):
    fake, config, owner = workspace
    assert sync(fake, config, capsys)[0] == 0
    # someone an administrator added by hand, in the tree but in no HR file, and a department HR dropped
    stray_department = fake.add_department("Old Projects", "OLD", fake.by_code("HQ")["departmentId"])
    stray = fake.add_user("stray", "stray@northwind.example", department=fake.by_code("ENG")["departmentId"])
    code, summary, text = sync(fake, config, capsys)
    assert code == 0, text
    assert summary["users"] == {"deactivate": 1}
    assert summary["departments"] == {"delete": 1}
    assert fake.users[stray]["status"] == 3
    assert stray_department not in fake.departments
    assert fake.users[owner]["status"] == 1


def test_a_429_burst_with_retry_after_and_a_500_burst_are_retried(workspace, capsys, monkeypatch):
    fake, config, _ = workspace
    waits = []
    monkeypatch.setitem(http.request.__kwdefaults__, "sleep", waits.append)
    fake.throttle(2, retry_after="2")
    fake.fail(2, status=500)
    code, summary, text = sync(fake, config, capsys)
    assert code == 0, text
    assert [status for _, _, status in fake.calls[:5]] == [429, 429, 500, 500, 200]
    assert waits[:2] == [2.0, 2.0]  # Retry-After honoured
    assert len(fake.users) == 270


def test_bad_credentials_are_one_line_and_nothing_is_applied(workspace, capsys, monkeypatch):
    fake, config, _ = workspace
    monkeypatch.setenv("ISPRING_CLIENT_SECRET", "wrong-secret-123")
    code, summary, text = sync(fake, config, capsys)
    assert code != 0
    assert fake.write_calls() == [] and len(fake.users) == 1
    lines = [line for line in text.splitlines() if line.startswith("rostersync: ")]  # Dagster logs aside
    assert len(lines) == 1, text
    message = lines[0]
    assert "iSpring Learn" in message and "client credentials" in message, message
    assert "wrong-secret-123" not in text + json.dumps(summary)


# the target alone, for what a whole sync does not reach ------------------------------------------------


@pytest.fixture
def target():
    fake = IspringFake(page_size=3)
    clock = [0.0]
    fake.clock = lambda: clock[0]
    with http.extra_transports({HOST: WSGIAdapter(fake)}):
        client = IspringClient(HOST, CLIENT_ID, CLIENT_SECRET, clock=lambda: clock[0])
        yield fake, IspringLearn(client), clock
        client.close()


def test_token_is_renewed_before_its_30_minutes_end_and_once_on_a_401(target):
    fake, lms, clock = target
    lms.read_state()
    assert fake.token_requests == 1
    clock[0] = 25 * 60 + 1  # past 25 minutes: renewed before the LMS would refuse it
    lms.read_state()
    assert fake.token_requests == 2
    fake.tokens.clear()  # the LMS revoked every token: one 401, one new token, the call goes through
    lms.read_state()
    assert fake.token_requests == 3
    assert sum(1 for _, _, status in fake.calls if status == 401) == 1


def test_unique_login_and_email_are_refused_with_the_lms_message(target):
    fake, lms, _ = target
    fake.add_user("jdoe", "jdoe@x.example")
    with pytest.raises(TargetError, match="User with the same login is already registered"):
        lms.apply(Operation("users", "create", None, {"login": "JDoe", "email": "other@x.example"}))
    other = lms.apply(Operation("users", "create", None, {"login": "ann", "email": "ann@x.example"}))
    with pytest.raises(TargetError, match=r"Invalid value jdoe@x.example. Field email must be unique"):
        lms.apply(Operation("users", "update", other, {"email": "jdoe@x.example"}))
    assert fake.users[other]["fields"]["login"] == "ann"  # the update carried the login iSpring requires


def test_group_members_are_kept_when_one_is_added_and_a_department_with_users_is_not_deleted(target):
    fake, lms, _ = target
    department = fake.add_department("Sales", "SALES")
    ann, bob, cy = (fake.add_user(login, f"{login}@x.example", department=department) for login in "abc")
    group = fake.add_group("Mentors", [ann, bob])
    lms.apply(Operation("group_members", "add_member", group, {"user_id": cy}))
    assert set(fake.groups[group]["userIds"]) == {ann, bob, cy}
    lms.apply(Operation("group_members", "remove_member", group, {"user_id": ann}))
    assert set(fake.groups[group]["userIds"]) == {bob, cy}
    with pytest.raises(TargetError, match="contains users"):
        lms.apply(Operation("departments", "delete", department))
    state = lms.read_state()
    assert set(state.group_members["user_id"]) == {bob, cy}
    assert state.departments["parent_id"].tolist() == [None]


def test_find_adopts_a_record_a_killed_run_created(target):
    fake, lms, _ = target
    user = fake.add_user("ann", "ann@x.example")
    department = fake.add_department("Sales", "SALES")
    group = fake.add_group("Mentors")
    assert lms.find(Operation("users", "create", None, {"login": "nobody", "email": "ann@x.example"})) == user
    assert lms.find(Operation("departments", "create", None, {"code": "SALES"})) == department
    assert lms.find(Operation("groups", "create", None, {"name": "mentors"})) == group
    assert lms.find(Operation("users", "create", None, {"login": "zed", "email": "zed@x.example"})) is None


def test_without_accept_json_the_fake_answers_xml_and_500s_become_transient(target, monkeypatch):
    fake, lms, _ = target
    monkeypatch.setitem(http.request.__kwdefaults__, "sleep", lambda seconds: None)
    session = http.new_session()
    token = session.post(f"{HOST}/api/v3/token", data={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                                       "grant_type": "client_credentials"}).json()  # fmt: skip
    answer = session.get(f"{HOST}/groups", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert answer.headers["Content-Type"] == "application/xml" and answer.text.startswith("<response>")
    fake.fail(10, status=503)
    with pytest.raises(TransientTargetError, match="503"):
        lms.client.call("GET", "/groups")


def _demo_rows() -> list[dict]:
    import csv

    with open(REPO / "data" / "demo" / "users.csv", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))
