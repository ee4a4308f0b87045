"""iSpring Learn REST v3 as a stateful WSGI app that answers and refuses as the real LMS does.

Shapes follow iSpring's OpenAPI file (api-evangelist/ispring, openapi/_original/openapi.yaml) with the
corrections of api-notes §8: user profile fields come back as a list of upper-case `{name, value}`; a
request without `Accept: application/json` is answered in XML; `POST /group/{id}/members` replaces the
list. Only `/api/v3/token` lives under /api/v3; every other path sits at the host's root. Refusals use the
vendor's documented texts where there is one (unique login / email) and `{code, message}` bodies.

Knobs: `page_size`, `latency` (seconds per call), `rate_limit=(calls, per_seconds)` (429 + Retry-After past
it), `throttle(n)` and `fail(n, status)` for bursts, `clock` to age tokens (they last 1800 s).
"""

from __future__ import annotations

import base64
import json
import math
import re
import threading
import time
import uuid
from collections import deque
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from rostersync_pipelines_tests.fakes.ispring_learning import LEARNING_ROUTES
from rostersync_pipelines_tests.fakes.ispring_routes import ROUTES, Refused

TOKEN_LIFETIME = 1800
REASONS = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 401: "Unauthorized",
           403: "Forbidden", 404: "Not Found", 409: "Conflict", 429: "Too Many Requests",
           500: "Internal Server Error", 503: "Service Unavailable"}  # fmt: skip


