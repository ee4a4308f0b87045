"""The Salesforce source against the in-process org: every login mode, paging, Bulk 2.0, rules pushed
into SOQL, the failures that must end the source in one line, and `rostersync sync` end to end."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from rostersync_pipelines import cli, http
from rostersync_pipelines.config import load_config
from rostersync_pipelines.errors import ConfigError
from rostersync_pipelines.sources import read_source, salesforce
from rostersync_pipelines_tests.fakes.salesforce import FakeSalesforce

CLIENT_ID, CLIENT_SECRET = "3MVG9rZjd7MXFdLhuT0.acmeClientId", "D6F1B2C3E4-very-secret-value"
USERNAME, PASSWORD, TOKEN = "integration@acme.com", "Pa55'word<&>", "tok3nXYZsecret"
FIELDS = {
    "login": "Username",
    "email": "Email",
    "first_name": "FirstName",
    "last_name": "LastName",
    "user_unique_key": "Id",
    "department": "Department",
    "manager": "Manager.Username",
    "status": "IsActive",
}


@pytest.fixture(autouse=True)
def _no_bulk_wait(monkeypatch):
    monkeypatch.setattr(salesforce, "BULK_POLL_SECONDS", 0)


@pytest.fixture(scope="module")
def key_pair(tmp_path_factory):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path_factory.mktemp("jwt") / "server.key"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return path, public


@pytest.fixture
def org(key_pair):
    fake = FakeSalesforce()
    fake.logins.clients[CLIENT_ID] = CLIENT_SECRET
    fake.logins.passwords[USERNAME] = (PASSWORD, TOKEN)
    fake.logins.jwt_apps[CLIENT_ID] = (key_pair[1], {USERNAME})
    boss = fake.org.insert("User", [_user("ceo", "Board", active=True)])[0]
    fake.org.insert(
        "User",
        [
            _user("ada", "Engineering", manager=boss),
            _user("bob", "Sales", manager=boss, active=False),
            _user("cy", None),
            _user("dee", "Sales", manager=boss),
        ],
    )
    with http.extra_transports(fake.mounts()):
        yield fake


def _user(name, department, manager=None, active=True, title=None):
    return {
        "Username": f"{name}@acme.com",
        "Email": f"{name}@acme.com",
        "FirstName": name.title(),
        "LastName": "Smith",
        "Department": department,
        "ManagerId": manager,
        "IsActive": active,
        "Title": title,
    }


def _config(tmp_path, auth=None, rules=(), fields=None, source=None, **sync):
    users = {
        "kind": "salesforce",
        "instance_url": "https://acme.my.salesforce.com",
        "object": "User",
        "auth": auth or {"client_id": "${SF_CLIENT_ID}", "client_secret": "${SF_CLIENT_SECRET}"},
        **(source or {}),
    }
    raw = {
        "state": {"url": f"sqlite:///{tmp_path / 'state.db'}", "plans_dir": str(tmp_path / "plans")},
        "syncs": {
            "employees": {
                "sources": {"users": users},
                "fields": {"users": fields or FIELDS},
                "rules": list(rules),
                "policies": {"unknown_departments": "create", "users_without_department": "import"},
                "target": {"kind": "embedded", "url": f"sqlite:///{tmp_path / 'lms.db'}"},
                **sync,
            }
        },
    }
    path = tmp_path / "rostersync.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _secrets(monkeypatch):
    monkeypatch.setenv("SF_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SF_CLIENT_SECRET", CLIENT_SECRET)


def _read(path):
    config = load_config(path)
    return read_source("users", config.syncs["employees"], config, sync_name="employees")


def _secrets_absent(text: str) -> None:
    for secret in (CLIENT_SECRET, PASSWORD, TOKEN, "very-secret"):
        assert secret not in text


def test_rest_paging_over_three_pages_reads_every_mapped_field(org, tmp_path):
    org.page_size = 2
    table = _read(_config(tmp_path))
    assert table.error is None
    frame = table.frame
    assert sorted(frame.columns) == sorted([*FIELDS.values(), "__row__"])
    assert frame["Username"].tolist() == [f"{n}@acme.com" for n in ("ceo", "ada", "bob", "cy", "dee")]
    assert frame["Manager.Username"].tolist() == [None, "ceo@acme.com", "ceo@acme.com", None, "ceo@acme.com"]
    assert frame["IsActive"].tolist() == ["true", "true", "false", "true", "true"]
    assert frame["Department"].tolist()[3] is None
    assert frame["__row__"].tolist() == [1, 2, 3, 4, 5]
    data = [call for call in org.calls if call["path"].startswith("/services/data/")]
    pages = [call for call in data if "/query/01g" in call["path"]]
    assert len(pages) == 2, "three pages: the first answer and two nextRecordsUrl follow-ups"
    assert org.queries == [
        "SELECT COUNT() FROM User",
        "SELECT Id, Username, Email, FirstName, LastName, Department, Manager.Username, IsActive FROM User",
    ]
    token = org.calls[0]
    assert (token["host"], token["path"]) == ("acme.my.salesforce.com", "/services/oauth2/token")


def test_soap_login_with_security_token_against_test_domain(org, tmp_path):
    auth = {"username": USERNAME, "password": PASSWORD, "security_token": TOKEN, "domain": "test"}
    table = _read(_config(tmp_path, auth=auth))
    assert table.error is None and len(table.frame) == 5
    assert org.calls[0]["host"] == "test.salesforce.com"
    assert org.calls[0]["path"] == "/services/Soap/u/62.0"


def test_jwt_bearer_login_is_signed_with_the_private_key(org, tmp_path, key_pair):
    auth = {"username": USERNAME, "client_id": CLIENT_ID, "private_key_file": str(key_pair[0])}
    table = _read(_config(tmp_path, auth=auth))
    assert table.error is None and len(table.frame) == 5
    assert (org.calls[0]["host"], org.calls[0]["path"]) == ("login.salesforce.com", "/services/oauth2/token")


def test_jwt_signed_by_another_key_is_refused(org, tmp_path):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "other.key"
    path.write_bytes(
        other.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    auth = {"username": USERNAME, "client_id": CLIENT_ID, "private_key_file": str(path)}
    table = _read(_config(tmp_path, auth=auth))
    assert table.frame is None
    assert "JWT bearer login (invalid_grant: invalid assertion)" in table.error


@pytest.mark.parametrize(
    "auth, said",
    [
        ({"client_id": CLIENT_ID, "client_secret": "wrong-" + CLIENT_SECRET}, "invalid_client"),
        ({"username": USERNAME, "password": PASSWORD, "security_token": "wrong" + TOKEN}, "INVALID_LOGIN"),
    ],
)
def test_auth_failure_is_one_line_naming_the_source_without_secrets(org, tmp_path, auth, said):
    table = _read(_config(tmp_path, auth=auth))
    assert table.frame is None
    assert table.error.startswith("source 'users': Salesforce refused the ")
    assert f"({said}: " in table.error and "\n" not in table.error
    _secrets_absent(table.error)
    assert not [call for call in org.calls if call["path"].startswith("/services/data/")]


def test_throttled_calls_are_retried(org, tmp_path):
    org.page_size = 2
    org.throttle(3)
    table = _read(_config(tmp_path))
    assert table.error is None and len(table.frame) == 5
    assert org.data_calls() == 3 + 1 + 1 + 3  # three 503s, describe, COUNT(), three pages


def test_request_limit_exceeded_ends_the_source(org, tmp_path):
    org.page_size = 2
    org.limit_after(3)  # describe, COUNT(), first page; the second page is refused
    table = _read(_config(tmp_path))
    assert table.frame is None
    assert table.error.startswith("source 'users': Salesforce refused the read: REQUEST_LIMIT_EXCEEDED")
    assert "\n" not in table.error
    assert org.data_calls() == 4, "the daily limit is not retried"


def test_expired_session_logs_in_again_once(org, tmp_path):
    org.page_size = 2
    org.expire_sessions(after_calls=2)
    table = _read(_config(tmp_path))
    assert table.error is None and len(table.frame) == 5
    assert org.logins.logins == 2


def test_session_expiring_again_after_the_new_login_ends_the_source(org, tmp_path):
    org.logins.sessions_die_at_once = True
    table = _read(_config(tmp_path))
    assert table.frame is None
    assert "INVALID_SESSION_ID" in table.error and "\n" not in table.error
    assert org.logins.logins == 2
    _secrets_absent(table.error)


def test_rule_values_with_quotes_percent_and_backslash_mean_what_the_rule_says(org, tmp_path):
    titles = ["50% O'Brien \\ Co", "50X O'Brien \\ Co", "5% O'Brien", 'Boss\\\'s "deputy"', None]
    for index, title in enumerate(titles):
        org.org.insert("User", [_user(f"t{index}", "Ops", title=title)])
    rules = [
        {"keep": {"field": "Title", "contains": "% O'Brien \\"}},
        {"skip": {"field": "Title", "equals": "' OR Username != '"}},
    ]
    table = _read(_config(tmp_path, rules=rules, fields={**FIELDS, "custom": {"title": "Title"}}))
    assert table.error is None
    assert table.frame["Title"].tolist() == ["50% O'Brien \\ Co"], "% is literal, not a wildcard"
    query = org.queries[-1]
    assert query.endswith(
        "FROM User WHERE (Title LIKE '%\\% O\\'Brien \\\\%') AND (Title = null OR Title != '\\' OR Username != \\'')"
    )


def test_quote_injection_in_a_keep_rule_selects_nothing(org, tmp_path):
    table = _read(
        _config(tmp_path, rules=[{"keep": {"field": "Username", "equals": "x' OR Username != 'x"}}])
    )
    assert table.error is None and len(table.frame) == 0


def test_checkbox_rules_are_pushed_unquoted_and_regex_stays_client_side(org, tmp_path):
    rules = [
        {"keep": {"field": "IsActive", "equals": "TRUE"}},
        {"skip": {"field": "Username", "regex": "^c"}},
        {
            "skip": {
                "any": [{"field": "Department", "in": ["Board", "HR"]}, {"field": "Email", "empty": True}]
            }
        },
    ]
    table = _read(_config(tmp_path, rules=rules))
    assert table.error is None
    assert org.queries[-1].endswith(
        "WHERE (IsActive = true) AND ((Department = null OR Department NOT IN ('Board', 'HR')) AND (Email != null))"
    )
    assert table.frame["Username"].tolist() == ["ada@acme.com", "cy@acme.com", "dee@acme.com"]


def test_the_fake_refuses_malformed_soql_as_salesforce_does(org):
    sf = Salesforce(
        instance_url=org.instance_url, session_id=org.logins.new_session(), session=http.new_session()
    )
    for soql, code in [
        ("SELECT Id FROM User WHERE Title = 'O'Brien'", "MALFORMED_QUERY"),
        ("SELECT Id FROM User WHERE Title = '50\\%'", "MALFORMED_QUERY"),
        ("SELECT Id FROM User WHERE IsActive = true AND Title = 'x' OR Title = 'y'", "MALFORMED_QUERY"),
        ("SELECT Id FROM User WHERE IsActive = true AND NOT Title = 'x'", "MALFORMED_QUERY"),
        ("SELECT Id FROM User WHERE IsActive = 'true'", "INVALID_FIELD"),
        ("SELECT Nickname__c FROM User", "INVALID_FIELD"),
    ]:
        with pytest.raises(SalesforceMalformedRequest) as refused:
            sf.query(soql)
        assert refused.value.content[0]["errorCode"] == code, soql
    assert sf.query("SELECT Id FROM User WHERE IsActive = true AND (NOT Title = 'x')")["totalSize"] == 4


def test_a_mapped_field_the_object_lacks_is_a_config_error(org, tmp_path):
    path = _config(tmp_path, fields={**FIELDS, "email": "EmailAddress", "manager": "Manager.Usrname"})
    with pytest.raises(ConfigError) as refused:
        _read(path)
    text = str(refused.value)
    assert text.startswith(
        "syncs.employees.sources.users: Salesforce object User has no field 'EmailAddress'"
    )
    assert "'Usrname' (in 'Manager.Usrname') (did you mean 'Username'?)" in text
    assert sum(1 for call in org.calls if call["path"].endswith("/describe")) == 1


def test_above_bulk_above_the_read_uses_bulk_api_2_and_gives_the_same_table(org, tmp_path):
    rest = _read(_config(tmp_path)).frame
    org.calls.clear()
    bulk = _read(_config(tmp_path, source={"bulk_above": 2})).frame
    assert bulk.equals(rest)
    assert [call["path"].rsplit("/", 1)[-1] for call in org.calls if "/jobs/" in call["path"]][0] == "query"


def test_changes_sensor_sees_edits_and_deletions(org, tmp_path):
    config = load_config(_config(tmp_path))
    from rostersync_pipelines.sources import SourceContext

    context = SourceContext("users", "employees", config.syncs["employees"], config)
    spec = config.syncs["employees"].sources["users"]
    first = salesforce.changed(spec, context, None)
    assert first.changed and first.cursor.endswith("|5")
    assert not salesforce.changed(spec, context, first.cursor).changed
    ada = org.org.objects["User"].frame["Id"][1]
    org.org.update("User", ada, {"Title": "CTO"})
    second = salesforce.changed(spec, context, first.cursor)
    assert second.changed
    org.org.delete("User", ada)
    assert salesforce.changed(spec, context, second.cursor).cursor.endswith("|4")
    assert org.queries[-1] == "SELECT COUNT(Id), MAX(SystemModstamp) FROM User"


def test_rostersync_sync_end_to_end_then_a_refused_source_holds_deactivations(
    org, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    path = _config(tmp_path)
    assert cli.main(["--config", str(path), "sync", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["users"] == {"create": 4}, "bob is inactive in Salesforce: no account is made for him"
    users = _lms_users(tmp_path)
    assert set(users) == {"ceo@acme.com", "ada@acme.com", "cy@acme.com", "dee@acme.com"}
    assert users["ada@acme.com"] == ("active", "ceo@acme.com", "Engineering")
    assert users["cy@acme.com"] == ("active", None, None)
    org.limit_after(0)
    assert cli.main(["--config", str(path), "sync", "--json"]) == 1
    captured = capsys.readouterr()
    second = json.loads(captured.out)
    assert "REQUEST_LIMIT_EXCEEDED" in second["source_errors"]["users"]
    assert sum(second["held"].values()) >= 4
    assert "REQUEST_LIMIT_EXCEEDED" in captured.err and CLIENT_SECRET not in captured.err + captured.out
    assert _lms_users(tmp_path) == users, "nothing was deactivated"


def _lms_users(tmp_path) -> dict:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'lms.db'}")
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "select u.login, u.status, m.login, d.name from users u left join users m on m.id = u.manager_id "
                "left join departments d on d.id = u.department_id"
            )
        ).all()
    engine.dispose()
    return {login: (status, manager, department) for login, status, manager, department in rows}


def test_contacts_take_their_department_from_accounts_read_as_departments(org, tmp_path):
    parent = org.org.insert("Account", [{"Name": "Acme Group"}])[0]
    child = org.org.insert("Account", [{"Name": "Acme Sales", "ParentId": parent}])[0]
    org.org.insert(
        "Contact",
        [
            {"FirstName": "Eve", "LastName": "Doe", "Email": "eve@acme.com", "AccountId": child},
            {"FirstName": "Fay", "LastName": "Doe", "Email": "fay@acme.com", "AccountId": None},
        ],
    )
    source = {"kind": "salesforce", "instance_url": "https://acme.my.salesforce.com"}
    source["auth"] = {"client_id": "${SF_CLIENT_ID}", "client_secret": "${SF_CLIENT_SECRET}"}
    raw = yaml.safe_load(_config(tmp_path).read_text())
    sync = raw["syncs"]["employees"]
    sync["sources"] = {
        "users": {**source, "object": "Contact"},
        "departments": {**source, "object": "Account"},
    }
    sync["fields"] = {
        "users": {
            "login": "Email",
            "email": "Email",
            "department": "AccountId",
            "custom": {"company": "account.name"},
        },
        "departments": {"department_unique_key": "Id", "code": "Id", "name": "Name", "parent": "ParentId"},
    }
    path = tmp_path / "contacts.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    config = load_config(path)
    users = read_source("users", config.syncs["employees"], config, sync_name="employees").frame
    departments = read_source("departments", config.syncs["employees"], config, sync_name="employees").frame
    assert users[["Email", "AccountId", "account.name"]].values.tolist() == [
        ["eve@acme.com", child, "Acme Sales"],
        ["fay@acme.com", None, None],
    ]
    assert departments[["Id", "Name", "ParentId"]].values.tolist() == [
        [parent, "Acme Group", None],
        [child, "Acme Sales", parent],
    ]
    assert "SELECT Email, AccountId, Account.Name, Id FROM Contact" in org.queries
