"""Learning records of a TalentLMS portal (API v1): course progress, certifications and badges.

Calls: v1 has no paging and no action listing every enrollment. Certifications and badges exist only on
one user (`users/id:N`), and that answer also lists the user's courses with their completion, so the
portal is read in 1 + U calls (`users`, then `users/id:N` per user). Reading progress per course
(`courses/id:N`) would add C calls without saving one, since the per-user calls are needed anyway; and a
course's `users[]` carries no completion status. The calls go out `concurrency` at a time, paced to the
target's rate limit (200 calls / 5 s), so a large portal does not read itself into 429s.

`updated_at`: v1 keeps no modification time per record, so each record takes the latest time it has:
- course progress: `completed_on_timestamp`, else `enrolled_on_timestamp`. Progress on a course not yet
  completed therefore stays on its enrollment day: a re-run over that day picks the new percentage up;
- certificate: `issued_date_timestamp`, else `issued_date` (the portal's format, read day first);
- badge: `issued_on_timestamp`, else `issued_on`.
Instructors' rows of a course are not learning records and are left out.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pandas as pd

from rostersync_pipelines.apply_pacing import TokenBucket, pace_session
from rostersync_pipelines.learning.records import within_days
from rostersync_pipelines.targets.talentlms_client import TalentLmsClient

DURATION = {"d": 86400, "h": 3600, "m": 60, "s": 1}  # total_time reads like "1h 3m 17s"


def read(target, sync_name: str, first_day: dt.date, last_day: dt.date) -> dict[str, pd.DataFrame]:
    details = _users(target)
    raws = {"course_progress": _progress(details), "certificates": _certificates(details),
            "badges": _badges(details)}  # fmt: skip
    return within_days(raws, first_day, last_day, sync_name)


def lms_users(target) -> pd.DataFrame:
    client = _client(target)
    try:
        listed = pd.DataFrame(client.get("users") or [], columns=["id", "email"], dtype=object)
    finally:
        client.session.close()
    return listed.assign(id=listed["id"].astype(str), user_unique_key=None)


def _client(target) -> TalentLmsClient:
    client = TalentLmsClient(target.url, target.api_key)
    pace_session(client.session, TokenBucket(target.effective_rate_limit()).take)
    return client


def _users(target) -> list[dict]:
    """Every user in full (courses, certifications, badges); one a user deleted meanwhile is skipped."""
    client = _client(target)
    try:
        ids = [str(user["id"]) for user in client.get("users") or []]
        with ThreadPoolExecutor(max_workers=target.concurrency) as pool:
            found = list(pool.map(lambda user_id: client.find("users", id=user_id), ids))
    finally:
        client.session.close()
    return [user for user in found if user]


def _nested(details: list[dict], key: str, columns: list[str]) -> pd.DataFrame:
    """One row per item of each user's `key` list, with the user's id as `user_id`; text values."""
    if not any(user.get(key) for user in details):
        return pd.DataFrame(columns=[*columns, "user_id"], dtype=object)
    rows = pd.json_normalize(details, key, meta=["id"], meta_prefix="user_")
    return rows.reindex(columns=[*columns, "user_id"]).astype(object)


def _epoch(values: pd.Series, shown: pd.Series | None = None) -> pd.Series:
    stamps = pd.to_datetime(pd.to_numeric(values, errors="coerce"), unit="s", utc=True)
    if shown is not None:  # no timestamp: the date as the portal shows it (day first, its default)
        text = shown.where(shown.fillna("") != "")
        stamps = stamps.fillna(pd.to_datetime(text, dayfirst=True, utc=True, errors="coerce", format="mixed"))
    return stamps


def _seconds(values: pd.Series) -> pd.Series:
    parts = values.fillna("").astype(str).str.extractall(r"(\d+)\s*([dhms])")
    if parts.empty:
        return pd.Series(None, index=values.index, dtype="Int64")
    seconds = parts[0].astype(int) * parts[1].map(DURATION)
    return seconds.groupby(level=0).sum().reindex(values.index).astype("Int64")


def _progress(details: list[dict]) -> pd.DataFrame:
    columns = ["id", "name", "role", "enrolled_on_timestamp", "completed_on_timestamp", "completion_status",
               "completion_percentage", "total_time"]  # fmt: skip
    courses = _nested(details, "courses", columns)
    courses = courses[courses["role"].fillna("learner") != "instructor"].reset_index(drop=True)
    enrolled, completed = _epoch(courses["enrolled_on_timestamp"]), _epoch(courses["completed_on_timestamp"])
    return pd.DataFrame(
        {
            "user_id": courses["user_id"],
            "course_id": courses["id"],
            "course_name": courses["name"],
            "status": courses["completion_status"],
            "completion_percent": courses["completion_percentage"],
            "time_spent_seconds": _seconds(courses["total_time"]),
            "enrolled_at": enrolled,
            "completed_at": completed,
            "score": None,  # v1 gives a score per unit only
            "updated_at": completed.fillna(enrolled),
        }
    )


def _certificates(details: list[dict]) -> pd.DataFrame:
    columns = ["unique_id", "course_id", "course_name", "issued_date", "issued_date_timestamp",
               "expiration_date", "expiration_date_timestamp", "download_url", "public_url"]  # fmt: skip
    certificates = _nested(details, "certifications", columns)
    issued = _epoch(certificates["issued_date_timestamp"], certificates["issued_date"])
    return pd.DataFrame(
        {
            "id": certificates["unique_id"],
            "user_id": certificates["user_id"],
            "course_id": certificates["course_id"],
            "course_name": certificates["course_name"],
            "issued_at": issued,
            "expires_at": _epoch(certificates["expiration_date_timestamp"], certificates["expiration_date"]),
            "url": certificates["public_url"].where(
                certificates["public_url"].fillna("") != "", certificates["download_url"]
            ),
            "updated_at": issued,
        }
    )


def _badges(details: list[dict]) -> pd.DataFrame:
    badges = _nested(details, "badges", ["name", "type", "issued_on", "issued_on_timestamp"])
    issued = _epoch(badges["issued_on_timestamp"], badges["issued_on"])
    return pd.DataFrame(
        {
            "id": badges["user_id"].astype(str) + ":" + badges["type"].astype(str) + ":" + badges["name"],
            "user_id": badges["user_id"],
            "badge_name": badges["name"],
            "badge_type": badges["type"],
            "issued_at": issued,
            "updated_at": issued,
        }
    )
