"""The config file (DESIGN §1.1): the example loads as written, defaults fill the rest, and a bad config is
refused in one line that names the file, the key path and the fix."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from rostersync_pipelines.config import CONFIG_ENV, Config, load_config
from rostersync_pipelines.errors import ConfigError
from rostersync_pipelines.schedule_times import expand_field, runs_per_day

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "rostersync.example.yaml"

MINIMAL_SYNC = {
    "sources": {"users": {"kind": "file", "path": "users.csv"}},
    "fields": {"users": {"login": "Login"}},
    "target": {"kind": "embedded"},
}

DESIGN_POLICIES = {
    "missing_users": "deactivate",
    "terminated_users": "deactivate",
    "returning_users": "reactivate",
    "empty_departments": "delete",
    "stale_group_memberships": "remove",
    "users_without_department": "skip",
    "unknown_departments": "reject",
    "missing_users_scope": "all",
    "protected_logins": ["admin"],
}


def write_config(folder: Path, sync: dict | None = None, name: str = "rostersync.yaml", **top) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / name
    file.write_text(yaml.safe_dump({**top, "syncs": {"employees": sync or MINIMAL_SYNC}}), encoding="utf-8")
    return file


def sync_with(**overrides) -> dict:
    sync = copy.deepcopy(MINIMAL_SYNC)
    sync.update(overrides)
    return sync


def refusal(file: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(file)
    message = str(caught.value)
    assert "\n" not in message, f"a refusal is one line: {message!r}"
    assert str(file) in message, message
    return message


# --- the example and the defaults -------------------------------------------------------------------------


def test_example_config_loads_as_written(monkeypatch):
    monkeypatch.delenv("HR_FILE_USER", raising=False)  # only named in a comment: must not be needed
    monkeypatch.delenv("HR_FILE_PASSWORD", raising=False)
    config = load_config(EXAMPLE)
    sync = config.syncs["employees"]
    assert sync.safety.max_deactivations == "10%"
    assert sync.safety.deactivation_limit(300) == 30
    assert sync.safety.max_department_deletions == 5
    assert sync.safety.min_source_rows_ratio == 0.5
    assert sync.schedule == ["0 6 * * *", "0 12 * * *", "0 18 * * *"]
    assert sync.matching.users == ["user_unique_key", "login", "email"]
    assert sync.matching.departments == ["department_unique_key", "code"]
    assert sync.policies.model_dump(exclude={"custom_field_defaults", "max_lengths"}) == DESIGN_POLICIES
    assert sync.sources["departments"].sheet == "Departments"
    assert sync.fields.users.email == ["WorkEmail", "PersonalEmail"]
    assert sync.fields.users.custom == {"job_title": "Title"}
    assert sync.rules[0].skip.field == "Company" and sync.rules[0].skip.contains == "Contractor"
    assert sync.target.url == "sqlite:///.rostersync/lms.db"
    assert config.state.url == "sqlite:///.rostersync/state.db"
    assert config.base_dir == EXAMPLE.resolve().parent


def test_minimal_config_gets_every_default_of_the_design(tmp_path):
    config = load_config(write_config(tmp_path))
    sync = config.syncs["employees"]
    assert config.state.url == "sqlite:///.rostersync/state.db"
    assert sync.rules == []
    assert sync.schedule == []
    assert sync.matching.users == ["user_unique_key", "login", "email"]
    assert sync.matching.departments == ["department_unique_key", "code"]
    assert sync.policies.model_dump() == {
        **DESIGN_POLICIES,
        "custom_field_defaults": {},
        "max_lengths": {"default": 255},
    }
    assert sync.safety.max_deactivations == "10%"
    assert sync.safety.max_department_deletions == 5
    assert sync.safety.min_source_rows_ratio == 0.5
    assert sync.target.url == "sqlite:///.rostersync/lms.db"
    assert sync.learning.destination.kind == "embedded"
    assert sync.fields.departments is None


def test_example_values_equal_the_defaults():
    """The example shows every key at its default value, so the two cannot drift apart silently."""
    example = load_config(EXAMPLE).syncs["employees"]
    minimal = Config.model_validate({"syncs": {"employees": MINIMAL_SYNC}}).syncs["employees"]
    assert example.matching == minimal.matching
    assert example.policies == minimal.policies
    assert example.safety == minimal.safety


@pytest.mark.parametrize(
    ("setting", "active", "limit"),
    [("10%", 300, 30), ("10%", 9, 0), (" 2.5% ", 200, 5), ("0%", 1000, 0), (25, 10, 25), (0, 50, 0)],
)
def test_deactivation_limit_count_or_percent(setting, active, limit):
    sync = Config.model_validate(
        {"syncs": {"employees": sync_with(safety={"max_deactivations": setting})}}
    ).syncs["employees"]
    assert sync.safety.deactivation_limit(active) == limit


def test_composite_matching_keys_are_accepted(tmp_path):
    keys = [["user_unique_key", "login"], ["login", "email"]]
    config = load_config(write_config(tmp_path, sync_with(matching={"users": keys})))
    assert config.syncs["employees"].matching.users == keys


# --- ${ENV} ---------------------------------------------------------------------------------------------


def test_environment_values_are_substituted(tmp_path, monkeypatch):
    monkeypatch.setenv("HR_FILE_USER", "svc-roster")
    monkeypatch.setenv("HR_FILE_PASSWORD", "s3cret")
    monkeypatch.setenv("MAX_DELETIONS", "7")
    monkeypatch.setenv("LMS_HOST", "lms.example.com")
    users = {"kind": "file", "path": "https://hr.example.com/u.csv"}
    users |= {"username": "${HR_FILE_USER}", "password": "${HR_FILE_PASSWORD}"}
    sync = sync_with(
        sources={"users": users},
        safety={"max_department_deletions": "${MAX_DELETIONS}"},
        target={"kind": "embedded", "url": "sqlite:///${LMS_HOST}-lms.db"},
    )
    loaded = load_config(write_config(tmp_path, sync)).syncs["employees"]
    assert loaded.sources["users"].username == "svc-roster"
    assert loaded.sources["users"].password == "s3cret"
    assert loaded.safety.max_department_deletions == 7
    assert loaded.target.url == "sqlite:///lms.example.com-lms.db"
    assert "s3cret" not in repr(loaded.sources["users"]), "secrets stay out of reprs and logs"


def test_missing_environment_variable_names_key_path_and_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("HR_FILE_PASSWORD", raising=False)
    users = {"kind": "file", "path": "u.csv", "password": "${HR_FILE_PASSWORD}"}
    message = refusal(write_config(tmp_path, sync_with(sources={"users": users})))
    assert "syncs.employees.sources.users.password" in message
    assert "HR_FILE_PASSWORD" in message


def test_missing_environment_variable_in_a_list_names_the_index(tmp_path, monkeypatch):
    monkeypatch.delenv("ROOT_LOGIN", raising=False)
    sync = sync_with(policies={"protected_logins": ["admin", "${ROOT_LOGIN}"]})
    message = refusal(write_config(tmp_path, sync))
    assert "syncs.employees.policies.protected_logins.1" in message and "ROOT_LOGIN" in message


# --- refusals: one line, the file, the key path, the fix -----------------------------------------------

REFUSALS = {
    "unknown key": (sync_with(rulez=[]), "syncs.employees.rulez", ["unknown key", "spelling"]),
    "wrong type": (
        sync_with(safety={"max_department_deletions": "five"}),
        "syncs.employees.safety.max_department_deletions",
        ["expected a number", "five"],
    ),
    "policy value not allowed": (
        sync_with(policies={"missing_users": "delete"}),
        "syncs.employees.policies.missing_users",
        ["'delete' is not allowed", "deactivate", "ignore"],
    ),
    "policy value not allowed (departments)": (
        sync_with(policies={"empty_departments": "remove"}),
        "syncs.employees.policies.empty_departments",
        ["'remove' is not allowed", "delete", "keep"],
    ),
    "unknown source kind": (
        sync_with(sources={"users": {"kind": "ftp", "path": "u.csv"}}),
        "syncs.employees.sources.users.kind",
        ["unknown source kind 'ftp'", "use one of: file"],
    ),
    "salesforce source without its instance": (
        sync_with(sources={"users": {"kind": "salesforce"}}),
        "syncs.employees.sources.users.instance_url",
        ["required key is missing"],
    ),
    "unknown target kind": (
        sync_with(target={"kind": "moodle"}),
        "syncs.employees.target.kind",
        ["unknown target kind 'moodle'", "embedded, talentlms, ispring, scim"],
    ),
    "source without kind": (
        sync_with(sources={"users": {"path": "u.csv"}}),
        "syncs.employees.sources.users",
        ["add a kind", "file"],
    ),
    "four schedule times": (
        sync_with(schedule=["0 6 * * *", "0 7 * * *", "0 8 * * *", "0 9 * * *"]),
        "syncs.employees.schedule",
        ["at most three runs a day"],
    ),
    "every two hours": (
        sync_with(schedule=["0 */2 * * *"]),
        "syncs.employees.schedule",
        ["at most three runs a day"],
    ),
    "cron text": (
        sync_with(schedule=["every morning"]),
        "syncs.employees.schedule",
        ["'every morning'", "five fields"],
    ),
    "cron hour out of range": (
        sync_with(schedule=["0 25 * * *"]),
        "syncs.employees.schedule",
        ["'0 25 * * *'", "outside 0-23"],
    ),
    "schedule not a list": (sync_with(schedule="0 6 * * *"), "syncs.employees.schedule", ["a list"]),
    "unknown source name": (
        sync_with(
            sources={"users": {"kind": "file", "path": "u.csv"}, "teams": {"kind": "file", "path": "t"}}
        ),
        "syncs.employees.sources",
        ["unknown source 'teams'", "users and departments"],
    ),
    "sync without users source": (
        sync_with(sources={"departments": {"kind": "file", "path": "d.csv"}}),
        "syncs.employees.sources",
        ["needs a users source"],
    ),
    "matching on an unknown key": (
        sync_with(matching={"users": ["login", "phone"]}),
        "syncs.employees.matching.users",
        ["'phone' cannot be matched on", "user_unique_key, login, email"],
    ),
    "composite matching on an unknown key": (
        sync_with(matching={"departments": [["code", "name"]]}),
        "syncs.employees.matching.departments",
        ["'name' cannot be matched on", "department_unique_key, code"],
    ),
    "max_deactivations text": (
        sync_with(safety={"max_deactivations": "ten"}),
        "syncs.employees.safety.max_deactivations",
        ["count", "percentage"],
    ),
    "users without identity": (
        sync_with(fields={"users": {"first_name": "FirstName"}}),
        "syncs.employees.fields.users",
        ["login or email"],
    ),
    "skip rule without test": (
        sync_with(rules=[{"skip": {"field": "Company"}}]),
        "syncs.employees.rules.0.skip",
        ["exactly one of equals, not_equals, contains"],
    ),
    "target missing": (
        {key: value for key, value in MINIMAL_SYNC.items() if key != "target"},
        "syncs.employees.target",
        ["required key is missing"],
    ),
    "departments source without fields": (
        sync_with(
            sources={
                "users": {"kind": "file", "path": "u.csv"},
                "departments": {"kind": "file", "path": "d.csv"},
            }
        ),
        "syncs.employees",
        ["fields.departments"],
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_bad_config_is_refused_in_one_line(tmp_path, case):
    sync, key_path, fix = REFUSALS[case]
    message = refusal(write_config(tmp_path, sync))
    assert f": {key_path}:" in message or f": {key_path}." in message, message
    for text in fix:
        assert text in message, f"{text!r} not in {message!r}"
    assert "Value error" not in message and "pydantic" not in message, message


def test_sync_name_must_name_dagster_assets(tmp_path):
    file = tmp_path / "rostersync.yaml"
    file.write_text(yaml.safe_dump({"syncs": {"my-sync": MINIMAL_SYNC}}), encoding="utf-8")
    message = refusal(file)
    assert "syncs:" in message and "'my-sync'" in message and "letters, digits and _" in message


def test_at_least_one_sync(tmp_path):
    file = tmp_path / "rostersync.yaml"
    file.write_text("syncs: {}\n", encoding="utf-8")
    assert ": syncs: define at least one sync" in refusal(file)


def test_unknown_top_level_key(tmp_path):
    message = refusal(write_config(tmp_path, stat={"url": "sqlite://"}))
    assert ": stat: unknown key" in message


def test_missing_file_names_the_path_and_the_variable(tmp_path):
    missing = tmp_path / "nowhere" / "rostersync.yaml"
    message = refusal(missing)
    assert "not found" in message and CONFIG_ENV in message


def test_config_path_comes_from_the_environment(tmp_path, monkeypatch):
    file = write_config(tmp_path / "elsewhere", name="people.yaml")
    monkeypatch.setenv(CONFIG_ENV, str(file))
    assert load_config().base_dir == file.resolve().parent
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "gone.yaml"))
    with pytest.raises(ConfigError, match="gone.yaml.*ROSTERSYNC_CONFIG"):
        load_config()


def test_default_config_is_rostersync_yaml_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    write_config(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert load_config().base_dir == tmp_path.resolve()


def test_invalid_yaml_names_the_line(tmp_path):
    file = tmp_path / "rostersync.yaml"
    file.write_text("syncs:\n  employees:\n    target: x\n   bad: 1\n", encoding="utf-8")
    message = refusal(file)
    assert "line 4" in message and "not valid YAML" in message


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n"])
def test_top_level_must_be_a_mapping(tmp_path, text):
    file = tmp_path / "rostersync.yaml"
    file.write_text(text, encoding="utf-8")
    assert "top level must be a mapping" in refusal(file)


def test_empty_file_asks_for_syncs(tmp_path):
    file = tmp_path / "rostersync.yaml"
    file.write_text("", encoding="utf-8")
    assert ": syncs: required key is missing" in refusal(file)


# --- paths beside the config -----------------------------------------------------------------------------


@pytest.fixture
def beside(tmp_path, monkeypatch) -> Config:
    """A config in a sub-folder, loaded while the working directory is somewhere else."""
    write_config(tmp_path / "conf")
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    return load_config(Path("..") / "conf" / "rostersync.yaml")


def test_relative_paths_resolve_against_the_config_folder(beside, tmp_path):
    folder = (tmp_path / "conf").resolve()
    assert beside.base_dir == folder
    assert Path(beside.resolve_path("data/users.csv")) == folder / "data" / "users.csv"
    assert Path(beside.resolve_path(".rostersync/plans")) == folder / ".rostersync" / "plans"


@pytest.mark.parametrize(
    "path", ["/srv/hr/users.csv", "https://hr.example.com/export/users.csv", "http://h/u.xlsx"]
)
def test_absolute_paths_and_urls_are_untouched(beside, path):
    assert beside.resolve_path(path) == path


def test_relative_sqlite_urls_resolve_against_the_config_folder(beside, tmp_path):
    folder = (tmp_path / "conf").resolve()
    assert beside.resolve_url("sqlite:///.rostersync/state.db") == f"sqlite:///{folder}/.rostersync/state.db"
    assert beside.resolve_url("sqlite:///lms.db") == f"sqlite:///{folder}/lms.db"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////var/lib/rostersync/state.db",
        "sqlite://",
        "postgresql+psycopg://roster@db.example.com/state",
        "mysql://u@h/lms",
    ],
)
def test_absolute_sqlite_and_other_urls_are_untouched(beside, url):
    assert beside.resolve_url(url) == url


def test_in_memory_sqlite_url_is_untouched(beside):
    assert beside.resolve_url("sqlite:///:memory:") == "sqlite:///:memory:"


# --- schedule_times ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "runs"),
    [
        ("0 6 * * *", 1),
        ("0 6 * * 1-5", 1),
        ("30 6 1 1 *", 1),
        ("0 6,12,18 * * *", 3),
        ("0 6-8 * * *", 3),
        ("0 */8 * * *", 3),
        ("0 0-23/12 * * *", 2),
        ("0,30 6 * * *", 2),
        ("*/30 6 * * *", 2),
        ("5/15 6 * * *", 4),
        ("0 */2 * * *", 12),
        ("* * * * *", 1440),
        ("  0   6  *  *  * ", 1),
    ],
)
def test_runs_per_day(expression, runs):
    assert runs_per_day(expression) == runs


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("0 6 * *", "five fields"),
        ("0 6 * * * *", "five fields"),
        ("0 24 * * *", "outside 0-23"),
        ("60 6 * * *", "outside 0-59"),
        ("0 6 0 * *", "outside 1-31"),
        ("0 6 * 13 *", "outside 1-12"),
        ("0 9-5 * * *", "outside 0-23"),
        ("*/0 6 * * *", "at least 1"),
        ("x 6 * * *", "'x 6 * * *'"),
    ],
)
def test_invalid_cron_is_refused(expression, problem):
    with pytest.raises(ValueError, match=problem.replace("*", r"\*")):
        runs_per_day(expression)


def test_expand_field():
    assert expand_field("*/20", 0, 59) == {0, 20, 40}
    assert expand_field("1-10/3,30", 0, 59) == {1, 4, 7, 10, 30}
    assert expand_field("7", 0, 7) == {7}


@pytest.mark.parametrize(("expression", "runs"), [("0 6 * * MON-FRI", 1), ("0 6 1 JAN *", 1), ("@daily", 1)])
def test_runs_per_day_accepts_cron_names_dagster_accepts(expression, runs):
    assert runs_per_day(expression) == runs


def test_a_missing_local_source_file_is_refused_with_its_key(tmp_path):
    from rostersync_pipelines.config import check_source_files

    (tmp_path / "users.csv").write_text("Login\nann\n", encoding="utf-8")
    config_file = tmp_path / "rostersync.yaml"
    config_file.write_text(
        "syncs:\n  people:\n    sources:\n      users: {kind: file, path: users.csv}\n"
        "      departments: {kind: file, path: gone/departments.xlsx}\n"
        "    fields:\n      users: {login: Login}\n      departments: {code: Code}\n"
        "    target: {kind: embedded}\n",
        encoding="utf-8",
    )
    config = load_config(config_file)
    with pytest.raises(ConfigError) as refused:
        check_source_files(config)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"{config_file}: syncs.people.sources.departments.path: no file at ")
    assert str(tmp_path / "gone" / "departments.xlsx") in message
    (tmp_path / "gone").mkdir()
    (tmp_path / "gone" / "departments.xlsx").write_bytes(b"PK")
    check_source_files(config)  # present now: nothing to say
