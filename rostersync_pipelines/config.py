"""The pydantic model of rostersync.yaml, and errors a person can act on.

A refused config must say which file, which key and what to write instead, in one line: the people who
edit this file run HR data, not Python, so pydantic's own messages are translated here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from rostersync_pipelines.config_errors import explain, substitute_environment
from rostersync_pipelines.config_rules import Rule
from rostersync_pipelines.config_sources import FileSource, SalesforceAuth, Source, Strict
from rostersync_pipelines.config_targets import Target
from rostersync_pipelines.config_yaml import load_yaml
from rostersync_pipelines.errors import ConfigError
from rostersync_pipelines.schedule_times import runs_per_day

CONFIG_ENV = "ROSTERSYNC_CONFIG"
DEFAULT_CONFIG = "rostersync.yaml"
USER_FIELDS = (
    "user_unique_key",
    "login",
    "email",
    "first_name",
    "last_name",
    "department",
    "manager",
    "functional_manager",
    "status",
    "termination_date",
    "groups",
)
DEPARTMENT_FIELDS = ("department_unique_key", "code", "name", "parent")

Columns = str | list[str]


class UserFields(Strict):
    user_unique_key: Columns | None = None
    login: Columns | None = None
    email: Columns | None = None
    first_name: Columns | None = None
    last_name: Columns | None = None
    department: Columns | None = None
    manager: Columns | None = None
    functional_manager: Columns | None = None
    status: Columns | None = None
    termination_date: Columns | None = None
    groups: Columns | None = None
    custom: dict[str, Columns] = {}

    @model_validator(mode="after")
    def _needs_an_identity(self) -> UserFields:
        if self.login is None and self.email is None:
            raise ValueError("map at least one of login or email: a user needs an identity")
        return self


class DepartmentFields(Strict):
    department_unique_key: Columns | None = None
    code: Columns
    name: Columns | None = None
    parent: Columns | None = None


class Fields(Strict):
    users: UserFields
    departments: DepartmentFields | None = None


MatchKey = str | list[str]


class Matching(Strict):
    users: list[MatchKey] = ["user_unique_key", "login", "email"]
    departments: list[MatchKey] = ["department_unique_key", "code"]

    @field_validator("users")
    @classmethod
    def _user_keys(cls, keys: list[MatchKey]) -> list[MatchKey]:
        return _check_keys(keys, ("user_unique_key", "login", "email"))

    @field_validator("departments")
    @classmethod
    def _department_keys(cls, keys: list[MatchKey]) -> list[MatchKey]:
        return _check_keys(keys, ("department_unique_key", "code"))


def _check_keys(keys: list[MatchKey], allowed: tuple[str, ...]) -> list[MatchKey]:
    for key in keys:
        for part in [key] if isinstance(key, str) else key:
            if part not in allowed:
                raise ValueError(f"'{part}' cannot be matched on; use {', '.join(allowed)}")
    return keys


class Policies(Strict):
    missing_users: Literal["deactivate", "ignore"] = "deactivate"
    terminated_users: Literal["deactivate", "ignore"] = "deactivate"
    returning_users: Literal["reactivate", "ignore"] = "reactivate"
    empty_departments: Literal["delete", "keep"] = "delete"
    stale_group_memberships: Literal["remove", "keep"] = "remove"
    users_without_department: Literal["skip", "import"] = "skip"
    unknown_departments: Literal["reject", "create"] = "reject"  # a sync without a departments source
    missing_users_scope: Literal["all", "linked"] = "all"  # linked: only accounts this sync linked
    protected_logins: list[str] = ["admin"]
    custom_field_defaults: dict[str, str] = {}
    # longest value accepted per field ("default" for the rest); emails are capped at 254 by RFC 5321
    max_lengths: dict[str, int] = {"default": 255}


class Safety(Strict):
    max_deactivations: int | str = "10%"
    max_department_deletions: int = 5
    min_source_rows_ratio: float = Field(default=0.5, ge=0, le=1)

    @field_validator("max_deactivations", mode="before")
    @classmethod
    def _count_or_percent(cls, value: Any) -> int | str:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError("write a count (25) or a percentage of active LMS users ('10%'), not true/false")
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            value = int(value)  # a count from ${ENV} arrives as text
        if isinstance(value, int):
            if value < 0:
                raise ValueError(f"{value} is negative; write a count of 0 or more")
            return value
        match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*%", value.strip())
        if match is None:
            raise ValueError("write a count (25) or a percentage of active LMS users ('10%')")
        if float(match.group(1)) > 100:
            raise ValueError(f"'{value}' is more than 100%; write a percentage from 0% to 100%")
        return value

    @field_validator("max_department_deletions", mode="before")
    @classmethod
    def _not_a_flag(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"'{value}' is not a count; write a whole number of 0 or more")
        return value

    @field_validator("max_department_deletions")
    @classmethod
    def _count(cls, value: int) -> int:
        if value < 0:
            raise ValueError(f"{value} is negative; write a whole number of 0 or more")
        return value

    def deactivation_limit(self, active_users: int) -> int:
        if isinstance(self.max_deactivations, int):
            return self.max_deactivations
        return int(active_users * float(self.max_deactivations.strip().rstrip("%")) / 100)


class StatusValues(Strict):
    """How a source writes a person's status; compared case-insensitively after trimming."""

    active: list[str] = [
        "active",
        "enabled",
        "true",
        "1",
        "yes",
        "y",
        "employed",
        "current",
        "on leave",
        "leave",
    ]
    inactive: list[str] = [
        "inactive",
        "terminated",
        "disabled",
        "false",
        "0",
        "no",
        "n",
        "leaver",
        "left",
        "suspended",
        "deleted",
    ]


class EmbeddedDestination(Strict):
    kind: Literal["embedded"]  # tables in the state database


