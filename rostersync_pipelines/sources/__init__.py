"""Source kinds: each module reads one kind into raw text DataFrames.

A kind's module (`files`, `salesforce`, `google_sheets`, `entra`) exposes `read(spec, context)`, returning
one text column per source field plus `__row__` (the row a person would point at), and `changed(spec,
context, cursor) -> Change` for the changes sensor. Modules are imported only when a config names their kind,
so a file-only sync never pays for the Salesforce or Google client libraries.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field

import pandas as pd
import requests

from rostersync_pipelines.config import Config, Sync
from rostersync_pipelines.errors import SourceError
from rostersync_pipelines.state.cursors import SourceCursors
from rostersync_pipelines.transform.mapping import find_column

MODULES = {"file": "files", "salesforce": "salesforce", "google_sheets": "google_sheets", "entra_id": "entra"}


@dataclass
class SourceTable:
    """A source as read: its rows, or why it could not be read (the plan then holds destructive changes)."""

    name: str
    frame: pd.DataFrame | None
    error: str | None = None
    origin: dict = field(default_factory=dict)  # where it was read from, for people: path, object, sheet

    @property
    def rows(self) -> int:
        return 0 if self.frame is None else len(self.frame)


@dataclass
class SourceContext:
    """What a source kind needs besides its own config: the sync around it, HTTP, cursors, a deadline."""

    source_name: str
    sync_name: str
    sync: Sync
    config: Config
    session: requests.Session | None = None  # injected by tests; None = build one with rostersync.http
    cursors: SourceCursors | None = None  # None: nothing remembered (a read that cannot continue a delta)
    deadline: float | None = None  # time.monotonic() past which the read fails

    @property
    def columns(self) -> list[str]:
        return mapped_columns(self.sync, self.source_name)


@dataclass
class Change:
    """The changes sensor's question answered: did the source change since `cursor`, and why it says so."""

    changed: bool
    cursor: str | None
    reason: str


def source_module(kind: str):
    return importlib.import_module(f"rostersync_pipelines.sources.{MODULES[kind]}")


def read_source(
    name: str,
    sync: Sync,
    config: Config,
    session: requests.Session | None = None,
    cursors: SourceCursors | None = None,
    sync_name: str = "",
) -> SourceTable:
    """A source that cannot be read, or lacks a mapped column, comes back with its error instead of rows,
    so the rest of the sync can still apply safely while its destructive changes are held."""
    spec = sync.sources[name]
    context = SourceContext(name, sync_name, sync, config, session, cursors, time.monotonic() + spec.timeout)
    where = origin(spec, config)
    try:
        frame = source_module(spec.kind).read(spec, context)
    except SourceError as error:
        return SourceTable(name, None, str(error), {"read from": where})
    try:
        for column in mapped_columns(sync, name):
            find_column(frame, column, name)
    except SourceError as error:
        return SourceTable(name, None, f"{where}: {error}", {"read from": where})
    return SourceTable(name, frame, None, {"read from": where})


def origin(spec, config: Config) -> str:
    """Where a source is read from, for people: a path or URL without credentials, an object, a sheet."""
    if spec.kind == "file":
        from rostersync_pipelines.sources.files import _display

        return _display(config.resolve_path(spec.path))
    if spec.kind == "salesforce":
        return f"Salesforce {spec.object} at {spec.instance_url}"
    if spec.kind == "google_sheets":
        return f"Google Sheet {spec.spreadsheet}" + (f" ({spec.worksheet})" if spec.worksheet else "")
    return f"Entra ID tenant {spec.tenant_id}" + (
        f" (groups {', '.join(spec.groups)})" if spec.groups else ""
    )


def mapped_columns(sync: Sync, name: str) -> list[str]:
    """The source columns the config names for this source: its field mapping and the import rules' fields."""
    if name == "departments":
        mapping = sync.fields.departments.model_dump() if sync.fields.departments else {}
        rules = []
    else:
        mapping = sync.fields.users.model_dump(exclude={"custom"}) | sync.fields.users.custom
        rules = [column for rule in sync.rules for column in rule.fields()]
    columns = []
    for value in mapping.values():
        columns += [] if value is None else [value] if isinstance(value, str) else value
    return list(dict.fromkeys(columns + rules))
