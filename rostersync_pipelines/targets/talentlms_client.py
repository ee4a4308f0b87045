"""The TalentLMS API v1 over HTTP: path-segment parameters, Basic auth with the key, one error envelope.

v1 takes GET parameters as path segments (`/users/email:a%40x.com`), POST bodies form-encoded, answers
numbers as strings and errors as `{"error": {"type", "message"}}`. A 429 from v1 carries no Retry-After,
so throttling is retried with jittered backoff (http.request); pacing itself is the apply engine's job.
One requests session serves every thread: requests' pooled adapter is safe for concurrent calls.
"""

from __future__ import annotations

import time
from urllib.parse import quote

import requests

from rostersync_pipelines import http
from rostersync_pipelines.errors import TargetError, TransientTargetError

RETRIES = 6  # ~15 s of backoff in all: longer than TalentLMS's 5-second window
NOT_FOUND = 404


class TalentLmsRefused(TargetError):
    """The LMS answered with its error envelope; `message` is the LMS's own words."""

    def __init__(self, text: str, status: int, message: str):
        super().__init__(text)
        self.status, self.message = status, message


class TalentLmsClient:
    def __init__(
        self, url: str, api_key: str | None, session: requests.Session | None = None, deadline=300.0
    ):
        if not api_key:
            raise TargetError(
                "TalentLMS target has no api_key: set target.api_key (e.g. ${TALENTLMS_API_KEY})"
            )
        self.url = url.rstrip("/")
        self.base = f"{self.url}/api/v1/"
        self.session = session or http.new_session()
        self.session.auth = (api_key, "")  # Basic: the key as username, an empty password
        self.deadline = deadline

    def get(self, action: str, **params) -> dict | list:
        pairs = sorted(f"{quote(str(k), safe='')}:{quote(str(v), safe='@')}" for k, v in params.items())
        return self._call("GET", self.base + action + ("/" + ",".join(pairs) if pairs else ""), action)

    def post(self, action: str, **data) -> dict | list:
        form = {key: str(value) for key, value in data.items() if value is not None}
        return self._call("POST", self.base + action, action, data=form)

    def find(self, action: str, **params) -> dict | None:
        """One record, or None when the LMS says it does not exist."""
        try:
            return self.get(action, **params)
        except TalentLmsRefused as error:
            if error.status == NOT_FOUND:
                return None
            raise

    def _call(self, method: str, url: str, action: str, **kwargs):
        deadline = time.monotonic() + self.deadline
        try:
            response = http.request(self.session, method, url, retries=RETRIES, deadline=deadline, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as error:
            raise TransientTargetError(
                f"TalentLMS at {self.url} did not answer {action} ({type(error).__name__}): try again later"
            ) from None
        if response.status_code in http.RETRY_STATUSES:
            raise TransientTargetError(
                f"TalentLMS at {self.url} answered {action} with {response.status_code} after "
                f"{RETRIES + 1} tries: {_message(response)}; try again later"
            )
        if response.status_code in (401, 403):
            raise TargetError(
                f"TalentLMS at {self.url} refused the API key ({response.status_code} {_message(response)}): "
                "check target.api_key (Account & Settings > Security > API) and that the API is enabled"
            )
        if response.status_code >= 400:
            message = _message(response)
            raise TalentLmsRefused(f"TalentLMS refused {action}: {message}", response.status_code, message)
        try:
            return response.json()
        except ValueError:
            raise TargetError(
                f"TalentLMS at {self.url} answered {action} with no JSON: is the url right?"
            ) from None


def _message(response: requests.Response) -> str:
    try:
        error = response.json().get("error") or {}
        return str(error.get("message") or response.reason or "").splitlines()[0]
    except (ValueError, AttributeError):
        return response.reason or f"HTTP {response.status_code}"
