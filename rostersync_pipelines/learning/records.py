"""Learning records as read from the sync's LMS, for a range of days of their last update.

The embedded LMS is read with one query per kind (`updated_at` in the range); each record gets an External
ID that never changes for it (`<sync>:<kind>:<LMS key>`), so a re-sent record updates its Salesforce row
instead of adding one. Times become ISO 8601 UTC text and numbers plain floats/ints, once, here: the hash,
the JSON of sObject Collections, the Bulk CSV and the embedded tables then all see the same values.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa

from rostersync_pipelines.config import Config
from rostersync_pipelines.errors import TargetError
from rostersync_pipelines.learning.kinds import KINDS, RENAMED, Kind, delivered_columns
from rostersync_pipelines.targets import embedded_schema
from rostersync_pipelines.targets.embedded import EmbeddedLms

MAX_EXTERNAL_ID = 255  # a Text(255) External ID field
RECORD_COLUMNS = ["lms_user_id", "updated_at", "day"]
API_READERS = {"talentlms": "talentlms_records", "ispring": "ispring_records"}  # target kind -> module


@dataclass
class LearningRecords:
    """Every record whose last update falls in [first_day, last_day], per kind."""

    first_day: dt.date
    last_day: dt.date
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)

    def covers(self, first_day: dt.date, last_day: dt.date) -> bool:
        return self.first_day <= first_day and last_day <= self.last_day

    def within(self, first_day: dt.date, last_day: dt.date) -> LearningRecords:
        low, high = first_day.isoformat(), last_day.isoformat()
        frames = {
            kind: frame[(frame["day"] >= low) & (frame["day"] <= high)].reset_index(drop=True)
            for kind, frame in self.frames.items()
        }
        return LearningRecords(first_day, last_day, frames)


def read(config: Config, sync_name: str, first_day: dt.date, last_day: dt.date) -> LearningRecords:
    target = config.syncs[sync_name].target
    if target.kind in API_READERS:
        return LearningRecords(first_day, last_day, _api(target).read(target, sync_name, first_day, last_day))
    if target.kind != "embedded":
        raise TargetError(
            f"sync {sync_name}: learning records are read from embedded, TalentLMS and iSpring targets only, "
            f"not from a {target.kind} target; set learning aside for this sync or use one of those targets"
        )
    lms = EmbeddedLms(config.resolve_url(target.url))
    start = dt.datetime.combine(first_day, dt.time())
    stop = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time())
    frames = {}
    try:
        with lms.engine.connect() as connection:
            for kind in KINDS.values():
                table = embedded_schema.metadata.tables[kind.name]
                query = sa.select(table).where(table.c.updated_at >= start, table.c.updated_at < stop)
                frames[kind.name] = shape(kind, pd.read_sql(query, connection), sync_name)
    finally:
        lms.dispose()
    return LearningRecords(first_day, last_day, frames)


def shape(kind: Kind, raw: pd.DataFrame, sync_name: str) -> pd.DataFrame:
    """LMS rows -> delivered columns (lookups still empty) + lms_user_id, updated_at, day."""
    raw = raw.rename(columns=RENAMED.get(kind.name, {}))
    out = pd.DataFrame(index=raw.index)
    out["external_id"] = external_ids(kind, raw, sync_name)
    out["salesforce_user_id"] = None
    out["salesforce_contact_id"] = None
    ids = raw["user_id"].astype("Int64") if pd.api.types.is_numeric_dtype(raw["user_id"]) else raw["user_id"]
    out["lms_user_id"] = ids.astype(str).where(raw["user_id"].notna(), None)  # an API's ids are text
    for column in kind.fields:
        if column in kind.times:
            out[column] = iso_times(raw[column])
        elif column in kind.numbers:
            out[column] = numbers(raw[column], integer=column == "time_spent_seconds")
        else:
            out[column] = raw[column].astype(object).where(raw[column].notna(), None)
    updated = pd.to_datetime(raw["updated_at"], utc=True)
    out["updated_at"] = iso_times(updated)
    out["day"] = updated.dt.strftime("%Y-%m-%d")
    return out[[*delivered_columns(kind), "updated_at", "day"]].astype(object).reset_index(drop=True)


def within_days(
    raws: dict[str, pd.DataFrame], first_day: dt.date, last_day: dt.date, sync_name: str
) -> dict[str, pd.DataFrame]:
    """An API target's raw records (with a UTC `updated_at`) kept to the days asked for, in each kind's
    shape: APIs without "changed since" are read whole and cut here."""
    start = pd.Timestamp(first_day, tz="UTC")
    stop = pd.Timestamp(last_day + dt.timedelta(days=1), tz="UTC")
    frames = {name: empty(kind) for name, kind in KINDS.items()}
    for name, raw in raws.items():
        kept = raw[(raw["updated_at"] >= start) & (raw["updated_at"] < stop)].reset_index(drop=True)
        frames[name] = shape(KINDS[name], kept, sync_name) if len(kept) else empty(KINDS[name])
    return frames


def empty(kind: Kind) -> pd.DataFrame:
    return pd.DataFrame(columns=[*delivered_columns(kind), "updated_at", "day"], dtype=object)


def external_ids(kind: Kind, raw: pd.DataFrame, sync_name: str) -> pd.Series:
    key = raw[kind.key[0]].astype(str)
    for column in kind.key[1:]:
        key = key + ":" + raw[column].astype(str)
    ids = f"{sync_name}:{kind.tag}:" + key
    long = ids.str.len() > MAX_EXTERNAL_ID
    if long.any():  # a very long course id: still stable, as a digest
        ids[long] = ids[long].map(
            lambda text: f"{sync_name}:{kind.tag}:#{hashlib.sha256(text.encode()).hexdigest()}"
        )
    return ids


def iso_times(values: pd.Series) -> pd.Series:
    """Salesforce's datetime text (UTC, milliseconds); a naive LMS time is UTC."""
    stamps = pd.to_datetime(values, utc=True)
    text = (
        stamps.dt.strftime("%Y-%m-%dT%H:%M:%S.")
        + (stamps.dt.microsecond // 1000).astype("Int64").astype(str).str.zfill(3)
        + "Z"
    )
    return text.astype(object).where(stamps.notna(), None)


def numbers(values: pd.Series, integer: bool) -> pd.Series:
    numeric = pd.to_numeric(values, errors="coerce")
    shown = numeric.round().astype("Int64") if integer else numeric.astype(float)
    return shown.astype(object).where(numeric.notna(), None)


def changed_days(config: Config, sync_name: str, since: str | None) -> tuple[list[str], str | None]:
    """The days (YYYY-MM-DD) holding records updated after `since`, and the newest update: two cheap
    queries per kind, for the sensor."""
    target = config.syncs[sync_name].target
    if target.kind != "embedded":
        raise TargetError(f"sync {sync_name}: learning records are read from the embedded LMS only so far")
    lms = EmbeddedLms(config.resolve_url(target.url))
    days, newest = set(), None
    try:
        with lms.engine.connect() as connection:
            for kind in KINDS.values():
                column = embedded_schema.metadata.tables[kind.name].c.updated_at
                query = sa.select(sa.func.date(column)).distinct()
                if since:
                    query = query.where(column > dt.datetime.fromisoformat(since))
                days |= {str(day)[:10] for day in connection.execute(query).scalars() if day is not None}
                latest = connection.execute(sa.select(sa.func.max(column))).scalar()
                if latest is not None:
                    text = latest.replace(tzinfo=None).isoformat()
                    newest = max(newest or text, text)
    finally:
        lms.dispose()
    return sorted(days), newest or since


def lms_users(config: Config, sync_name: str) -> pd.DataFrame:
    """id, email, user_unique_key of every LMS user (text), for finding learners in Salesforce."""
    target = config.syncs[sync_name].target
    if target.kind in API_READERS:
        return _api(target).lms_users(target)
    lms = EmbeddedLms(config.resolve_url(config.syncs[sync_name].target.url))
    users = embedded_schema.users
    try:
        with lms.engine.connect() as connection:
            frame = pd.read_sql(sa.select(users.c.id, users.c.email, users.c.user_unique_key), connection)
    finally:
        lms.dispose()
    frame["id"] = frame["id"].astype(str)
    return frame.astype(object).where(frame.notna(), None)


def _api(target):
    """The reader module of an API target (imported late: it imports this module's shaping)."""
    return importlib.import_module(f"rostersync_pipelines.learning.{API_READERS[target.kind]}")
