"""Source kinds: each module reads one kind into raw text DataFrames."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import requests

from rostersync_pipelines.config import Config, FileSource
from rostersync_pipelines.errors import SourceError
from rostersync_pipelines.sources.files import read_file


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
    name: str, spec: FileSource, config: Config, session: requests.Session | None = None
) -> SourceTable:
    try:
        frame = read_file(
            config.resolve_path(spec.path),
            sheet=spec.sheet,
            username=spec.username,
            password=spec.password,
            session=session,
        )
    except SourceError as error:
        return SourceTable(name, None, str(error))
    return SourceTable(name, frame)
