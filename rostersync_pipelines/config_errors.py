"""Reading a config file the way a person wrote it: ${ENV} values, and pydantic's errors said in their words.

The people who edit rostersync.yaml run HR data, not Python: each refusal names the key path and the fix.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from rostersync_pipelines.config_sources import SOURCE_KINDS
from rostersync_pipelines.config_targets import TARGET_KINDS
from rostersync_pipelines.errors import ConfigError

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def substitute_environment(value: Any, file: Path, key_path: tuple) -> Any:
    if isinstance(value, dict):
        return {key: substitute_environment(item, file, (*key_path, key)) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute_environment(item, file, (*key_path, index)) for index, item in enumerate(value)]
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


def explain(error: dict) -> str:
    """One pydantic error -> 'key.path: what is wrong; the fix'."""
    location = _trim_union(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{_dotted(location)}: unknown key; remove it or check its spelling"
    if kind == "missing":
        return f"{_dotted(location)}: required key is missing; add it"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        what, kinds = ("target", TARGET_KINDS) if "target" in location else ("source", SOURCE_KINDS)
        if "destination" in location:
            what, kinds = "learning destination", ("embedded", "salesforce")
        if kind == "union_tag_not_found":
            return f"{_dotted(location)}: add a kind: one of {', '.join(kinds)}"
        tag = error.get("input", {}).get("kind") if isinstance(error.get("input"), dict) else None
        return f"{_dotted(location)}.kind: unknown {what} kind '{tag}'; use one of: {', '.join(kinds)}"
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


_UNION_MEMBERS = {"str", "int", "list[str]", *SOURCE_KINDS, *TARGET_KINDS}


def _trim_union(location: tuple) -> tuple:
    """Unions add the member's name to the location ('str', 'file'); people never wrote those keys."""
    return tuple(
        part
        for part in location
        if not (isinstance(part, str) and (part in _UNION_MEMBERS or part.startswith("function-")))
    )
