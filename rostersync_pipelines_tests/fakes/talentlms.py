"""A TalentLMS portal behind API v1, as a stateful WSGI app (mount it with requests-wsgi-adapter).

It answers as v1 does (api-notes §4, §8): path-segment GET parameters, form POSTs, ids and numbers as
strings (a create answers its id as an int), `{"error": {"type", "message"}}` with the LMS's own messages,
an abridged `users` list, members only on `groups/id:N` and `branches/id:N`, 429 with no Retry-After past
the rate limit. It refuses what TalentLMS refuses: a taken login or email, an unknown group key, a
missing mandatory custom field, a weak password. Knobs: latency, throttling, failures, the rate limit.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections import Counter, deque
from urllib.parse import parse_qsl, unquote

from rostersync_pipelines_tests.fakes.talentlms_actions import PortalActions, Refused
from rostersync_pipelines_tests.fakes.talentlms_learning import LearningActions

READS = {"users", "groups", "branches", "courses", "getcustomregistrationfields", "ratelimit", "siteinfo"}
POSTS = {"usersignup", "edituser", "creategroup", "createbranch", "deletebranch", "deleteuser"}
GETS = READS | {
    "usersetstatus",
    "addusertogroup",
    "removeuserfromgroup",
    "addusertobranch",
    "removeuserfrombranch",
}


class FakeTalentLms(LearningActions, PortalActions):
    def __init__(
        self, api_key="test-key", rate_limit=(200, 5.0), latency=0.0, custom_fields=(), signup_status="active"
    ):
        self.api_key, self.rate_limit, self.latency = api_key, rate_limit, latency
        self.signup_status = signup_status
        self.lock = threading.Lock()
        self.calls: Counter = Counter()  # action -> answered calls (429s and injected failures excluded)
        self.throttled = 0
        self.recent: deque = deque()
        self.throttle_next = 0  # the next N calls answer 429
        self.fail_next = 0  # the next N calls answer 500
        self.next_id = 1
        self.users: dict[str, dict] = {}
        self.branches: dict[str, dict] = {}
        self.groups: dict[str, dict] = {}
        self.fields = [
            {
                "key": f"custom_field_{n}",
                "type": "text",
                "name": name,
                "mandatory": "yes" if required else "no",
                "visible_on_reports": "yes",
                "dropdown_values": "",
                "checkbox_status": "off",
                "selective_availability": "no",
                "branch": None,
                "main_domain_availability": None,
                "previous_key": None,
                "order": n,
            }
            for n, (name, required) in enumerate(custom_fields, start=1)
        ]
        self.add_user("admin", "admin@acme.example", "Portal", "Owner", user_type="SuperAdmin")

    # ---- seeding and inspection (tests) ----
    def _id(self) -> str:
        self.next_id += 1
        return str(self.next_id - 1)

    def add_user(self, login, email, first, last, user_type="Learner-Type", status="active", **custom) -> str:
        user_id = self._id()
        self.users[user_id] = {
            "id": user_id,
            "login": login,
            "first_name": first,
            "last_name": last,
            "email": email,
            "restrict_email": "0",
            "user_type": user_type,
            "timezone": "(GMT +00:00) UTC",
            "language": "English",
            "status": status,
            "deactivation_date": "",
            "level": "1",
            "points": "0",
            "created_on": "01/12/2026, 09:00:00",
            "last_updated": "01/12/2026, 09:00:00",
            "last_updated_timestamp": str(int(time.time())),
            "avatar": "https://acme.talentlms.com/avatar.png",
            "bio": None,
            "login_key": f"https://acme.talentlms.com/index/autologin/key:{user_id}",
            **{field["key"]: custom.get(field["name"], "") for field in self.fields},
        }
        return user_id

    def add_branch(self, name, description="") -> str:
        branch_id = self._id()
        self.branches[branch_id] = {"id": branch_id, "name": name, "description": description, "users": []}
        return branch_id

    def add_group(self, name, key) -> str:
        group_id = self._id()
        self.groups[group_id] = {"id": group_id, "name": name, "description": "", "key": key, "users": []}
        return group_id

    def user_by_login(self, login) -> dict:
        return next(user for user in self.users.values() if user["login"] == login)

    def branch_of(self, user_id) -> list[str]:
        return [b["name"] for b in self.branches.values() if user_id in b["users"]]

    def write_calls(self) -> int:
        return sum(count for action, count in self.calls.items() if action not in READS)

    # ---- WSGI ----
    def __call__(self, environ, start_response):
        if self.latency:
            time.sleep(self.latency)
        status, body = self._answer(environ)
        start_response(
            f"{status} {'OK' if status < 400 else 'Error'}", [("Content-Type", "application/json")]
        )
        return [json.dumps(body).encode()]

    def _answer(self, environ) -> tuple[int, object]:
        with self.lock:
            if not self._authorized(environ.get("HTTP_AUTHORIZATION", "")):
                return 401, _error("Invalid API key provided", "unauthorized")
            if self._over_limit() or self.throttle_next:
                self.throttle_next = max(0, self.throttle_next - 1)
                self.throttled += 1
                return 429, _error("API rate limit exceeded", "rate_limit")
            if self.fail_next:
                self.fail_next -= 1
                return 500, _error("Internal server error", "server_error")
            path = environ.get("PATH_INFO", "")
            match = re.fullmatch(r"/api/v1/([a-z]+)(?:/(.*))?", path)
            method = environ["REQUEST_METHOD"]
            if not match or match.group(1) not in (POSTS if method == "POST" else GETS):
                return 400, _error("The requested API action does not exist")
            action = match.group(1)
            params = _path_params(match.group(2) or "") if method == "GET" else _form(environ)
            try:
                answer = getattr(self, f"do_{action}")(params)
            except Refused as refused:
                self.calls[action] += 1
                return refused.status, _error(refused.message, refused.kind)
            except KeyError:
                return 400, _error("Invalid arguments provided")
            self.calls[action] += 1
            return 200, answer

    def _authorized(self, header: str) -> bool:
        if not header.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user == self.api_key and password == ""

    def _over_limit(self) -> bool:
        calls, seconds = self.rate_limit
        now = time.monotonic()
        while self.recent and self.recent[0] <= now - seconds:
            self.recent.popleft()
        if len(self.recent) >= calls:
            return True
        self.recent.append(now)
        return False


def _error(message: str, kind: str = "invalid_request") -> dict:
    return {"error": {"type": kind, "message": message}}


def _path_params(segment: str) -> dict:
    pairs = [part.split(":", 1) for part in segment.split(",") if part]
    return {unquote(key): unquote(value) for key, value in pairs}


def _form(environ) -> dict:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return dict(parse_qsl(environ["wsgi.input"].read(length).decode()))
