"""The Entra ID source against the fake Graph: paging, tokens, throttling, the delta over several syncs,
scope from groups, the changes sensor, and `rostersync sync` end to end into the embedded LMS."""

from __future__ import annotations

import json
import time

import pytest
import yaml

from rostersync_pipelines import cli, http
from rostersync_pipelines.config import Config
from rostersync_pipelines.errors import SourceError
from rostersync_pipelines.sources import SourceContext, entra, read_source
from rostersync_pipelines.state import StateStore
from rostersync_pipelines.targets.embedded import EmbeddedLms
from rostersync_pipelines_tests.fakes.graph import CLIENT_ID, CLIENT_SECRET, TENANT_ID, FakeGraph

FIELDS = {
    "user_unique_key": "id",
    "login": "userPrincipalName",
    "email": "mail",
    "first_name": "givenName",
    "last_name": "surname",
    "department": "department",
    "manager": "manager.userPrincipalName",
    "status": "accountEnabled",
    "groups": "groups",
}


def person(fake: FakeGraph, login: str, department: str, manager: str | None = None, **extra) -> str:
    first, last = login.split(".")
    properties = {
        "userPrincipalName": f"{login}@contoso.com",
        "mail": f"{login}@contoso.com",
        "givenName": first.title(),
        "surname": last.title(),
        "department": department,
        "accountEnabled": True,
    }
    return fake.add_user(manager=manager, **{**properties, **extra})


@pytest.fixture
def tenant():
    """Sales (direct members) and Engineering (one direct member and a nested group); one person outside."""
    fake = FakeGraph(max_page_size=2)
    ids = {}
    ids["ceo"] = person(fake, "olga.chief", "Board")  # in no scope group, yet the manager of two
    ids["ann"] = person(fake, "ann.seller", "Sales", ids["ceo"])
    ids["bob"] = person(fake, "bob.seller", "Sales", ids["ann"])
    ids["cy"] = person(fake, "cy.builder", "Engineering", ids["ceo"])
    ids["dee"] = person(fake, "dee.builder", "Engineering", ids["cy"], accountEnabled=False)
    ids["eve"] = person(fake, "eve.both", "Engineering", ids["cy"])
    platform = fake.add_group("Platform", [ids["dee"], ids["eve"]])
    ids["sales"] = fake.add_group("Sales", [ids["ann"], ids["bob"], ids["eve"]])
    ids["engineering"] = fake.add_group("Engineering", [ids["cy"], platform])
    return fake, ids


def config_for(tmp_path, groups=("Sales", "Engineering"), fields=None, **source) -> Config:
    users = {
        "kind": "entra_id",
        "tenant_id": TENANT_ID,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "groups": list(groups),
        **source,
    }
    raw = {
        "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
        "syncs": {
            "staff": {
                "sources": {"users": users},
                "fields": {"users": fields or FIELDS},
                "target": {"kind": "embedded", "url": f"sqlite:///{tmp_path / 'lms.db'}"},
            }
        },
    }
    return Config.model_validate(raw)


def context(config: Config, remember: bool = True) -> SourceContext:
    cursors = StateStore(config.state.url).cursors("staff", "users") if remember else None
    sync = config.syncs["staff"]
    return SourceContext("users", "staff", sync, config, None, cursors, time.monotonic() + 60)


def read(fake: FakeGraph, config: Config, remember: bool = True):
    with http.extra_transports(fake.transports()):
        return entra.read(config.syncs["staff"].sources["users"], context(config, remember))


def by_login(frame) -> dict[str, dict]:
    return {row["userPrincipalName"]: row for row in frame.to_dict("records")}


# -- the happy path ----------------------------------------------------------------------------------------------


def test_users_in_scope_read_across_pages_with_manager_status_and_groups(tenant, tmp_path):
    fake, ids = tenant
    frame = read(fake, config_for(tmp_path))
    assert len(fake.delta_requests()) >= 3, "six users at two per page"
    rows = by_login(frame)
    assert set(rows) == {
        f"{name}@contoso.com"
        for name in ("ann.seller", "bob.seller", "cy.builder", "dee.builder", "eve.both")
    }
    ann, dee, eve = (
        rows["ann.seller@contoso.com"],
        rows["dee.builder@contoso.com"],
        rows["eve.both@contoso.com"],
    )
    assert ann["manager.userPrincipalName"] == "olga.chief@contoso.com", (
        "a manager outside the scope still names"
    )
    assert (ann["accountEnabled"], dee["accountEnabled"]) == ("true", "false")
    assert eve["groups"] == "Sales;Engineering" and dee["groups"] == "Engineering", "nested groups count"
    assert ann["id"] == ids["ann"] and ann["givenName"] == "Ann" and ann["department"] == "Sales"
    assert sorted(frame["__row__"]) == [1, 2, 3, 4, 5]
    assert all(
        value is None or isinstance(value, str) for value in frame.drop(columns="__row__").to_numpy().ravel()
    )
    first = fake.delta_requests()[0]
    assert first.startswith("$select=id,") and first.endswith(",manager")


