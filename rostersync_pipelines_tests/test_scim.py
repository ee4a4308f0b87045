"""The SCIM 2.0 target against the real scim2-server (in-process WSGI, unchanged), alone and through `rostersync sync`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from wsgiadapter import WSGIAdapter

from rostersync_pipelines import cli, http
from rostersync_pipelines.errors import TargetError, TransientTargetError
from rostersync_pipelines.targets.base import Operation
from rostersync_pipelines.targets.scim import ScimLms
from rostersync_pipelines.targets.scim_client import ScimClient, quoted
from rostersync_pipelines.targets.scim_departments import Departments
from rostersync_pipelines.targets.scim_users import ENTERPRISE
from rostersync_pipelines_tests.fakes.https_proxy import FakeInternet
from rostersync_pipelines_tests.fakes.scim import ScimPeer

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "data" / "demo"
BASE = "https://lms.example.com/scim/v2"
TOKEN = "scim-test-token"
GROUPS = {"Onboarding 2026", "Safety Champions", "Mentors", "First Aiders", "Leadership Track", "Green Team"}


@pytest.fixture
def no_backoff(monkeypatch):
    """Retries without their random waits (a Retry-After the server sends is still honoured)."""
    monkeypatch.setattr(http, "backoff", lambda attempt, base=0.5, cap=30.0: 0.0)


@pytest.fixture
def peer():
    peer = ScimPeer(token=TOKEN)
    with http.extra_transports({"https://lms.example.com": WSGIAdapter(peer)}):
        yield peer


def target(token: str = TOKEN) -> ScimLms:
    return ScimLms(ScimClient(BASE, token), Departments("sqlite://", BASE))


def new_user(login: str, **values) -> Operation:
    return Operation("users", "create", None, {"login": login, "status": "active", **values})


def test_the_peer_passes_scim2_testers_rfc_checks_through_our_wrapper():
    """The prefix mount and the knobs in front of scim2-server change nothing a SCIM client can see."""
    from scim2_client.engines.wsgi import WSGISCIMClient
    from scim2_tester import check_server

    client = WSGISCIMClient(
        ScimPeer(token=TOKEN), base_url=BASE, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    client.discover()
    results = check_server(client)
    assert len(results) > 100
    assert [(result.title, result.reason) for result in results if result.status.name != "SUCCESS"] == []


def test_filter_values_are_escaped_so_they_cannot_change_the_query(peer):
    lms = target()
    odd = 'o"brien\\x'
    assert quoted(odd) == '"o\\"brien\\\\x"'
    made = lms.apply(new_user(odd, email="ob@acme.example"))
    lms.apply(new_user('o" or userName pr or "'))
    assert lms.find(new_user(odd.upper())) == made  # userName is not case-exact (RFC 7643 §4.1.1)
    assert lms.find(new_user("nobody", email="ob@acme.example")) == made  # then by email
    assert lms.find(new_user('x" or userName pr or "')) is None


def test_read_state_pages_with_start_index_and_count_until_total_results():
    small_pages = ScimPeer(token=TOKEN, max_results=2)
    with http.extra_transports({"https://lms.example.com": WSGIAdapter(small_pages)}):
        lms = target()
        department = lms.apply(
            Operation("departments", "create", None, {"code": "ENG", "name": "Engineering"})
        )
        boss = lms.apply(
            new_user("boss", department_id=department, first_name="Ada", email="ada@acme.example")
        )
        for number in range(4):
            lms.apply(new_user(f"u{number}", manager_id=boss, department_id=department))
        before = small_pages.calls["GET"]
        state = lms.read_state()
    assert small_pages.calls["GET"] - before == 3 + 1  # 5 users in pages of 2, then one page of groups
    users = state.users.set_index("login")
    assert sorted(users.index) == ["boss", "u0", "u1", "u2", "u3"]
    assert set(users.loc[["u0", "u3"], "manager_id"]) == {boss}
    assert set(users["department_id"]) == {department}
    assert users.at["boss", "email"] == "ada@acme.example" and users.at["boss", "role"] == "learner"
    assert state.departments.to_dict("records") == [
        {
            "id": department,
            "code": "ENG",
            "name": "Engineering",
            "parent_id": None,
            "department_unique_key": None,
        }
    ]


def test_users_are_scim_users_with_the_enterprise_extension(peer):
    lms = target()
    department = lms.apply(Operation("departments", "create", None, {"code": "S", "name": "Sales"}))
    boss = lms.apply(new_user("boss"))
    values = dict(email="ada@acme.example", first_name="Ada", last_name="Lovelace", user_unique_key="E001")
    ada = lms.apply(
        new_user(
            "ada", department_id=department, manager_id=boss, custom_fields={"employeeNumber": "7"}, **values
        )
    )
    (stored,) = [user for user in peer.resources("User") if user["id"] == ada]
    assert stored["userName"] == "ada" and stored["externalId"] == "E001" and stored["active"] is True
    assert stored["name"]["givenName"] == "Ada" and stored["name"]["familyName"] == "Lovelace"
    assert stored["emails"] == [{"value": "ada@acme.example", "type": "work", "primary": True}]
    assert stored[ENTERPRISE]["department"] == "Sales" and stored[ENTERPRISE]["manager"]["value"] == boss
    assert stored[ENTERPRISE]["employeeNumber"] == "7"

    patches = peer.calls["PATCH"]
    lms.apply(Operation("users", "update", ada, {"status": "inactive", "manager_id": None}))
    lms.apply(Operation("departments", "update", department, {"name": "Sales & Marketing"}))
    assert peer.calls["PATCH"] - patches == 2  # the rename reaches the one user who carries it
    (stored,) = [user for user in peer.resources("User") if user["id"] == ada]
    assert stored["active"] is False and stored[ENTERPRISE].get("manager") is None
    assert stored[ENTERPRISE]["department"] == "Sales & Marketing"


def test_groups_and_memberships_are_patches_of_the_group(peer):
    lms = target()
    ada, bob = lms.apply(new_user("ada")), lms.apply(new_user("bob"))
    group = lms.apply(Operation("groups", "create", None, {"name": "Mentors"}))
    for user in (ada, bob):
        lms.apply(Operation("group_members", "add_member", group, {"user_id": user}))
    lms.apply(Operation("group_members", "remove_member", group, {"user_id": ada}))
    state = lms.read_state()
    assert state.groups.to_dict("records") == [{"id": group, "name": "Mentors"}]
    assert state.group_members.to_dict("records") == [{"group_id": group, "user_id": bob}]
    assert lms.find(Operation("groups", "create", None, {"name": "Mentors"})) == group


def test_a_change_made_on_the_server_meanwhile_is_refused_by_its_etag(peer):
    lms = target()
    ada = lms.apply(new_user("ada"))
    lms.read_state()
    other = target()  # an administrator changes ada after our read
    other.read_state()
    other.apply(Operation("users", "update", ada, {"first_name": "Augusta"}))
    with pytest.raises(TargetError, match=r"changed on the SCIM server .* since it was read \(412\)"):
        lms.apply(Operation("users", "update", ada, {"first_name": "Ada"}))


def test_refusals_carry_the_servers_detail(peer):
    lms = target()
    lms.apply(new_user("ada"))
    with pytest.raises(TargetError) as refused:
        lms.apply(new_user("ADA"))
    assert not isinstance(refused.value, TransientTargetError)
    assert str(refused.value) == (
        f'the SCIM server at {BASE} refused users create (login "ADA") (409): '
        "One or more of the attribute values are already in use or are reserved [uniqueness]"
    )


def test_a_429_burst_waits_what_retry_after_asks(peer):
    peer.fail(429, times=2, retry_after=1)
    started = time.monotonic()
    made = target().apply(new_user("ada"))
    assert time.monotonic() - started >= 2
    assert [user["id"] for user in peer.resources("User")] == [made]


def test_a_500_burst_longer_than_the_retries_is_transient(peer, no_backoff):
    peer.fail(500, times=20)
    with pytest.raises(TransientTargetError, match="still answered 500 after retries"):
        target().apply(new_user("ada"))
    assert peer.resources("User") == []


def test_a_bad_token_is_one_line_without_the_token(peer):
    with pytest.raises(TargetError) as refused:
        target("wrong-token-123").read_state()
    message = str(refused.value)
    assert "\n" not in message and "wrong-token-123" not in message
    assert message.startswith(f"the SCIM server at {BASE} refused the bearer token (401): set target.token")


# --- end to end: rostersync sync -----------------------------------------------------------------------------


def write_config(folder: Path, **changes) -> Path:
    """The demo config (rostersync.yaml) with a SCIM target; the fields SCIM cannot hold become SCIM ones."""
    raw = yaml.safe_load((REPO / "rostersync.yaml").read_text(encoding="utf-8"))
    sync = raw["syncs"]["employees"]
    sync["sources"]["users"]["path"] = str(DEMO / "users.csv")
    sync["sources"]["departments"]["path"] = str(DEMO / "departments.xlsx")
    del sync["fields"]["users"]["functional_manager"]
    sync["fields"]["users"]["custom"] = {"title": "Title", "employeeNumber": "EmployeeId"}
    sync["target"] = {"kind": "scim", "url": BASE, "token": "${SCIM_TOKEN}"}
    raw["state"] = {"url": f"sqlite:///{folder / 'state.db'}", "plans_dir": str(folder / "plans")}
    for key, value in changes.items():
        sync[key] = value
    path = folder / "rostersync.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def sync(config: Path, capsys) -> tuple[int, str, str]:
    """Exit code, stdout, stderr (where an in-process failed run also gets Dagster's own log lines)."""
    code = cli.main(["--config", str(config), "sync", "--json"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def cli_env(tmp_path, monkeypatch, no_backoff):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("SCIM_TOKEN", TOKEN)
    return tmp_path


def test_rostersync_sync_to_scim_then_nothing_to_do(cli_env, peer, capsys):
    admin = target().apply(new_user("admin", email="admin@northwind.example"))  # the LMS's own administrator
    peer.fail(429, times=2, retry_after=1)  # the server throttles the first calls
    config = write_config(cli_env)

    code, out, err = sync(config, capsys)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["users"]["create"] == 269 and summary["departments"] == {"create": 24}
    assert summary["failed"] == []
    users = {user["userName"]: user for user in peer.resources("User")}
    assert len(users) == 270 and users["admin"]["active"] is True  # protected_logins: admin left alone
    assert users["slindqvist"][ENTERPRISE]["department"] == "Logistics"
    assert users["slindqvist"][ENTERPRISE]["manager"]["value"] == users["bsousa"]["id"]
    assert users["slindqvist"][ENTERPRISE]["employeeNumber"] == "E00522"
    assert (
        users["slindqvist"]["title"] == "Warehouse Operative"
        and users["slindqvist"]["externalId"] == "E00522"
    )
    assert users["apereira"]["emails"][0]["value"].endswith("@mail.example")  # the PersonalEmail fallback
    groups = {group["displayName"]: group for group in peer.resources("Group")}
    assert set(groups) == GROUPS
    mentors = {member["value"] for member in groups["Mentors"]["members"]}
    assert mentors and mentors <= {user["id"] for user in users.values()}

    writes = peer.writes
    code, out, err = sync(config, capsys)
    assert code == 0, err
    second = json.loads(out)
    assert second["users"] == {} and second["departments"] == {} and second["groups"] == {}
    assert peer.writes == writes, "a sync with nothing to change makes no write call"
    assert not [user for user in peer.resources("User") if user["id"] == admin and not user["active"]]
    assert TOKEN.encode() not in (cli_env / "state.db").read_bytes()


def test_rostersync_sync_with_a_bad_token_applies_nothing(cli_env, peer, capsys, monkeypatch):
    monkeypatch.setenv("SCIM_TOKEN", "not-the-token-42")
    code, out, err = sync(write_config(cli_env), capsys)
    assert code == 1
    (line,) = [line for line in err.splitlines() if line.startswith("rostersync:")]
    assert "refused the bearer token (401)" in line and "not-the-token-42" not in out + err
    assert peer.writes == 0 and peer.resources("User") == []


def test_a_mapping_scim_cannot_hold_is_refused_before_any_call(cli_env, peer, capsys):
    config = write_config(cli_env)
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    raw["syncs"]["employees"]["fields"]["users"]["functional_manager"] = "FunctionalManagerLogin"
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    code, _out, err = sync(config, capsys)
    assert code == 1
    (line,) = [line for line in err.splitlines() if line.startswith("rostersync:")]
    assert "a SCIM target has no functional manager; remove fields.users.functional_manager" in line
    assert sum(peer.calls.values()) == 0


def test_a_real_rostersync_subprocess_reaches_scim_through_https_proxy(tmp_path):
    """The CLI as a user runs it: its SCIM calls honour HTTPS_PROXY and REQUESTS_CA_BUNDLE (FakeInternet)."""
    users = tmp_path / "users.csv"
    lines = (DEMO / "users.csv").read_text(encoding="utf-8").splitlines()
    users.write_text("\n".join(lines[:21]) + "\n", encoding="utf-8")  # the header and 20 people
    config = write_config(tmp_path)
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    raw["syncs"]["employees"]["sources"]["users"]["path"] = str(users)
    raw["syncs"]["employees"]["safety"]["min_source_rows_ratio"] = 0
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    peer = ScimPeer(token=TOKEN)
    with FakeInternet({"lms.example.com": peer}) as net:
        env = {**os.environ, **net.env, "SCIM_TOKEN": TOKEN, "DAGSTER_HOME": str(tmp_path / "dagster_home")}
        done = subprocess.run(
            [str(Path(sys.executable).parent / "rostersync"), "--config", str(config), "sync", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    created = json.loads(done.stdout)["users"]["create"]
    assert created > 10 and len(peer.resources("User")) == created
    assert net.requests["lms.example.com"] == sum(peer.calls.values()) > created
