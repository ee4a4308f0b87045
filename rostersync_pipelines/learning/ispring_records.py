"""Learning records of an iSpring Learn account (REST v3): course results and enrollment certificates.

Two paged reads, 1,000 records a page: `GET /learners/results` for course progress and `GET /enrollments`
for certificates (`certificate{issuedCertificateId, issueDate, expiryDate}`). `/learners/results` answers
only active users' results unless `userStatuses` says otherwise, so all three statuses (1, 3, 5) are asked
for: a learner who left keeps their history. The API has no badges, so that frame is always empty. A
certificate's download URL costs one `GET /certificate/{id}` each and is not fetched (`url` stays empty).

`updated_at`: iSpring gives no modification time per record, so each takes the latest time it has:
- course progress: `completionDate`, else `accessDate` (when the course opened to the learner); progress on
  an unfinished course stays on that day, so a re-run over it picks the new percentage up;
- certificate: `issueDate` (a day: midnight UTC).
Times without an offset are read as UTC. A learner enrolled in one course twice keeps the newest result.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from rostersync_pipelines.apply_pacing import TokenBucket, pace_session
from rostersync_pipelines.learning.records import within_days
from rostersync_pipelines.targets.ispring_client import IspringClient
from rostersync_pipelines.targets.ispring_state import user_rows

ALL_USER_STATUSES = [1, 3, 5]  # active, inactive, employment ended
RESULT_COLUMNS = ["userId", "courseId", "courseTitle", "accessDate", "completionDate", "timeSpent",
                  "completionStatus", "awardedScore", "progress"]  # fmt: skip


def read(target, sync_name: str, first_day: dt.date, last_day: dt.date) -> dict[str, pd.DataFrame]:
    client = _client(target)
    try:
        results = list(client.pages("/learners/results", "results", {"userStatuses": ALL_USER_STATUSES}))
        enrollments = list(client.pages("/enrollments", "enrollments"))
    finally:
        client.close()
    results = pd.DataFrame(results, columns=RESULT_COLUMNS, dtype=object)
    titles = results.drop_duplicates("courseId").set_index("courseId")["courseTitle"]
    raws = {"course_progress": _progress(results), "certificates": _certificates(enrollments, titles)}
    return within_days(raws, first_day, last_day, sync_name)  # iSpring's REST API has no badges


def lms_users(target) -> pd.DataFrame:
    client = _client(target)
    try:
        rows = user_rows(list(client.pages("/users/v2", "userProfiles")))
    finally:
        client.close()
    return pd.DataFrame(rows, columns=["id", "email", "user_unique_key"], dtype=object)


def _client(target) -> IspringClient:
    client = IspringClient(target.url, target.client_id, target.client_secret)
    pace_session(client.session, TokenBucket(target.effective_rate_limit()).take)
    return client


def _times(values: pd.Series) -> pd.Series:
    text = values.where(values.fillna("") != "")
    return pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")


def _progress(results: pd.DataFrame) -> pd.DataFrame:
    access, completion = _times(results["accessDate"]), _times(results["completionDate"])
    raw = pd.DataFrame(
        {
            "user_id": results["userId"],
            "course_id": results["courseId"],
            "course_name": results["courseTitle"],
            "status": results["completionStatus"],
            "completion_percent": results["progress"],
            "time_spent_seconds": results["timeSpent"],
            "enrolled_at": access,
            "completed_at": completion,
            "score": results["awardedScore"],
            "updated_at": completion.fillna(access),
        }
    )
    raw = raw.sort_values("updated_at", kind="stable", na_position="first")
    return raw.drop_duplicates(["user_id", "course_id"], keep="last").reset_index(drop=True)


def _certificates(enrollments: list[dict], titles: pd.Series) -> pd.DataFrame:
    issued = [e for e in enrollments if (e.get("certificate") or {}).get("issuedCertificateId")]
    frame = pd.json_normalize(issued) if issued else pd.DataFrame()
    columns = ["learnerId", "courseId", "certificate.issuedCertificateId", "certificate.issueDate",
               "certificate.expiryDate"]  # fmt: skip
    frame = frame.reindex(columns=columns).astype(object)
    issue = _times(frame["certificate.issueDate"])
    return pd.DataFrame(
        {
            "id": frame["certificate.issuedCertificateId"],
            "user_id": frame["learnerId"],
            "course_id": frame["courseId"],
            "course_name": frame["courseId"].map(titles),
            "issued_at": issue,
            "expires_at": _times(frame["certificate.expiryDate"]),
            "url": None,
            "updated_at": issue,
        }
    )
