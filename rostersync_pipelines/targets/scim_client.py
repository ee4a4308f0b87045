"""The SCIM 2.0 protocol over plain requests (RFC 7644): bearer auth, ListResponse paging, errors for people.

Plain requests rather than scim2-client: that client has no requests engine (only httpx2, WSGI, ASGI), and
every RosterSync connector must share `http.new_session()` (HTTPS_PROXY, REQUESTS_CA_BUNDLE) and
`http.request()` (retries honouring Retry-After). The protocol surface we need is small: one filter, one
PatchOp shape, one paging loop.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import requests

from rostersync_pipelines import http
from rostersync_pipelines.errors import TargetError, TransientTargetError

SCIM_JSON = "application/scim+json"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
PAGE_SIZE = 1000  # the server may send fewer (its filter.maxResults); paging follows what it sends
CALL_DEADLINE = 300.0  # seconds one call may take, retries and Retry-After waits included


def quoted(value: str) -> str:
    """A filter value as an RFC 7644 §3.4.2.2 string (JSON string rules): a value can never change the query."""
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


class ScimClient:
    """One SCIM service provider at `base_url` (…/scim/v2); `what` names it in every message."""

    def __init__(self, base_url: str, token: str | None, session: requests.Session | None = None):
        self.base_url = base_url.rstrip("/")
        self.session = session or http.new_session()
        self.session.headers.update({"Accept": SCIM_JSON, "Content-Type": SCIM_JSON})
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.what = f"the SCIM server at {self.base_url}"

    def call(
        self, method: str, path: str, doing: str, *, etag: str | None = None, **kwargs
    ) -> requests.Response:
        """One call, retried by http.request; any answer but 2xx becomes a TargetError naming `doing`."""
        headers = {"If-Match": etag} if etag else {}
        deadline = time.monotonic() + CALL_DEADLINE
        try:
            response = http.request(
                self.session, method, self.base_url + path, headers=headers, deadline=deadline, **kwargs
            )
        except (requests.ConnectionError, requests.Timeout) as error:
            raise TransientTargetError(
                f"{self.what} did not answer ({doing}): {type(error).__name__}"
            ) from None
        if response.status_code < 300:
            return response
        raise self.error(response, doing)

    def error(self, response: requests.Response, doing: str) -> TargetError:
        status, detail = response.status_code, _detail(response)
        if status in http.RETRY_STATUSES:
            return TransientTargetError(
                f"{self.what} still answered {status} after retries ({doing}){detail}"
            )
        if status in (401, 403):
            return TargetError(
                f"{self.what} refused the bearer token ({status}): "
                "set target.token (e.g. ${SCIM_TOKEN}) to a valid token with write access to Users and Groups"
            )
        if status == 412:
            return TargetError(
                f"{doing}: changed on {self.what} since it was read (412); the next sync re-reads it"
            )
        return TargetError(f"{self.what} refused {doing} ({status}){detail}")

    def resources(self, path: str, doing: str, **params) -> Iterator[dict]:
        """Every resource of a (filtered) listing, page by page: startIndex from 1 until totalResults."""
        start = 1
        while True:
            page = self.call("GET", path, doing, params={**params, "startIndex": start, "count": PAGE_SIZE})
            body = page.json()
            found = body.get("Resources") or []
            yield from found
            start += len(found)
            if not found or start > int(body.get("totalResults") or 0):
                return

    def search(self, path: str, attribute: str, value: str, doing: str) -> list[dict]:
        return list(self.resources(path, doing, filter=f"{attribute} eq {quoted(value)}"))

    def patch(self, path: str, operations: list[dict], doing: str, etag: str | None) -> requests.Response:
        """RFC 7644 §3.5.2; the server may answer 200 with the resource or 204 with no body."""
        body = {"schemas": [PATCH_OP], "Operations": operations}
        return self.call("PATCH", path, doing, etag=etag, json=body)

    def close(self) -> None:
        self.session.close()


def _detail(response: requests.Response) -> str:
    """The SCIM Error's `detail` (and `scimType`), if the body is one: what the server says is wrong."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict) or not body.get("detail"):
        return ""
    kind = f" [{body['scimType']}]" if body.get("scimType") else ""
    return f": {str(body['detail']).splitlines()[0]}{kind}"