def test_lists_objects_and_keys_of_objects_read_as_text(tenant, tmp_path):
    fake, ids = tenant
    fake.update_user(ids["ann"], businessPhones=["+1 555 0100", "+1 555 0101"])
    fake.update_user(ids["ann"], employeeOrgData={"division": "EMEA", "costCenter": "C-17"})
    custom = {"phones": "businessPhones", "division": "employeeOrgData.division", "boss": "manager"}
    frame = read(fake, config_for(tmp_path, fields={**FIELDS, "custom": custom}))
    ann = by_login(frame)["ann.seller@contoso.com"]
    assert (ann["businessPhones"], ann["employeeOrgData.division"]) == ("+1 555 0100;+1 555 0101", "EMEA")
    assert (
        ann["manager"] == ids["ceo"] and by_login(frame)["bob.seller@contoso.com"]["businessPhones"] is None
    )


def test_without_groups_every_user_of_the_tenant_is_read(tenant, tmp_path):
    fake, _ = tenant
    frame = read(fake, config_for(tmp_path, groups=()))
    assert len(frame) == 6 and frame["groups"].isna().all()


def test_a_group_by_object_id_and_a_name_with_a_quote(tenant, tmp_path):
    fake, ids = tenant
    fake.add_group("O'Brien's Team", [ids["bob"]])
    frame = read(fake, config_for(tmp_path, groups=(ids["sales"], "o'brien's team")))
    assert by_login(frame)["bob.seller@contoso.com"]["groups"] == "Sales;O'Brien's Team"


@pytest.mark.parametrize(
    "groups, message",
    [
        (["Marketing"], "no group is named 'Marketing'"),
        (["00000000-0000-4000-8000-000000000000"], "no group has the object id"),
        (["Sales", "Twins"], "2 groups are named 'Twins'; write the object id"),
    ],
)
def test_a_scope_group_that_does_not_resolve_is_one_line(tenant, tmp_path, groups, message):
    fake, _ = tenant
    fake.add_group("Twins")
    fake.add_group("twins")
    with pytest.raises(SourceError, match=message) as error:
        read(fake, config_for(tmp_path, groups=groups))
    assert "\n" not in str(error.value) and TENANT_ID in str(error.value)


def test_a_national_cloud_uses_its_own_login_and_graph_hosts(tmp_path):
    fake = FakeGraph(cloud="usgov")
    person(fake, "gov.worker", "Ops")
    frame = read(fake, config_for(tmp_path, groups=(), cloud="usgov"))
    assert list(frame["userPrincipalName"]) == ["gov.worker@contoso.com"]
    assert {host for host, _, _ in fake.calls} == {"login.microsoftonline.us", "graph.microsoft.us"}


# -- failures a person fixes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source, expected",
    [
        ({"client_secret": "wrong-secret-value"}, "invalid_client: AADSTS7000215"),
        ({"client_id": "11111111-2222-4333-8444-555555555555"}, "check client_id"),
        ({"tenant_id": "fabrikam.onmicrosoft.com"}, "does not know this tenant; check tenant_id"),
    ],
)
def test_an_auth_failure_is_one_line_naming_the_tenant_without_the_secret(tenant, tmp_path, source, expected):
    fake, _ = tenant
    config = config_for(tmp_path, **source)
    with http.extra_transports(fake.transports()):
        table = read_source("users", config.syncs["staff"], config, sync_name="staff")
    assert table.frame is None and expected in table.error
    assert "\n" not in table.error and "Entra ID tenant" in table.error
    assert CLIENT_SECRET not in table.error and "wrong-secret-value" not in table.error
    assert fake.graph_calls() == 0


def test_missing_permissions_name_the_ones_to_grant(tenant, tmp_path):
    fake, _ = tenant
    fake.forbid()
    with pytest.raises(SourceError, match="403 Authorization_RequestDenied.*GroupMember.Read.All"):
        read(fake, config_for(tmp_path))


