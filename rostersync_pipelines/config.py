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
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rostersync_pipelines.errors import ConfigError
from rostersync_pipelines.schedule_times import runs_per_day

CONFIG_ENV = "ROSTERSYNC_CONFIG"
DEFAULT_CONFIG = "rostersync.yaml"
SOURCE_KINDS = ("file",)
PLANNED_SOURCE_KINDS = ("google_sheets", "salesforce", "entra_id")
TARGET_KINDS = ("embedded",)
PLANNED_TARGET_KINDS = ("talentlms", "ispring", "scim")
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


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FileSource(Strict):
    kind: Literal["file"]
    path: str
    sheet: str | None = None
    username: str | None = None
    password: str | None = Field(default=None, repr=False)


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


class SkipCondition(Strict):
    field: str
    contains: str | None = None
    equals: str | None = None
    one_of: list[str] | None = Field(default=None, alias="in")
    empty: bool | None = None

    @model_validator(mode="after")
    def _one_test(self) -> SkipCondition:
        tests = [self.contains, self.equals, self.one_of, self.empty]
        if sum(test is not None for test in tests) != 1:
            raise ValueError("give exactly one of contains, equals, in, empty")
        return self


class Rule(Strict):
    skip: SkipCondition


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
    protected_logins: list[str] = ["admin"]
    custom_field_defaults: dict[str, str] = {}


class Safety(Strict):
    max_deactivations: int | str = "10%"
    max_department_deletions: int = 5
    min_source_rows_ratio: float = Field(default=0.5, ge=0, le=1)

    @field_validator("max_deactivations")
    @classmethod
    def _count_or_percent(cls, value: int | str) -> int | str:
        if isinstance(value, str) and not re.fullmatch(r"\d+(\.\d+)?%", value.strip()):
            raise ValueError("write a count (25) or a percentage of active LMS users ('10%')")
        return value

    def deactivation_limit(self, active_users: int) -> int:
        if isinstance(self.max_deactivations, int):
            return self.max_deactivations
        return int(active_users * float(self.max_deactivations.strip().rstrip("%")) / 100)


class EmbeddedTarget(Strict):
    kind: Literal["embedded"]
    url: str = "sqlite:///.rostersync/lms.db"


class Learning(Strict):
    destination: dict[str, Any] = {"kind": "embedded"}


class Sync(Strict):
    sources: dict[str, Annotated[FileSource, Field(discriminator="kind")]]
    fields: Fields
    rules: list[Rule] = []
    matching: Matching = Matching()
    policies: Policies = Policies()
    safety: Safety = Safety()
    target: EmbeddedTarget
    schedule: list[str] = []
    learning: Learning = Learning()

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, sources: dict[str, FileSource]) -> dict[str, FileSource]:
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


class State(Strict):
    url: str = "sqlite:///.rostersync/state.db"
    plans_dir: str = ".rostersync/plans"  # where each plan is written in full as CSV


class Config(Strict):
    state: State = State()
    syncs: dict[str, Sync]
    base_dir: Path = Field(default=Path("."), exclude=True)

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
        raw = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{file}:{where} is not valid YAML: {getattr(error, 'problem', error)}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: the top level must be a mapping with a 'syncs' key")
    raw = _substitute_environment(raw, file, ())
    try:
        config = Config.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(f"{file}: {_explain(error.errors()[0])}") from None
    config.base_dir = file.resolve().parent
    return config


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _substitute_environment(value: Any, file: Path, key_path: tuple) -> Any:
    if isinstance(value, dict):
        return {key: _substitute_environment(item, file, (*key_path, key)) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute_environment(item, file, (*key_path, index)) for index, item in enumerate(value)]
    if isinstance(value, str):

        def lookup(match: re.Match) -> str:
            name = match.group(1)
            if name not in os.environ:
                where = _dotted(key_path)
                raise ConfigError(f"{file}: {where}: environment variable {name} is not set; export it")
            return os.environ[name]

        return _ENV.sub(lookup, value)
    return value


def _dotted(location: tuple) -> str:
    return ".".join(str(part) for part in location) or "(top level)"


def _explain(error: dict) -> str:
    """One pydantic error -> 'key.path: what is wrong; the fix'."""
    location = _trim_union(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{_dotted(location)}: unknown key; remove it or check its spelling"
    if kind == "missing":
        return f"{_dotted(location)}: required key is missing; add it"
    if kind == "union_tag_invalid":
        tag = error.get("input", {}).get("kind") if isinstance(error.get("input"), dict) else None
        planned = f" ('{tag}' is not available in this version)" if tag in PLANNED_SOURCE_KINDS else ""
        return f"{_dotted(location)}.kind: unknown source kind '{tag}'{planned}; use one of: {', '.join(SOURCE_KINDS)}"
    if kind == "union_tag_not_found":
        return f"{_dotted(location)}: add a kind: one of {', '.join(SOURCE_KINDS)}"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"{_dotted(location)}: '{error.get('input')}' is not allowed; use one of: {expected}"
    if kind in ("int_parsing", "int_type", "float_parsing", "float_type"):
        return f"{_dotted(location)}: expected a number, got '{error.get('input')}'"
    if kind in ("string_type", "list_type", "dict_type", "model_type", "bool_type", "bool_parsing"):
        wanted = {
            "string_type": "text",
            "list_type": "a list",
            "dict_type": "a mapping",
            "model_type": "a mapping",
        }
        return f"{_dotted(location)}: expected {wanted.get(kind, 'true or false')}, got {type(error.get('input')).__name__}"
    message = error["msg"].removeprefix("Value error, ")
    return f"{_dotted(location)}: {message}"


_UNION_MEMBERS = {"str", "int", "list[str]", "file", "embedded"}


def _trim_union(location: tuple) -> tuple:
    """Unions add the member's name to the location ('str', 'file'); people never wrote those keys."""
    return tuple(
        part
        for part in location
        if not (isinstance(part, str) and (part in _UNION_MEMBERS or part.startswith("function-")))
    )
