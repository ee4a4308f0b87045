"""The default learning destination: the three tables of the Salesforce objects, in the state database.

It lets the demo and the tests deliver with no credentials, and shows what Salesforce would receive. One
transaction per kind; lookups stay as the identity step found them (none without a Salesforce org to ask).
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import sqlalchemy as sa

from rostersync_pipelines.learning.destinations import OUTCOME_COLUMNS
from rostersync_pipelines.learning.kinds import Kind, delivered_columns
from rostersync_pipelines.state.tables import learning_badges, learning_certificates, learning_course_progress

TABLES = {
    "course_progress": learning_course_progress,
    "certificates": learning_certificates,
    "badges": learning_badges,
}
CHUNK = 5000


class EmbeddedDestination:
    key = "embedded"

    def __init__(self, engine: sa.Engine, sync_name: str):
        self.engine, self.sync_name, self.calls = engine, sync_name, 0

    def write(self, kind: Kind, records: pd.DataFrame) -> Iterator[pd.DataFrame]:
        table = TABLES[kind.name]
        rows = records[delivered_columns(kind)].astype(object)
        rows = rows.where(rows.notna(), None)
        rows["sync"] = self.sync_name
        rows["delivered_at"] = pd.Timestamp.now(tz="UTC").tz_localize(None).to_pydatetime()
        ids = rows["external_id"].tolist()
        self.calls += 1
        with self.engine.begin() as connection:
            existing = set()
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start : start + CHUNK]
                existing |= set(
                    connection.execute(
                        sa.select(table.c.external_id).where(table.c.external_id.in_(chunk))
                    ).scalars()
                )
                connection.execute(table.delete().where(table.c.external_id.in_(chunk)))
            values = rows.to_dict("records")
            for start in range(0, len(values), CHUNK):
                connection.execute(table.insert(), values[start : start + CHUNK])
        outcome = pd.DataFrame({"external_id": ids}, dtype=object)
        outcome["status"], outcome["record_id"], outcome["error"] = "delivered", None, None
        outcome["created"] = ~outcome["external_id"].isin(existing)
        yield outcome[OUTCOME_COLUMNS]

    def find_by_email(self, emails: list[str]) -> pd.DataFrame | None:
        return None  # no Salesforce org to ask

    def close(self) -> None:
        pass