def test_an_attribute_graph_does_not_know_is_refused_with_the_fix(tenant, tmp_path):
    fake, _ = tenant
    fields = {**FIELDS, "custom": {"cost_centre": "costCentre"}}
    with pytest.raises(SourceError, match="named 'costCentre'.*check the spelling in fields.users"):
        read(fake, config_for(tmp_path, fields=fields))


def test_throttling_waits_for_retry_after_then_reads_everything(tenant, tmp_path):
    fake, _ = tenant
    fake.throttle(times=2, retry_after="1")
    started = time.monotonic()
    frame = read(fake, config_for(tmp_path))
    assert time.monotonic() - started >= 2.0, "each 429 waited the second Retry-After asked for"
    assert len(frame) == 5 and fake.throttled == 0


# -- the delta over several syncs ---------------------------------------------------------------------------------


def test_delta_over_three_syncs_create_then_changes_then_reset(tenant, tmp_path):
    fake, ids = tenant
    config = config_for(tmp_path)
    first = read(fake, config)
    assert len(first) == 5 and not any("deltatoken" in query for query in fake.delta_requests())

    fake.update_user(ids["ann"], userPrincipalName="ann.lead@contoso.com", department="Sales EMEA")
    fake.update_user(ids["bob"], manager=None)
    fake.delete_user(ids["cy"])  # removed from the tenant
    fake.groups[ids["sales"]].members.remove(ids["eve"])  # still in Engineering through Platform
    fake.groups[ids["sales"]].members.remove(ids["bob"])  # leaves the scope
    newcomer = person(fake, "fay.new", "Sales", ids["ann"])
    fake.groups[ids["sales"]].members.append(newcomer)
    fake.update_user(ids["dee"], city="Lyon")  # not selected: Graph does not report it
    before = len(fake.delta_requests())
    second = by_login(read(fake, config))
    rounds = fake.delta_requests()[before:]
    assert rounds[0].startswith("$deltatoken=") and len(rounds) == 2, "four changed users, two per page"
    assert set(second) == {
        "ann.lead@contoso.com",
        "dee.builder@contoso.com",
        "eve.both@contoso.com",
        "fay.new@contoso.com",
    }
    assert second["ann.lead@contoso.com"]["id"] == ids["ann"], "a renamed UPN keeps its object id"
    assert second["ann.lead@contoso.com"]["department"] == "Sales EMEA"
    assert second["fay.new@contoso.com"]["manager.userPrincipalName"] == "ann.lead@contoso.com"
    assert second["dee.builder@contoso.com"]["manager.userPrincipalName"] is None, "cy, her manager, is gone"
    assert second["eve.both@contoso.com"]["groups"] == "Engineering"

    fake.expire_delta_links("gone")
    fake.update_user(ids["eve"], surname="Both-Smith")
    before = len(fake.delta_requests())
    third = by_login(read(fake, config))
    rounds = fake.delta_requests()[before:]
    assert rounds[0].startswith("$deltatoken=") and rounds[1].startswith("$select="), "410, then a full read"
    assert third["eve.both@contoso.com"]["surname"] == "Both-Smith" and set(third) == set(second)

    before = len(fake.delta_requests())
    read(fake, config)
    assert fake.delta_requests()[before].startswith("$deltatoken="), "the full read stored a new delta link"


def test_an_expired_delta_link_starts_a_full_read(tenant, tmp_path):
    fake, ids = tenant
    config = config_for(tmp_path)
    read(fake, config)
    fake.expire_delta_links("expired")
    fake.delete_user(ids["bob"])
    before = len(fake.delta_requests())
    frame = read(fake, config)
    assert [query[:7] for query in fake.delta_requests()[before : before + 2]] == ["$deltat", "$select"]
    assert "bob.seller@contoso.com" not in set(frame["userPrincipalName"]) and len(frame) == 4


def test_a_read_that_fails_half_way_keeps_the_previous_delta_link(tenant, tmp_path):
    fake, ids = tenant
    config = config_for(tmp_path)
    read(fake, config)
    cursors = context(config).cursors
    link, picture = cursors.get("delta_link"), cursors.get("picture")
    for name in ("ann", "bob", "cy"):
        fake.update_user(ids[name], department="Renamed")
    fake.fail_delta_after(1)
    with pytest.raises(SourceError, match="503 serviceNotAvailable.*sync again later"):
        read(fake, config)
    assert (cursors.get("delta_link"), cursors.get("picture")) == (link, picture)
    fake.fail_delta_after(None)
    frame = read(fake, config)
    assert set(frame.loc[frame["userPrincipalName"].str.startswith(("ann", "bob", "cy")), "department"]) == {
        "Renamed"
    }
    assert cursors.get("delta_link") != link


