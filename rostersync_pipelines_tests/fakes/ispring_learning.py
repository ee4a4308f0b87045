"""The learning endpoints of the iSpring fake: `GET /learners/results` and `GET /enrollments`, paged.

Shapes follow iSpring's OpenAPI file (LearnerResult, Enrollment with IssuedCertificateInformation):
datetimes as ISO 8601 text, enrollment dates as days, `nextPageToken` paging. As api-notes §8 says,
`/learners/results` answers only active users' results unless `userStatuses` (repeated, 1 / 3 / 5) asks
for others; `/enrollments` filters by `courseIds[]`, `learnerIds[]`, `enrollmentIds[]` (the names the file
declares). Seeding: `add_course(fake, title)`, `enroll(fake, user, course, ...)` on the IspringFake.
"""

from __future__ import annotations

import datetime as dt
import uuid

from rostersync_pipelines_tests.fakes.ispring_routes import Refused

STATUSES = {"1", "3", "5"}
COMPLETION = {"not_started", "in_progress", "pending", "complete", "passed", "accepted", "incomplete", "failed",
              "declined"}  # fmt: skip


def _learning(fake) -> dict:
    return fake.__dict__.setdefault("_learning", {"courses": {}, "enrollments": {}})


def add_course(fake, title: str) -> str:
    course_id = str(uuid.uuid4())
    _learning(fake)["courses"][course_id] = title
    return course_id


def enroll(fake, user_id, course_id, access: dt.datetime, status="not_started", progress=0.0, seconds=0,
           completed: dt.datetime | None = None, score=None, certificate: dt.date | None = None,
           expires: dt.date | None = None) -> str:  # fmt: skip
    """One enrollment and its result; `certificate` (the issue day) issues one."""
    with fake.lock:
        enrollment_id = str(uuid.uuid4())
        if status not in COMPLETION:
            raise ValueError(f"not an iSpring completion status: {status}")
        _learning(fake)["enrollments"][enrollment_id] = {
            "userId": user_id, "courseId": course_id, "access": access, "status": status, "progress": progress,
            "seconds": seconds, "completed": completed, "score": score,
            "certificate": None if certificate is None else {
                "issuedCertificateId": str(uuid.uuid4()), "issueDate": certificate.isoformat(),
                **({"expiryDate": expires.isoformat()} if expires else {})},
        }  # fmt: skip
        return enrollment_id


def _stamp(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def list_results(fake, body, params):
    wanted = params.get("userStatuses", ["1"])  # only active users unless asked
    if set(wanted) - STATUSES:
        raise Refused(400, f"Invalid value for userStatuses: {','.join(sorted(set(wanted) - STATUSES))}")
    learning = _learning(fake)
    results = [
        {"userId": e["userId"], "courseId": e["courseId"], "courseTitle": learning["courses"][e["courseId"]],
         "enrollmentId": enrollment_id, "accessDate": _stamp(e["access"]), "dueDate": None,
         "expirationDate": None, "completionDate": _stamp(e["completed"]), "duration": 0,
         "timeSpent": e["seconds"], "completionStatus": e["status"], "awardedScore": e["score"],
         "passingScore": 80.0, "progress": e["progress"], "isOverdue": False, "viewsCount": 1}
        for enrollment_id, e in learning["enrollments"].items()
        if e["userId"] in fake.users and str(fake.users[e["userId"]]["status"]) in wanted
    ]  # fmt: skip
    return 200, fake.page(results, params, "results")


def list_enrollments(fake, body, params):
    enrollments = [
        {"enrollmentId": enrollment_id, "courseId": e["courseId"], "learnerId": e["userId"],
         "accessDate": e["access"].date().isoformat(), "shouldLockAfterDueDate": False,
         **({"certificate": e["certificate"]} if e["certificate"] else {}), "enrollmentTypeGroup": 0}
        for enrollment_id, e in _learning(fake)["enrollments"].items()
    ]  # fmt: skip
    for key, field in (("courseIds[]", "courseId"), ("learnerIds[]", "learnerId"),
                       ("enrollmentIds[]", "enrollmentId")):  # fmt: skip
        if key in params:
            enrollments = [e for e in enrollments if e[field] in params[key]]
    return 200, fake.page(enrollments, params, "enrollments")


LEARNING_ROUTES = [("GET", "/learners/results", list_results), ("GET", "/enrollments", list_enrollments)]
