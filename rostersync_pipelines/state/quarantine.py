"""Quarantine: a change the LMS keeps refusing is set aside until its inputs change.

Retrying the same refused change at every sync only fills the journal with failures and hides new ones. After
`FAILURES_TO_QUARANTINE` failures of the same change (same record, action and values), later syncs skip it
with the recorded error; new values in the source give it a new chance, and a success clears it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pandas as pd
import sqlalchemy as sa

from rostersync_pipelines.state.tables import quarantine

FAILURES_TO_QUARANTINE = 3


def inputs_hash(values) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Quarantine:
    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def held(self, sync: str) -> pd.DataFrame:
        """Changes set aside: entity, action, key, inputs_hash, failures, message."""
        query = sa.select(quarantine).where(
            quarantine.c.sync == sync, quarantine.c.failures >= FAILURES_TO_QUARANTINE
        )
        with self.engine.connect() as connection:
            return pd.read_sql(query, connection, dtype=object)

    def record(self, sync: str, outcomes: list[dict]) -> None:
        """Count each failure (a change with new inputs starts again at one); clear what now succeeded.

        Only changes already counted are looked at for successes, so a million applied creates cost one read.
        """
        stamp = _now()
        with self.engine.begin() as connection:
            known = {
                (row.entity, row.action, row.key): (row.failures, row.inputs_hash)
                for row in connection.execute(sa.select(quarantine).where(quarantine.c.sync == sync))
            }
            for item in outcomes:
                key = (item["entity"], item["action"], str(item["key"])[:500])
                if item["outcome"] == "applied":
                    if key in known:
                        connection.execute(quarantine.delete().where(*self._key(sync, item)))
                    continue
                digest = inputs_hash(item["values"])
                if key not in known:
                    connection.execute(
                        quarantine.insert().values(
                            sync=sync,
                            entity=key[0],
                            action=key[1],
                            key=key[2],
                            inputs_hash=digest,
                            failures=1,
                            message=item["message"],
                            first_failed_at=stamp,
                            last_failed_at=stamp,
                        )
                    )
                    continue
                failures = known[key][0] + 1 if known[key][1] == digest else 1
                connection.execute(
                    quarantine.update()
                    .where(*self._key(sync, item))
                    .values(
                        failures=failures, inputs_hash=digest, message=item["message"], last_failed_at=stamp
                    )
                )

    @staticmethod
    def _key(sync: str, item: dict):
        return (
            quarantine.c.sync == sync,
            quarantine.c.entity == item["entity"],
            quarantine.c.action == item["action"],
            quarantine.c.key == str(item["key"])[:500],
        )
