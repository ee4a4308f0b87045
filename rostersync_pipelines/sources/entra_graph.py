"""One conversation with Microsoft Graph: an app-only token from msal, then JSON GETs with errors in words.

msal talks through a session from `http.new_session()`, so the company proxy, its CA bundle and the test
transports apply to the login host as to Graph. Instance discovery is off: the authority is always one of
the three clouds' own login hosts, and discovery would add a call to the global cloud from a national one.
Graph's answers that a person can act on (a wrong secret, a missing permission, throttling that did not
end) become one-line `SourceError`s naming the tenant and the fix; a secret never appears in them.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import msal
import requests

from rostersync_pipelines import http
from rostersync_pipelines.errors import SourceError

# cloud -> (login host, Graph host): learn.microsoft.com/graph/deployments and, for China's login host,
# learn.microsoft.com/entra/identity-platform/authentication-national-cloud (msal calls the older
# login.chinacloudapi.cn deprecated)
CLOUDS = {
    "global": ("login.microsoftonline.com", "graph.microsoft.com"),
    "usgov": ("login.microsoftonline.us", "graph.microsoft.us"),
    "china": ("login.partner.microsoftonline.cn", "microsoftgraph.chinacloudapi.cn"),
}
PERMISSIONS = "User.Read.All and GroupMember.Read.All (application permissions, with admin consent)"
TOKEN_FIXES = {
    "invalid_client": "check client_secret: use the secret's Value (not its Secret ID) and renew it if it expired",
    "unauthorized_client": "check client_id: it must be the Application (client) ID of an app in this tenant",
    "invalid_scope": "the app cannot ask Graph for a token in this cloud; check cloud",
}


class DeltaLinkUnusable(Exception):
    """Graph will not continue from this delta link (410 resync, expired sync state): read in full."""


class GraphError(SourceError):
    """Graph refused a request; `status` lets a caller tell a bad request from an outage."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


@dataclass
class Graph:
    """An authenticated Graph endpoint of one tenant, for one read bounded by `deadline`."""

    tenant: str
    host: str
    session: requests.Session
    token: str
    deadline: float | None = None
    timeout: float = 300.0

    @property
    def root(self) -> str:
        return f"https://{self.host}/v1.0"

    @property
    def where(self) -> str:
        return f"Entra ID tenant '{self.tenant}'"

    def get(self, url: str, headers: dict | None = None, missing_ok: bool = False) -> dict | None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise SourceError(f"{self.where}: the read took longer than {self.timeout:g} s; raise timeout")
        if urlsplit(url).hostname != self.host:
            raise SourceError(f"{self.where}: Graph sent a link to {urlsplit(url).hostname}, not {self.host}")
        try:
            response = http.request(
                self.session,
                "GET",
                url,
                headers={"Authorization": f"Bearer {self.token}", **(headers or {})},
                deadline=self.deadline,
            )
        except requests.RequestException as error:
            raise unreachable(self.where, self.host, error) from None
        if response.status_code == 200:
            return response.json()
        if missing_ok and response.status_code == 404:
            return None
        raise graph_error(self.where, response)

    def pages(self, url: str, headers: dict | None = None) -> Iterator[dict]:
        """Every page of a collection, following `@odata.nextLink` exactly as Graph wrote it."""
        while url:
            page = self.get(url, headers)
            yield page
            url = page.get("@odata.nextLink")


def connect(spec, session: requests.Session | None, deadline: float | None) -> Graph:
    login_host, graph_host = CLOUDS[spec.cloud]
    session = session or http.new_session()
    where = f"Entra ID tenant '{spec.tenant_id}'"
    token = acquire_token(spec, login_host, graph_host, where)
    return Graph(spec.tenant_id, graph_host, session, token, deadline, spec.timeout)


def acquire_token(spec, login_host: str, graph_host: str, where: str) -> str:
    """msal returns its failures as a dict rather than raising; a tenant it cannot discover raises."""
    msal_session = http.new_session()
    # msal sets no timeout on a session it is given; a stalled login host must not hang the read
    msal_session.request = functools.partial(msal_session.request, timeout=(http.CONNECT_TIMEOUT, 30))
    try:
        app = msal.ConfidentialClientApplication(
            spec.client_id,
            authority=f"https://{login_host}/{spec.tenant_id}",
            client_credential=spec.client_secret,
            instance_discovery=False,
            http_client=msal_session,
        )
        result = app.acquire_token_for_client(scopes=[f"https://{graph_host}/.default"])
    except ValueError:
        raise SourceError(
            f"{where}: {login_host} does not know this tenant; check tenant_id (the Directory (tenant) ID "
            "or a verified domain) and cloud"
        ) from None
    except requests.RequestException as error:
        raise unreachable(where, login_host, error) from None
    finally:
        msal_session.close()
    if result.get("access_token"):
        return result["access_token"]
    code = result.get("error") or "no token"
    described = str(result.get("error_description") or "").strip().splitlines()
    detail = described[0].split(". ")[0] if described else code
    fix = TOKEN_FIXES.get(code, "check tenant_id, client_id and client_secret of the app registration")
    message = f"{where}: no token from {login_host} ({code}: {detail}); {fix}"
    # the login host never echoes the secret, but a message that reaches a log must not depend on that
    raise SourceError(message.replace(spec.client_secret, "***") if spec.client_secret else message)


def unreachable(where: str, host: str, error: Exception) -> SourceError:
    return SourceError(
        f"{where}: cannot reach {host} ({type(error).__name__}); check the network and HTTPS_PROXY / "
        "REQUESTS_CA_BUNDLE"
    )


def graph_error(where: str, response: requests.Response) -> Exception:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    code = error.get("code") or response.reason or str(response.status_code)
    message = str(error.get("message") or "").strip().splitlines()[0:1]
    detail = f"{response.status_code} {code}" + (f": {message[0]}" if message else "")
    if response.status_code == 410 or code.casefold() in ("syncstatenotfound", "syncstateinvalid"):
        return DeltaLinkUnusable(detail)
    path = urlsplit(response.url).path
    if response.status_code == 401:
        fix = "the token was refused; check that the app registration belongs to this tenant and cloud"
    elif response.status_code == 403:
        fix = f"grant the app {PERMISSIONS}"
    elif response.status_code == 429:
        fix = "Graph kept throttling past every retry; sync again later"
    elif response.status_code >= 500:
        fix = "Graph is having trouble; sync again later"
    elif "property" in detail.casefold():
        fix = "a mapped field is not a Graph user attribute; check the spelling in fields.users"
    else:
        fix = "check the source's groups and fields"
    return GraphError(f"{where}: Graph answered {detail} for {path}; {fix}", response.status_code)
