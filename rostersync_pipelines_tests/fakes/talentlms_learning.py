"""The learning side of the fake TalentLMS portal: courses, enrollments, certifications, badges.

Shapes as v1 answers them (api-notes §4, py-talentlms's docstring samples): `users/id:N` carries
`courses[]`, `certifications[]` and `badges[]`; `courses` lists courses abridged and `courses/id:N` adds
`users[]` (completion fields, no completion status), `units[]`, `rules[]`, `prerequisites[]`. Dates are
text in the portal's format (`DD/MM/YYYY, HH:MM:SS`) beside `*_timestamp` epoch strings; numbers are text;
an unknown course is 404 "The requested course does not exist". Seeding takes UTC datetimes.
"""

from __future__ import annotations

import datetime as dt

from rostersync_pipelines_tests.fakes.talentlms_actions import Refused

SHOWN = "%d/%m/%Y, %H:%M:%S"


def _when(moment: dt.datetime | None, shown: str = SHOWN) -> tuple[str, str | None]:
    if moment is None:
        return "", None
    return moment.strftime(shown), str(int(moment.replace(tzinfo=dt.UTC).timestamp()))


def _duration(seconds: int | None) -> str | None:
    if not seconds:
        return None
    hours, rest = divmod(seconds, 3600)
    text = (f"{hours}h " if hours else "") + f"{rest // 60}m {rest % 60}s"
    return text


class LearningActions:
    """Mixed into FakeTalentLms before PortalActions: a full user gains its learning lists."""

    portal_url = "https://acme.talentlms.com"

    @property
    def learning(self) -> dict:
        return self.__dict__.setdefault(
            "_learning", {"courses": {}, "enrollments": {}, "certs": [], "badges": []}
        )

    # ---- seeding (tests) ----
    def add_course(self, name: str) -> str:
        course_id = self._id()
        self.learning["courses"][course_id] = {"id": course_id, "name": name, "code": "", "status": "active"}
        return course_id

    def enroll(self, user_id, course_id, enrolled: dt.datetime, percent=0, completed=None, seconds=None,
               role="learner") -> None:  # fmt: skip
        self.learning["enrollments"][(str(user_id), str(course_id))] = {
            "role": role, "enrolled": enrolled, "percent": percent, "completed": completed, "seconds": seconds,
        }  # fmt: skip

    def certify(self, user_id, course_id, issued: dt.datetime, expires: dt.datetime | None = None) -> str:
        unique_id = f"{int(user_id):04x}-{int(course_id):04x}-{len(self.learning['certs']):04x}-7687"
        self.learning["certs"].append((str(user_id), str(course_id), unique_id, issued, expires))
        return unique_id

    def award_badge(self, user_id, name: str, kind: str, criteria: str, issued: dt.datetime) -> None:
        self.learning["badges"].append((str(user_id), name, kind, criteria, issued))

    # ---- answers ----
    def _enrollment(self, course_id, enrollment: dict) -> dict:
        enrolled, enrolled_stamp = _when(enrollment["enrolled"])
        completed, completed_stamp = _when(enrollment["completed"])
        return {"role": enrollment["role"], "enrolled_on": enrolled, "enrolled_on_timestamp": enrolled_stamp,
                "completed_on": completed, "completed_on_timestamp": completed_stamp,
                "completion_percentage": str(enrollment["percent"]), "expired_on": "",
                "expired_on_timestamp": None, "total_time": _duration(enrollment["seconds"])}  # fmt: skip

    def _full(self, user) -> dict:
        full = super()._full(user)
        courses = self.learning["courses"]
        full["courses"] = [
            {"id": course_id, "name": courses[course_id]["name"], **self._enrollment(course_id, e),
             "completion_status": "Completed" if e["completed"] else "incomplete"}
            for (user_id, course_id), e in self.learning["enrollments"].items() if user_id == user["id"]
        ]  # fmt: skip
        full["certifications"] = [
            {"course_id": course_id, "course_name": courses[course_id]["name"], "unique_id": unique_id,
             "issued_date": _when(issued, "%d/%m/%Y")[0], "issued_date_timestamp": _when(issued)[1],
             "expiration_date": _when(expires, "%d/%m/%Y")[0], "expiration_date_timestamp": _when(expires)[1],
             "download_url": f"{self.portal_url}/user/downloadcertification/id:{unique_id}",
             "public_url": f"{self.portal_url}/certification/{unique_id}"}
            for user_id, course_id, unique_id, issued, expires in self.learning["certs"] if user_id == user["id"]
        ]  # fmt: skip
        full["badges"] = [
            {"name": name, "type": kind, "criteria": criteria, "issued_on": _when(issued)[0],
             "issued_on_timestamp": _when(issued)[1]}
            for user_id, name, kind, criteria, issued in self.learning["badges"] if user_id == user["id"]
        ]  # fmt: skip
        return full

    def do_courses(self, params):
        courses = self.learning["courses"]
        if not params:
            return [dict(course) for course in courses.values()]
        if "id" not in params:
            raise Refused(400, "Invalid arguments provided")
        if params["id"] not in courses:
            raise Refused(404, "The requested course does not exist", "not_found")
        course_id = params["id"]
        users = [
            {"id": user_id, "name": f"{self.users[user_id]['first_name'][:1]}. {self.users[user_id]['last_name']}",
             **self._enrollment(course_id, e)}
            for (user_id, enrolled_in), e in self.learning["enrollments"].items() if enrolled_in == course_id
        ]  # fmt: skip
        return {**courses[course_id], "users": users, "units": [], "rules": [], "prerequisites": []}