class IspringFake:
    def __init__(self, client_id="ispring-client-id", client_secret="ispring-client-secret", page_size=1000,
                 latency=0.0, rate_limit=None, clock=time.monotonic, root_name="Northwind Learning Co."):  # fmt: skip
        self.client_id, self.client_secret = client_id, client_secret
        self.page_size, self.latency, self.rate_limit, self.clock = page_size, latency, rate_limit, clock
        self.lock = threading.RLock()
        self.users: dict[str, dict] = {}
        self.departments: dict[str, dict] = {}
        self.groups: dict[str, dict] = {}
        self.taken: dict[tuple[str, str], str] = {}  # ("login" | "email", folded value) -> user id
        self.tokens: dict[str, float] = {}
        self.calls: list[tuple[str, str, int]] = []
        self.token_requests = 0
        self._recent: deque[float] = deque()
        self._bursts: list[tuple[int, str | None]] = []  # (status, Retry-After) answered before anything else
        self.root = self.add_department(root_name, code=None, parent=None)

    # knobs and seeding ----------------------------------------------------------------------------------

    def throttle(self, count: int, retry_after: str | None = "1") -> None:
        self._bursts.extend([(429, retry_after)] * count)

    def fail(self, count: int, status: int = 500) -> None:
        self._bursts.extend([(status, None)] * count)

    def add_department(self, name, code=None, parent="root") -> str:
        department_id = str(uuid.uuid4())
        parent_id = self.root if parent == "root" else parent
        self.departments[department_id] = {"departmentId": department_id, "name": name, "code": code,
                                           "parentDepartmentId": parent_id}  # fmt: skip
        return department_id

    def add_user(self, login, email=None, role="learner", department=None, status=1, **fields) -> str:
        user_id = str(uuid.uuid4())
        self.users[user_id] = {
            "userId": user_id, "role": role, "departmentId": department or self.root, "status": status,
            "fields": {"login": login, "email": email, **fields}, "addedDate": "2026-01-05 09:00:00",
            "subordination": {"subordinationType": "inherit"}, "coSubordination": {"subordinationType": "inherit"},
        }  # fmt: skip
        self.index(self.users[user_id])
        return user_id

    def index(self, user: dict, add: bool = True) -> None:
        """Keep the login / email index in step: uniqueness checks stay O(1) at 10,000s of users."""
        for name in ("login", "email"):
            value = user["fields"].get(name)
            if value and add:
                self.taken[(name, value.lower())] = user["userId"]
            elif value:
                self.taken.pop((name, value.lower()), None)

    def add_group(self, name, members=(), smart=False) -> str:
        group_id = str(uuid.uuid4())
        self.groups[group_id] = {
            "groupId": group_id,
            "name": name,
            "isSmart": smart,
            "userIds": list(members),
        }
        return group_id

    # what tests read ------------------------------------------------------------------------------------

    def write_calls(self) -> list[tuple[str, str, int]]:
        return [call for call in self.calls if call[0] != "GET" and call[1] != "/api/v3/token"]

    def by_login(self, login: str) -> dict:
        return next(
            u for u in self.users.values() if (u["fields"].get("login") or "").lower() == login.lower()
        )

    def by_code(self, code: str) -> dict:
        return next(d for d in self.departments.values() if d["code"] == code)

    def user_view(self, user: dict) -> dict:
        """A user as /users/v2 answers: fields as a list with upper-case names, groups from the groups."""
        fields = [{"name": name.upper(), "value": value} for name, value in user["fields"].items()]
        groups = [g for g, group in self.groups.items() if user["userId"] in group["userIds"]]
        return {**user, "roleId": _role_id(user["role"]), "fields": fields, "groups": groups,
                "lastLoginDate": None, "manageableDepartmentIds": [],
                "userRoles": [{"roleId": _role_id(user["role"]), "roleType": user["role"]}]}  # fmt: skip

    def page(self, records: list, params: dict, key: str) -> dict:
        size = int(_one(params, "pageSize") or self.page_size)
        size = max(1, min(size, self.page_size))
        token = _one(params, "pageToken")
        start = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
        body = {key: records[start : start + size]}
        if start + size < len(records):
            body["nextPageToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
        return body

    # WSGI -----------------------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        if self.latency:
            time.sleep(self.latency)
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        wants_json = "application/json" in environ.get("HTTP_ACCEPT", "")
        with self.lock:
            status, body, headers = self._answer(environ, method, path)
            self.calls.append((method, path, status))
        if path == "/api/v3/token":
            wants_json = True  # the token endpoint answers JSON either way
        payload = b"" if body is None else (json.dumps(body) if wants_json else _xml(body)).encode()
        content_type = "application/json" if wants_json else "application/xml"
        head = [("Content-Type", content_type), ("Content-Length", str(len(payload))), *headers]
        start_response(f"{status} {REASONS.get(status, 'Error')}", head)
        return [payload]

    def _answer(self, environ, method: str, path: str):
        if self._bursts:
            status, retry_after = self._bursts.pop(0)
            return status, {"code": status, "message": REASONS[status]}, _retry(retry_after)
        limited = self._over_limit()
        if limited is not None:
            return 429, {"code": 429, "message": "Too Many Requests"}, _retry(limited)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        params = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        try:
            if path == "/api/v3/token" and method == "POST":
                return 200, self._token(parse_qs(raw.decode())), []
            self._authorize(environ.get("HTTP_AUTHORIZATION", ""))
            for route_method, pattern, handler in (*ROUTES, *LEARNING_ROUTES):
                match = re.fullmatch(pattern, path)
                if match and route_method == method:
                    body = json.loads(raw) if raw else None
                    status, answer = handler(self, *match.groups(), body=body, params=params)
                    return status, answer, []
            raise Refused(404, f'No route found for "{method} {path}"')
        except Refused as refusal:
            return refusal.status, {"code": refusal.status, "message": refusal.message}, []
        except (ValueError, KeyError, TypeError) as error:
            return 400, {"code": 400, "message": f"Bad Request: {error}"}, []

    def _over_limit(self) -> str | None:
        if not self.rate_limit:
            return None
        calls, per_seconds = self.rate_limit
        now = time.monotonic()
        while self._recent and self._recent[0] <= now - per_seconds:
            self._recent.popleft()
        if len(self._recent) >= calls:
            return str(max(1, math.ceil(self._recent[0] + per_seconds - now)))
        self._recent.append(now)
        return None

    def _token(self, form: dict) -> dict:
        self.token_requests += 1
        if _one(form, "grant_type") != "client_credentials":
            raise Refused(400, "Unsupported grant type")
        if _one(form, "client_id") != self.client_id or _one(form, "client_secret") != self.client_secret:
            raise Refused(401, "Invalid client credentials")
        token = uuid.uuid4().hex
        self.tokens[token] = self.clock() + TOKEN_LIFETIME
        return {"access_token": token, "expires_in": TOKEN_LIFETIME, "token_type": "bearer"}

    def _authorize(self, header: str) -> None:
        token = header[len("Bearer ") :] if header.startswith("Bearer ") else None
        if token is None or self.tokens.get(token, 0) <= self.clock():
            raise Refused(401, "Access token is invalid or expired")


def _one(params: dict, name: str):
    values = params.get(name)
    return values[0] if values else None


def _retry(after: str | None) -> list[tuple[str, str]]:
    return [("Retry-After", after)] if after else []


def _role_id(role: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"ispring-role:{role}"))


def _xml(value, tag="response") -> str:
    if isinstance(value, dict):
        inner = "".join(_xml(item, key) for key, item in value.items())
    elif isinstance(value, list):
        inner = "".join(_xml(item, "item") for item in value)
    else:
        inner = "" if value is None else escape(str(value))
    return f"<{tag}>{inner}</{tag}>"