def test_without_cursors_every_read_is_a_full_read(tenant, tmp_path):
    fake, _ = tenant
    config = config_for(tmp_path)
    read(fake, config, remember=False)
    read(fake, config, remember=False)
    assert not any(query.startswith("$deltatoken") for query in fake.delta_requests())


def test_a_changed_mapping_reads_in_full_once(tenant, tmp_path):
    fake, _ = tenant
    read(fake, config_for(tmp_path))
    before = len(fake.delta_requests())
    frame = read(fake, config_for(tmp_path, fields={**FIELDS, "custom": {"title": "jobTitle"}}))
    assert fake.delta_requests()[before].startswith("$select=") and "jobTitle" in frame.columns


def test_the_picture_is_stored_without_any_secret(tenant, tmp_path):
    fake, _ = tenant
    config = config_for(tmp_path)
    read(fake, config)
    cursors = context(config).cursors
    stored = " ".join(cursors.get(name) or "" for name in ("delta_link", "picture", "scope"))
    assert CLIENT_SECRET not in stored and not any(token in stored for token in fake.tokens)
    assert cursors.get("delta_link").startswith("https://graph.microsoft.com/v1.0/users/delta?$deltatoken=")


# -- the changes sensor ------------------------------------------------------------------------------------------


def test_changed_follows_the_delta_link_without_storing_it(tenant, tmp_path):
    fake, ids = tenant
    config = config_for(tmp_path)
    spec = config.syncs["staff"].sources["users"]
    with http.extra_transports(fake.transports()):
        assert entra.changed(spec, context(config), None).changed, "nothing read yet"
        entra.read(spec, context(config))
        link = context(config).cursors.get("delta_link")
        quiet = entra.changed(spec, context(config), None)
        assert not quiet.changed and "no user changed" in quiet.reason
        fake.update_user(ids["dee"], city="Lyon")
        assert not entra.changed(spec, context(config), quiet.cursor).changed, "an unselected property"
        fake.empty_pages = 2
        fake.update_user(ids["ann"], jobTitle="Lead", department="Sales EMEA")
        found = entra.changed(spec, context(config), quiet.cursor)
        assert found.changed and found.cursor == quiet.cursor
        assert context(config).cursors.get("delta_link") == link, "the sensor stores nothing"
        entra.read(spec, context(config))
        assert not entra.changed(spec, context(config), found.cursor).changed
        fake.groups[ids["sales"]].members.remove(ids["bob"])
        left = entra.changed(spec, context(config), None)
        assert left.changed and "scope groups" in left.reason
        fake.expire_delta_links("gone")
        assert "full read" in entra.changed(spec, context(config), None).reason


def test_the_changes_sensor_asks_entra_through_the_stored_delta_link(tenant, tmp_path):
    from rostersync_pipelines.defs.sensors import source_changes

    fake, ids = tenant
    config = config_for(tmp_path)
    with http.extra_transports(fake.transports()):
        read(fake, config)
        quiet = source_changes(config, "staff", {})["users"]
        fake.update_user(ids["bob"], surname="Seller-Jones")
        moved = source_changes(config, "staff", {"users": quiet.cursor})["users"]
    assert (quiet.changed, moved.changed) == (False, True) and moved.cursor == quiet.cursor


def test_a_read_past_its_deadline_is_one_line(tenant, tmp_path):
    fake, _ = tenant
    config = config_for(tmp_path, timeout=0.000001)
    with http.extra_transports(fake.transports()):
        table = read_source("users", config.syncs["staff"], config, sync_name="staff")
    assert table.error.endswith("the read took longer than 1e-06 s; raise timeout")


# -- the fake answers as Graph does -------------------------------------------------------------------------------


def test_the_fake_refuses_what_graph_refuses(tenant):
    fake, _ = tenant
    with http.extra_transports(fake.transports()):
        session = http.new_session()
        base = "https://graph.microsoft.com/v1.0"
        assert session.get(f"{base}/users/delta").json()["error"]["code"] == "InvalidAuthenticationToken"
        fake.tokens.add("t")
        auth = {"Authorization": "Bearer t"}
        assert session.get(f"{base}/users/delta?$top=5", headers=auth).status_code == 400
        page = session.get(f"{base}/users/delta?$select=id", headers=auth).json()
        skip = page["@odata.nextLink"]
        assert session.get(f"{skip}&$select=mail", headers=auth).status_code == 400
        assert session.get(f"{base}/groups?$filter=displayName eq 'O'Brien'", headers=auth).status_code == 400
        fake.throttle(1, "3")
        throttled = session.get(f"{base}/users/delta", headers=auth)
        assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "3")
        assert throttled.json()["error"]["code"] == "TooManyRequests"
        assert set(page) == {"@odata.context", "@odata.nextLink", "value"} and page["value"][0].keys() == {
            "id"
        }


