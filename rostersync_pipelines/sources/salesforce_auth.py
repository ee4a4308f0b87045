"""Logging in to a Salesforce org in the three ways DESIGN §1.4 allows, through RosterSync's HTTP rules.

Client credentials go to the org's own `{instance_url}/services/oauth2/token` (an External Client App's
flow, which `login.salesforce.com` does not serve); SOAP login and the JWT bearer flow are
simple-salesforce's own (`SalesforceLogin`). Every mode ends in a plain session id, so the one re-login
after an expired session is decided here, once, for all three.
"""

from __future__ import annotations

import time

import requests
from simple_salesforce import Salesforce, SalesforceAuthenticationFailed, SalesforceLogin

from rostersync_pipelines import http
from rostersync_pipelines.errors import SourceError

FIXES = {
    "client_credentials": "check client_id and client_secret, and that the External Client App enables the "
    "client credentials flow with a run-as user",
    "password": "check username, password and security_token (a password change resets the token) and "
    "domain (login, or test for a sandbox)",
    "jwt": "check username and client_id, that the app holds the certificate of private_key_file and that "
    "the user is pre-authorized for the app",
}


class RetryingSession(requests.Session):
    """simple-salesforce calls `session.request` itself; this routes each call through `http.request`
    (429 / 5xx retried with backoff and Retry-After) and refuses to start one past the read's deadline,
    which also bounds the library's Bulk job polling."""

    def __init__(self, inner: requests.Session, deadline: float | None):
        super().__init__()
        self.inner, self.deadline = inner, deadline

    def request(self, method, url, **kwargs):
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise http.DeadlineExceeded()
        # a refused SOAP login is an HTTP 500 fault: answering it again would not change the answer
        retries = 0 if "/services/Soap/" in url else 4
        return http.request(self.inner, method, url, retries=retries, deadline=self.deadline, **kwargs)


def connect(spec, session: requests.Session, source: str) -> Salesforce:
    """A logged-in client, or a one-line SourceError naming the source, the mode and the fix."""
    auth, mode = spec.auth, spec.auth.mode
    try:
        if mode == "client_credentials":
            session_id, instance_url = _client_credentials(spec, session)
            return _client(spec, session, session_id, instance_url=instance_url)
        domain = auth.domain or "login"
        if mode == "password":
            session_id, instance = SalesforceLogin(
                username=auth.username,
                password=auth.password,
                security_token=auth.security_token,
                domain=domain,
                sf_version=spec.api_version,
                session=session,
            )
        else:
            session_id, instance = SalesforceLogin(
                username=auth.username,
                consumer_key=auth.client_id,
                privatekey_file=auth.private_key_file,
                domain=domain,
                session=session,
            )
        return _client(spec, session, session_id, instance=instance)
    except SalesforceAuthenticationFailed as error:
        code = _scrub(str(error.code), auth)
        detail = _scrub(str(getattr(error, "auth_message", "") or ""), auth).strip().splitlines()[0:1]
        said = f"{code}{': ' + detail[0] if detail else ''}"
        raise SourceError(
            f"source '{source}': Salesforce refused the {_label(mode)} ({said}); {FIXES[mode]}"
        ) from None
    except requests.RequestException:
        raise  # an OSError too, but the network's: the caller names it
    except OSError as error:  # the private key file
        reason = error.strerror or type(error).__name__
        raise SourceError(
            f"source '{source}': cannot read private_key_file {auth.private_key_file}: {reason}"
        ) from None


def _label(mode: str) -> str:
    return {"client_credentials": "client credentials login", "password": "SOAP login"}.get(
        mode, "JWT bearer login"
    )


def _client(spec, session, session_id: str, **where) -> Salesforce:
    # parse_float=str keeps numbers as the text Salesforce sent
    return Salesforce(
        session_id=session_id,
        session=session,
        version=spec.api_version,
        parse_float=str,
        object_pairs_hook=None,  # json's own dicts: the fastest decoding
        **where,
    )


def _client_credentials(spec, session: requests.Session) -> tuple[str, str]:
    url = f"{spec.instance_url.rstrip('/')}/services/oauth2/token"
    form = {
        "grant_type": "client_credentials",
        "client_id": spec.auth.client_id,
        "client_secret": spec.auth.client_secret,
    }
    response = session.request("POST", url, data=form, headers={"Accept": "application/json"})
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:
        code = body.get("error") if isinstance(body, dict) else None
        raise SalesforceAuthenticationFailed(
            code or f"HTTP {response.status_code}", body.get("error_description") if code else None
        )
    return body["access_token"], body.get("instance_url") or spec.instance_url


def _scrub(text: str, auth) -> str:
    """Salesforce's words about a refused login, with any credential that might be echoed removed."""
    for secret in (auth.password, auth.security_token, auth.client_secret):
        if secret:
            text = text.replace(secret, "***")
    return text
