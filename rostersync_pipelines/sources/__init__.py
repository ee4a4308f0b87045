"""Source kinds: each module reads one kind into raw text DataFrames."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import requests

from rostersync_pipelines.config import Config, Sync
from rostersync_pipelines.errors import SourceError
from rostersync_pipelines.sources.files import read_file
from rostersync_pipelines.transform.mapping import find_column


@dataclass
class SourceTable:
    """A source as read: its rows, or why it could not be read (the plan then holds destructive changes)."""

    name: str
    frame: pd.DataFrame | None
    error: str | None = None

    @property
    def rows(self) -> int:
        return 0 if self.frame is None else len(self.frame)


def read_source(
    name: str, sync: Sync, config: Config, session: requests.Session | None = None
) -> SourceTable:
    """A source that cannot be read, or lacks a mapped column, comes back with its error instead of rows,
    so the rest of the sync can still apply safely while its destructive changes are held."""
    spec = sync.sources[name]
    try:
        frame = read_file(
            config.resolve_path(spec.path),
            sheet=spec.sheet,
            username=spec.username,
            password=spec.password,
            session=session,
        )
        for column in mapped_columns(sync, name):
            find_column(frame, column, name)
    except SourceError as error:
        return SourceTable(name, None, str(error))
    return SourceTable(name, frame)


def mapped_columns(sync: Sync, name: str) -> list[str]:
    """The source columns the config names for this source: its field mapping and the import rules' fields."""
    if name == "departments":
        mapping = sync.fields.departments.model_dump() if sync.fields.departments else {}
        rules = []
    else:
        mapping = sync.fields.users.model_dump(exclude={"custom"}) | sync.fields.users.custom
        rules = [rule.skip.field for rule in sync.rules]
    columns = []
    for value in mapping.values():
        columns += [] if value is None else [value] if isinstance(value, str) else value
    return columns + rules