# -- end to end: `rostersync sync` into the embedded LMS -------------------------------------------------------


def write_config(tmp_path) -> str:
    """As DESIGN §1.4 shows it: secrets from the environment, real host names (the fake stands behind them)."""
    raw = {
        "state": {"url": f"sqlite:///{tmp_path / 'state.db'}", "plans_dir": str(tmp_path / "plans")},
        "syncs": {
            "staff": {
                "sources": {
                    "users": {
                        "kind": "entra_id",
                        "tenant_id": "${ENTRA_TENANT_ID}",
                        "client_id": "${ENTRA_CLIENT_ID}",
                        "client_secret": "${ENTRA_CLIENT_SECRET}",
                        "groups": ["Sales", "Engineering"],
                        "cloud": "global",
                    }
                },
                "fields": {"users": FIELDS},
                "policies": {"unknown_departments": "create"},
                "safety": {"max_deactivations": 5},
                "target": {"kind": "embedded", "url": f"sqlite:///{tmp_path / 'lms.db'}"},
            }
        },
    }
    path = tmp_path / "rostersync.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return str(path)


def sync(path: str, capsys) -> dict:
    assert cli.main(["--config", path, "sync", "--json"]) == 0, capsys.readouterr().err
    captured = capsys.readouterr()
    assert CLIENT_SECRET not in captured.out + captured.err
    return json.loads(captured.out)


def lms_users(tmp_path) -> dict[str, dict]:
    lms = EmbeddedLms(f"sqlite:///{tmp_path / 'lms.db'}")
    try:
        state = lms.read_state()
    finally:
        lms.dispose()
    groups = dict(zip(state.groups["id"], state.groups["name"], strict=True))
    users = {row["id"]: {**row, "groups": set()} for row in state.users.to_dict("records")}
    for group_id, user_id in zip(
        state.group_members["group_id"], state.group_members["user_id"], strict=True
    ):
        users[user_id]["groups"].add(groups[group_id])
    logins = {user_id: user["login"] for user_id, user in users.items()}
    return {user["login"]: {**user, "manager": logins.get(user["manager_id"])} for user in users.values()}


def test_rostersync_sync_three_times_from_entra_into_the_embedded_lms(tenant, tmp_path, monkeypatch, capsys):
    fake, ids = tenant
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("ENTRA_TENANT_ID", TENANT_ID)
    monkeypatch.setenv("ENTRA_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("ENTRA_CLIENT_SECRET", CLIENT_SECRET)
    path = write_config(tmp_path)
    with http.extra_transports(fake.transports()):
        first = sync(path, capsys)
        assert first["users"] == {"create": 4} and first["held"] == {}
        users = lms_users(tmp_path)
        # dee's account is disabled in Entra: the engine creates no account for someone who already left
        assert set(users) == {
            f"{n}@contoso.com" for n in ("ann.seller", "bob.seller", "cy.builder", "eve.both")
        }
        assert users["bob.seller@contoso.com"]["manager"] == "ann.seller@contoso.com"
        assert users["eve.both@contoso.com"]["groups"] == {"Sales", "Engineering"}
        ann_id = users["ann.seller@contoso.com"]["id"]

        fake.update_user(ids["ann"], userPrincipalName="ann.lead@contoso.com", mail="ann.lead@contoso.com")
        fake.delete_user(ids["cy"])
        fake.groups[ids["sales"]].members.remove(ids["bob"])  # leaves the scope
        second = sync(path, capsys)
        users = lms_users(tmp_path)
        assert "ann.seller@contoso.com" not in users and users["ann.lead@contoso.com"]["id"] == ann_id, (
            "a rename"
        )
        assert (
            users["bob.seller@contoso.com"]["status"]
            == users["cy.builder@contoso.com"]["status"]
            == "inactive"
        )
        assert second["users"] == {"deactivate": 2, "update": 1} and len(users) == 4

        fake.expire_delta_links("gone")
        fake.update_user(ids["eve"], department="Platform")
        before = len(fake.delta_requests())
        third = sync(path, capsys)
        assert fake.delta_requests()[before + 1].startswith("$select="), "a 410, then a full read"
        assert third["users"] == {"move": 1}, "the full read changed only what changed"
        users = lms_users(tmp_path)
        assert len(users) == 4 and users["eve.both@contoso.com"]["status"] == "active"