class SalesforceDestination(Strict):
    kind: Literal["salesforce"]
    instance_url: str
    auth: SalesforceAuth
    api_version: str = "62.0"
    bulk_above: int = Field(default=10_000, ge=0)  # Bulk API 2.0 above this many records, else Collections


class Learning(Strict):
    destination: Annotated[EmbeddedDestination | SalesforceDestination, Field(discriminator="kind")] = (
        EmbeddedDestination(kind="embedded")
    )


class Sync(Strict):
    sources: dict[str, Source]
    fields: Fields
    rules: list[Rule] = []
    matching: Matching = Matching()
    policies: Policies = Policies()
    safety: Safety = Safety()
    target: Target
    schedule: list[str] = []
    learning: Learning = Learning()
    status_values: StatusValues = StatusValues()
    watch: str | None = None  # a changes sensor every this long: "40m", "90s", "2h" (DESIGN §1.5)
    apply: Literal["auto", "approved_only"] = "auto"  # approved_only: nothing destructive without approve
    owners: list[str] = []  # shown on every asset of the sync in the UI

    @field_validator("watch")
    @classmethod
    def _duration(cls, watch: str | None) -> str | None:
        if watch is not None and duration_seconds(watch) is None:
            raise ValueError(f"'{watch}' is not a duration; write 30s, 40m or 2h")
        return watch

    @property
    def watch_seconds(self) -> int | None:
        return None if self.watch is None else duration_seconds(self.watch)

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, sources: dict[str, Source]) -> dict[str, Source]:
        unknown = set(sources) - {"users", "departments"}
        if unknown:
            raise ValueError(f"unknown source '{sorted(unknown)[0]}'; name sources users and departments")
        if "users" not in sources:
            raise ValueError("a sync needs a users source")
        return sources

    @field_validator("schedule")
    @classmethod
    def _at_most_three_a_day(cls, schedule: list[str]) -> list[str]:
        if sum(runs_per_day(expression) for expression in schedule) > 3:
            raise ValueError("at most three runs a day; remove schedule times")
        return schedule

    @model_validator(mode="after")
    def _departments_need_both(self) -> Sync:
        if ("departments" in self.sources) != (self.fields.departments is not None):
            raise ValueError("a departments source needs fields.departments, and the other way round")
        return self


def duration_seconds(text: str) -> int | None:
    """'40m' -> 2400; None when the text is not a positive duration a person would write."""
    match = re.fullmatch(r"\s*(\d+)\s*(s|sec|m|min|h|hr|d)?\s*", str(text).lower())
    if not match or int(match.group(1)) == 0:
        return None
    unit = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400}[match.group(2) or "s"]
    return int(match.group(1)) * unit


class Alerts(Strict):
    webhook: str | None = Field(default=None, repr=False)  # a Slack-compatible webhook; a secret (${ENV})


class State(Strict):
    url: str = "sqlite:///.rostersync/state.db"
    plans_dir: str = ".rostersync/plans"  # where each plan is written in full as CSV
    # stored copies of sources and plans (Dagster's run storage, plan files) are personal data
    retention_days: float = Field(default=30, gt=0)


class Config(Strict):
    state: State = State()
    syncs: dict[str, Sync]
    alerts: Alerts = Alerts()
    base_dir: Path = Field(default=Path("."), exclude=True)
    file: Path = Field(default=Path(DEFAULT_CONFIG), exclude=True)

    @field_validator("syncs")
    @classmethod
    def _names(cls, syncs: dict[str, Sync]) -> dict[str, Sync]:
        if not syncs:
            raise ValueError("define at least one sync")
        for name in syncs:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ValueError(
                    f"sync name '{name}' must be letters, digits and _ (it names Dagster assets)"
                )
        return syncs

    def resolve_path(self, path: str) -> str:
        """Relative file paths and SQLite files are read from beside the config, wherever it is run from."""
        if re.match(r"^[a-z]+://", path) or Path(path).is_absolute():
            return path
        return str(self.base_dir / path)

    def resolve_url(self, url: str) -> str:
        prefix = "sqlite:///"
        in_memory = url == "sqlite://" or ":memory:" in url
        if url.startswith(prefix) and not url.startswith(prefix + "/") and not in_memory:
            return prefix + str((self.base_dir / url[len(prefix) :]).resolve())
        return url


def config_path(path: str | os.PathLike | None = None) -> Path:
    return Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_config(path: str | os.PathLike | None = None) -> Config:
    file = config_path(path)
    if not file.is_file():
        raise ConfigError(f"{file}: config file not found; set {CONFIG_ENV} or create {DEFAULT_CONFIG}")
    try:
        raw = load_yaml(file.read_text(encoding="utf-8"), file) or {}
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{file}: cannot be read as UTF-8 text: {error}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{file}:{where} is not valid YAML: {getattr(error, 'problem', error)}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: the top level must be a mapping with a 'syncs' key")
    raw = substitute_environment(raw, file, ())
    try:
        config = Config.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(f"{file}: {explain(error.errors()[0])}") from None
    config.base_dir = file.resolve().parent
    config.file = file
    return config


def check_source_files(config: Config) -> None:
    """Refuse a local source file that is not there, naming its key, before any run starts.

    Kept out of load_config: the Dagster UI must still load when an export is missing for a while.
    """
    for sync_name, sync in config.syncs.items():
        for source_name, source in sync.sources.items():
            if not isinstance(source, FileSource):
                continue
            resolved = config.resolve_path(source.path)
            if not re.match(r"^[a-z]+://", resolved) and not Path(resolved).is_file():
                raise ConfigError(
                    f"{config.file}: syncs.{sync_name}.sources.{source_name}.path: no file at {resolved}; "
                    "fix the path (a relative path is read from beside the config)"
                )
