"""Service-account auth for the Google Sheets source: the key JSON, a token through RosterSync's sessions.

google-auth would otherwise open its own plain `requests.Session` for the token request, bypassing the
company proxy, its CA bundle and the test transports; here both the JWT-bearer token request and the Sheets
calls ride sessions built by `rostersync.http`, and every Sheets call is retried there on 429 / 5xx.
"""

from __future__ import annotations

import json
from pathlib import Path

import gspread
import requests
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import AuthorizedSession, Request
from google.oauth2 import service_account
from gspread.exceptions import APIError

from rostersync_pipelines import http
from rostersync_pipelines.errors import SourceError

SCOPES = ["https://www.googleapis.com/auth/spreadsheets.readonly"]  # open_by_key needs no Drive scope


def service_account_info(credentials: str, context) -> dict:
    """`credentials` is the key JSON itself (an env value) or a path to it (relative: beside the config)."""
    text = credentials.strip()
    if not text.startswith("{"):
        path = Path(context.config.resolve_path(text)).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise SourceError(
                f"Google Sheets credentials: cannot read {path} ({error.strerror or type(error).__name__}); "
                "give the service-account JSON or the path of its key file"
            ) from None
    try:
        info = json.loads(text)
    except ValueError as error:
        # never quote the text: it is a private key
        raise SourceError(
            f"Google Sheets credentials are not valid JSON (line {error.lineno}); paste the whole key file "
            "downloaded from the service account's Keys tab"
        ) from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        kind = info.get("type") if isinstance(info, dict) else None
        raise SourceError(
            f"Google Sheets credentials are not a service-account key (type {kind!r}); create a JSON key "
            "under IAM & Admin > Service accounts > Keys"
        )
    return info


def authorized_session(info: dict, base: requests.Session) -> AuthorizedSession:
    """A google-auth session whose token request and API calls both ride `rostersync.http` transports."""
    try:
        credentials = service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
    except (ValueError, KeyError) as error:
        # google-auth names missing fields; any other failure is the key itself (never quoted: a secret)
        text = str(error)
        missing = (
            text.rpartition("missing fields ")[2].rstrip(".") if "missing fields" in text else "private_key"
        )
        raise SourceError(
            f"Google Sheets credentials lack a usable {missing}; download a new JSON key for the service account"
        ) from None
    session = AuthorizedSession(credentials, auth_request=Request(session=base))
    session.headers.update(base.headers)
    for prefix, adapter in base.adapters.items():
        session.mount(prefix, adapter)
    return session


class RetryingHTTPClient(gspread.HTTPClient):
    """gspread's client with every call through `http.request`: 429 and 5xx retried with backoff (honouring
    Retry-After), bounded by the source's deadline; what is left is gspread's APIError as usual."""

    def __init__(self, auth, session, deadline: float | None = None) -> None:
        super().__init__(auth, session)
        self.deadline = deadline

    def request(self, method, endpoint, params=None, data=None, json=None, files=None, headers=None):
        response = http.request(
            self.session,
            method.upper(),
            endpoint,
            params=params,
            data=data,
            json=json,
            files=files,
            headers=headers,
            deadline=self.deadline,
        )
        if response.ok:
            return response
        raise APIError(response)


def refused_key(error: RefreshError, email: str) -> str:
    """The token endpoint's answer says which: a deleted key, a deleted account, a wrong clock."""
    text = str(error.args[0] if error.args else error)
    if "account not found" in text:
        return f"Google does not know the service account {email}; it was deleted, create a new one and a key"
    if "Invalid JWT Signature" in text:
        return f"Google refused the key of {email} (deleted or replaced); create a new JSON key for it"
    if "iat and exp" in text:
        return "Google refused the token request: this machine's clock is wrong; sync the clock (NTP)"
    return f"Google refused the service account {email} ({text.split(':')[0]}); check the JSON key"
