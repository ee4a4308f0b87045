"""Microsoft Graph v1.0 and the Microsoft identity platform, in process, as one WSGI app (api-notes §3, §8).

It keeps a directory (users, groups) and a change log, so `/users/delta` answers as Graph does: a full
round lists every user, a round from a delta token only the users whose selected properties changed since
(removed ones as `@removed`), tokens encode the version they continue from, `$select` is honoured and
checked, pages follow `Prefer: odata.maxpagesize` up to a cap, and `manager@delta` carries the manager.
Knobs: `throttle` (429 + Retry-After), `fail_delta_after` (an outage half way through a read),
`expire_delta_links` (410 with Location, or 400 syncStateNotFound) and `forbid` (403, no consent).
It refuses what Graph refuses: unknown properties, `$top`/`$expand`/`$orderby` on delta, `$select` with a
skip token, unescaped quotes in `$filter`, a missing or foreign bearer token, a wrong secret or tenant.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from wsgiadapter import WSGIAdapter

from rostersync_pipelines.sources.entra_graph import CLOUDS
from rostersync_pipelines_tests.fakes.graph_delta import DeltaFeed, decode_token, encode_token, error

TENANT_ID = "9c1d6f3e-52a4-4b8e-9f0d-3a7e6b2c1d40"
CLIENT_ID = "4f7a2c1e-8b3d-4e6f-a1b2-c3d4e5f60718"
CLIENT_SECRET = "Qx8~fake.secret_value-never-logged"
USER_PROPERTIES = {
    name.casefold(): name
    for name in """id accountEnabled businessPhones city companyName country department displayName employeeId
    employeeType employeeOrgData givenName jobTitle mail mailNickname mobilePhone officeLocation
    onPremisesSamAccountName postalCode preferredLanguage state surname usageLocation userPrincipalName
    userType manager""".split()
}
DEFAULT_SELECT = [
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "surname",
    "userPrincipalName",
]
FILTER = re.compile(r"\s*displayName\s+eq\s+'((?:[^']|'')*)'\s*")


@dataclass
class User:
    serial: int
    id: str
    properties: dict
    manager: str | None = None
    previous_manager: str | None = None
    deleted_at: int | None = None
    ever_set: set = field(default_factory=set)


@dataclass
class Group:
    id: str
    displayName: str
    members: list[str] = field(default_factory=list)  # user or group ids


class FakeGraph(DeltaFeed):
    properties, default_select = USER_PROPERTIES, DEFAULT_SELECT

    def __init__(self, cloud: str = "global", max_page_size: int = 200, domain="contoso.onmicrosoft.com"):
        self.login_host, self.graph_host = CLOUDS[cloud]
        self.tenants, self.max_page_size = {TENANT_ID, domain}, max_page_size
        self.records: list[User] = []
        self.by_id: dict[str, User] = {}
        self.groups: dict[str, Group] = {}
        self.version, self.token_serial, self.expired_before, self.expiry = 0, 0, 0, "gone"
        self.changes: list[tuple[int, int, str]] = []  # (version, user serial, property or "*")
        self.tokens: set[str] = set()
        self.calls: list[tuple[str, str, str]] = []  # (host, path, query string) of every request
        self.throttled, self.retry_after, self.forbidden = 0, "1", False
        self.delta_pages_left: int | None = None
        self.empty_pages = 0
        self._member_lists: dict[
            str, list[str]
        ] = {}  # skip token -> the member list its first page saw  # empty pages (with a nextLink) at the start of every delta round
        self._random = random.Random(7)

    # -- the directory, as an administrator changes it -------------------------------------------------------
    def _new_id(self) -> str:
        return str(uuid.UUID(int=self._random.getrandbits(128), version=4))

    def _bump(self) -> int:
        self.version += 1
        return self.version

    def add_user(self, manager: str | None = None, **properties) -> str:
        user = User(len(self.records), self._new_id(), dict(properties), manager)
        user.ever_set = {name for name, value in properties.items() if value is not None}
        self.records.append(user)
        self.by_id[user.id] = user
        self.changes.append((self._bump(), user.serial, "*"))
        return user.id

    def update_user(self, user_id: str, **properties) -> None:
        user, version = self.by_id[user_id], self._bump()
        for name, value in properties.items():
            if name == "manager":
                user.previous_manager, user.manager = user.manager, value
            else:
                user.properties[name] = value
                user.ever_set |= {name} if value is not None else set()
            self.changes.append((version, user.serial, name))

    def delete_user(self, user_id: str) -> None:
        user = self.by_id[user_id]
        user.deleted_at = self._bump()
        self.changes.append((user.deleted_at, user.serial, "*"))

    def add_group(self, name: str, members=()) -> str:
        group = Group(self._new_id(), name, list(members))
        self.groups[group.id] = group
        return group.id

    # -- knobs ----------------------------------------------------------------------------------------------
    def throttle(self, times: int, retry_after: str = "1") -> None:
        self.throttled, self.retry_after = times, retry_after

    def fail_delta_after(self, pages: int | None) -> None:
        """Serve `pages` more delta pages, then answer 503 to every delta request (None: heal)."""
        self.delta_pages_left = pages

    def expire_delta_links(self, mode: str = "gone") -> None:
        """Every delta link issued so far is refused: "gone" (410 + Location) or "expired" (400)."""
        self.expired_before, self.expiry = self.token_serial, mode

    def forbid(self, forbidden: bool = True) -> None:
        self.forbidden = forbidden

    def transports(self) -> dict[str, WSGIAdapter]:
        adapter = WSGIAdapter(self)
        return {f"https://{self.login_host}": adapter, f"https://{self.graph_host}": adapter}

    def graph_calls(self, path_start: str = "/v1.0/") -> int:
        return sum(
            1 for host, path, _ in self.calls if host == self.graph_host and path.startswith(path_start)
        )

    def delta_requests(self) -> list[str]:
        """The query strings of the /users/delta requests, in order."""
        return [query for host, path, query in self.calls if path == "/v1.0/users/delta"]

    # -- HTTP -------------------------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        host, path = environ["SERVER_NAME"], environ["PATH_INFO"]
        self.calls.append((host, path, environ["QUERY_STRING"]))
        query = {key: values[0] for key, values in parse_qs(environ["QUERY_STRING"], True).items()}
        if host == self.login_host:
            status, body, headers = self._login(environ, path)
        else:
            status, body, headers = self._graph(environ, path, query)
        start_response(status, [("Content-Type", "application/json"), *headers])
        return [json.dumps(body).encode()]

    def _login(self, environ, path: str):
        tenant, _, rest = path.strip("/").partition("/")
        if tenant not in self.tenants:
            return _oauth_error("400 Bad Request", "invalid_tenant", 90002, f"Tenant '{tenant}' not found")
        base = f"https://{self.login_host}/{TENANT_ID}"
        if rest == "v2.0/.well-known/openid-configuration" and environ["REQUEST_METHOD"] == "GET":
            body = {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "issuer": f"{base}/v2.0",
            }
            return "200 OK", body, []
        if rest != "oauth2/v2.0/token" or environ["REQUEST_METHOD"] != "POST":
            return "404 Not Found", {"error": "not_found"}, []
        length = int(environ.get("CONTENT_LENGTH") or 0)
        form = {key: value[0] for key, value in parse_qs(environ["wsgi.input"].read(length).decode()).items()}
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(
                "400 Bad Request", "unsupported_grant_type", 70003, "Grant type not supported"
            )
        if form.get("client_id") != CLIENT_ID:
            return _oauth_error(
                "400 Bad Request", "unauthorized_client", 700016, "Application was not found in the directory"
            )
        if form.get("client_secret") != CLIENT_SECRET:
            return _oauth_error(
                "401 Unauthorized", "invalid_client", 7000215, "Invalid client secret provided"
            )
        if form.get("scope") != f"https://{self.graph_host}/.default":
            return _oauth_error("400 Bad Request", "invalid_scope", 70011, "The provided scope is not valid")
        token = f"eyJ0eXAiOiJKV1Qi.{self._new_id()}"
        self.tokens.add(token)
        return (
            "200 OK",
            {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token},
            [],
        )

    def _graph(self, environ, path: str, query: dict):
        bearer = environ.get("HTTP_AUTHORIZATION", "")
        if not bearer.startswith("Bearer ") or bearer[7:] not in self.tokens:
            return error("401 Unauthorized", "InvalidAuthenticationToken", "Access token validation failure.")
        if self.throttled:
            self.throttled -= 1
            status = error("429 Too Many Requests", "TooManyRequests", "Please retry again later.")
            return status[0], status[1], [("Retry-After", self.retry_after)]
        if self.forbidden:
            return error(
                "403 Forbidden",
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            )
        if path == "/v1.0/users/delta":
            return self._delta(query, environ.get("HTTP_PREFER", ""))
        if path == "/v1.0/groups":
            return self._find_groups(query)
        match = re.fullmatch(r"/v1\.0/groups/([^/]+)(/transitiveMembers/microsoft\.graph\.user)?", path)
        if match:
            group = self.groups.get(match.group(1))
            if group is None:
                return error(
                    "404 Not Found",
                    "Request_ResourceNotFound",
                    f"Resource '{match.group(1)}' does not exist.",
                )
            if match.group(2):
                return self._members(group, query)
            return "200 OK", {"id": group.id, "displayName": group.displayName}, []
        return error("400 Bad Request", "BadRequest", f"Resource not found for the segment '{path}'.")

    def _find_groups(self, query: dict):
        groups = list(self.groups.values())
        if "$filter" in query:
            match = FILTER.fullmatch(query["$filter"])
            if match is None:
                return error("400 Bad Request", "BadRequest", f"Invalid filter clause: {query['$filter']}")
            wanted = match.group(1).replace("''", "'").casefold()
            groups = [group for group in groups if group.displayName.casefold() == wanted]
        value = [{"id": group.id, "displayName": group.displayName} for group in groups]
        return (
            "200 OK",
            {"@odata.context": f"https://{self.graph_host}/v1.0/$metadata#groups", "value": value},
            [],
        )

    def _transitive_users(self, group: Group) -> list[str]:
        users, seen, pending = {}, set(), [group.id]
        while pending:
            for member in self.groups[pending.pop()].members:
                if member in self.groups and member not in seen:
                    seen.add(member)
                    pending.append(member)
                elif member in self.by_id and self.by_id[member].deleted_at is None:
                    users[self.by_id[member].serial] = member
        return [users[serial] for serial in sorted(users)]

    def _members(self, group: Group, query: dict):
        top = int(query.get("$top") or 100)
        if not 1 <= top <= 999:
            return error("400 Bad Request", "Request_BadRequest", "Invalid page size specified: '$top'.")
        if "$skiptoken" in query:  # later pages list the members as the first page saw them
            state = decode_token(query["$skiptoken"], ("a", "m"))
            if state is None or state["m"] not in self._member_lists:
                return error("400 Bad Request", "Request_BadRequest", "Invalid skip token.")
            ordered, start = self._member_lists[state["m"]], state["a"]
        else:
            ordered, start = self._transitive_users(group), 0
            state = {"m": self._new_id()}
            self._member_lists[state["m"]] = ordered
        body = {
            "@odata.context": f"https://{self.graph_host}/v1.0/$metadata#users(id)",
            "value": [{"id": member} for member in ordered[start : start + top]],
        }
        if start + top < len(ordered):
            token = encode_token({**state, "a": start + top})
            body["@odata.nextLink"] = (
                f"https://{self.graph_host}/v1.0/groups/{group.id}/transitiveMembers/microsoft.graph.user"
                f"?$select=id&$top={top}&$skiptoken={token}"
            )
        return "200 OK", body, []


def _oauth_error(status: str, code: str, number: int, text: str):
    description = f"AADSTS{number}: {text}. Trace ID: 0f1e2d3c Correlation ID: 4b5a6978 Timestamp: 2026-01-05"
    return status, {"error": code, "error_description": description, "error_codes": [number]}, []
