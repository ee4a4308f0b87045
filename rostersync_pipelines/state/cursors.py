"""Source cursors: what a source remembers between reads (a Graph delta link, a URL's ETag, a snapshot).

Each value is text owned by one source of one sync. A source writes its cursor only after a read that
finished, so a read that fails half way leaves the previous cursor and nothing is skipped next time.
Secrets never go here (a delta link carries no credential; a token is never stored).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from rostersync_pipelines.state.tables import source_cursors


class SourceCursors:
    def __init__(self, engine: sa.Engine, sync: str, source: str):
        self.engine, self.sync, self.source = engine, sync, source

    def _where(self, name: str):
        return sa.and_(
            source_cursors.c.sync == self.sync,
            source_cursors.c.source == self.source,
            source_cursors.c.name == name,
        )

    def get(self, name: str) -> str | None:
        with self.engine.connect() as connection:
            return connection.execute(sa.select(source_cursors.c.value).where(self._where(name))).scalar()

    def put(self, **values: str | None) -> None:
        """Replace several values in one transaction (a delta link and the snapshot it continues)."""
        stamp = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with self.engine.begin() as connection:
            for name, value in values.items():
                connection.execute(source_cursors.delete().where(self._where(name)))
                if value is not None:
                    connection.execute(
                        source_cursors.insert().values(
                            sync=self.sync, source=self.source, name=name, value=value, updated_at=stamp
                        )
                    )
