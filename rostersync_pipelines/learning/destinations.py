"""What a learning destination offers the delivery, and the stop it may call.

A destination writes the changed records of one kind and yields the outcome of each call as it comes
(`external_id`, `status` delivered | failed, `record_id`, `error`, `created`), so the delivery stores what
was done after every call and a stop loses nothing. `DeliveryStopped` (the org's request limit) ends the
delivery cleanly: what was written is kept, the rest is `unsent` and goes next run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import pandas as pd

from rostersync_pipelines.learning.kinds import Kind

OUTCOME_COLUMNS = ["external_id", "status", "record_id", "error", "created"]


class DeliveryStopped(Exception):
    """The destination refuses any more calls for now (Salesforce REQUEST_LIMIT_EXCEEDED)."""


class Destination(Protocol):
    key: str  # who receives: "embedded", or the org's instance URL (the state remembers per destination)
    calls: int  # write calls made so far

    def write(self, kind: Kind, records: pd.DataFrame) -> Iterator[pd.DataFrame]: ...

    def find_by_email(self, emails: list[str]) -> pd.DataFrame | None: ...

    def close(self) -> None: ...


def make_destination(config, sync_name: str, store) -> Destination:
    spec = config.syncs[sync_name].learning.destination
    if spec.kind == "salesforce":
        from rostersync_pipelines.learning.salesforce_destination import SalesforceDestination

        return SalesforceDestination(spec, sync_name)
    from rostersync_pipelines.learning.embedded_destination import EmbeddedDestination

    return EmbeddedDestination(store.engine, sync_name)


def destination_key(spec) -> str:
    """Who receives, as the state database remembers it (without logging in anywhere)."""
    return spec.instance_url.rstrip("/") if spec.kind == "salesforce" else "embedded"
