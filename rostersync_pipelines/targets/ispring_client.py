"""The iSpring Learn REST v3 client: one bearer token shared by every thread, one call per request.

The token (client credentials, 30 minutes) is renewed a few minutes before it ends, so a long apply never
sends a request with a token about to lapse, and once more on a 401 in case the LMS revoked it early. Every
request asks for JSON explicitly: without `Accept: application/json` iSpring answers XML. Throttling and
outages are retried by `http.request` (honouring Retry-After); what still fails becomes a
TransientTargetError, and a refusal becomes a TargetError carrying the LMS's own message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import requests

from rostersync_pipelines import http
from rostersync_pipelines.errors import TargetError, TransientTargetError

TOKEN_PATH = "/api/v3/token"
RENEW_BEFORE_END = 300  # seconds: a 30-minute token is renewed after 25 minutes
PAGE_SIZE = 1000  # iSpring's documented default and the largest page worth asking for
JSON = "application/json"


class IspringClient:
    def __init__(self, url: str, client_id: str | None, client_secret: str | None, clock=time.monotonic):
        if not client_id or not client_secret:
            raise TargetError(
                "iSpring Learn target needs client_id and client_secret: set them (e.g. "
                "${ISPRING_CLIENT_ID} / ${ISPRING_CLIENT_SECRET}) from the API client in iSpring settings"
            )
        self.url = url.rstrip("/")
        self._credentials = {
            "client_id": client_id,
            "client_secret": client_secret,
            "grant_type": "client_credentials",
        }
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0
        self.session = http.new_session()
        self.session.headers["Accept"] = JSON

    def close(self) -> None:
        self.session.close()

    def token(self, stale: str | None = None) -> str:
        """The current token; a new one when it nears its end, or when `stale` (refused by a 401) is current."""
        with self._lock:
            if self._token is None or self._token == stale or self._clock() >= self._renew_at:
                self._token, lifetime = self._new_token()
                self._renew_at = self._clock() + max(lifetime - RENEW_BEFORE_END, lifetime / 2)
            return self._token

    def _new_token(self) -> tuple[str, float]:
        response = self._send("POST", TOKEN_PATH, data=self._credentials)
        if response.status_code in (400, 401, 403):
            raise TargetError(
                f"iSpring Learn at {self.url} refused the client credentials ({response.status_code}: "
                f"{_message(response)}): check client_id / client_secret (the API client in iSpring Learn "
                "settings) and that the account has the REST API (Business plan)"
            )
        body = self._body(response, "POST", TOKEN_PATH)
        try:
            return body["access_token"], float(body.get("expires_in") or 1800)
        except (KeyError, TypeError):
            raise TargetError(
                f"iSpring Learn at {self.url} answered the token request without a token"
            ) from None

    def call(self, method: str, path: str, *, json=None, params=None):
        """One API call; returns the decoded JSON body (None when the LMS answers with no body)."""
        token = self.token()
        response = self._send(method, path, json=json, params=params, headers=_bearer(token))
        if response.status_code == 401:
            response = self._send(method, path, json=json, params=params, headers=_bearer(self.token(token)))
        return self._body(response, method, path)

    def pages(self, path: str, key: str, params: dict | None = None) -> Iterator[dict]:
        """Every record of a paged list, following nextPageToken until the LMS gives none."""
        query = {"pageSize": PAGE_SIZE, **(params or {})}
        while True:
            body = self.call("GET", path, params=query) or {}
            yield from body.get(key) or []
            next_token = body.get("nextPageToken")
            if not next_token:
                return
            query = {**query, "pageToken": next_token}

    def _send(self, method: str, path: str, **kwargs) -> requests.Response:
        try:
            return http.request(self.session, method, self.url + path, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as error:
            raise TransientTargetError(
                f"iSpring Learn at {self.url} did not answer {method} {path}: {type(error).__name__}"
            ) from None

    def _body(self, response: requests.Response, method: str, path: str):
        status = response.status_code
        if status in http.RETRY_STATUSES:
            raise TransientTargetError(
                f"iSpring Learn at {self.url} still answered {status} to {method} {path} after retries: "
                f"{_message(response)}; try again later"
            )
        if status >= 400:
            raise TargetError(f"iSpring Learn refused {method} {path} ({status}): {_message(response)}")
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise TargetError(
                f"iSpring Learn answered {method} {path} with {response.headers.get('Content-Type')}, not JSON"
            ) from None


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _message(response: requests.Response) -> str:
    """The LMS's `{code, message}` text, else the start of whatever it sent (never a request header)."""
    try:
        body = response.json()
    except ValueError:
        text = (response.text or response.reason or "").strip()
        return text.splitlines()[0][:200] if text else f"HTTP {response.status_code}"
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(body)[:200]
