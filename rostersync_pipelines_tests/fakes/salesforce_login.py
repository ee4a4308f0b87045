"""The fake org's three logins, answering as Salesforce does (api-notes §1.1, vendor docs).

- OAuth client credentials at the org's My Domain `/services/oauth2/token` (an External Client App);
- SOAP `login` at `{login|test}.salesforce.com/services/Soap/u/NN.N` (password + security token);
- OAuth JWT bearer at `{login|test}.salesforce.com/services/oauth2/token`, the assertion's RS256
  signature checked against the certificate registered for the app.
"""

from __future__ import annotations

import base64
import secrets
import xml.etree.ElementTree as ElementTree
from urllib.parse import parse_qs

import jwt

PARTNER = "urn:partner.soap.sforce.com"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ORG_ID = "00D5g000004XyZaEAK"

_FAULT = """<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" \
xmlns:sf="urn:fault.partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>\
<soapenv:Fault><faultcode>sf:{code}</faultcode><faultstring>{code}: {message}</faultstring><detail>\
<sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>{code}</sf:exceptionCode><sf:exceptionMessage>{message}\
</sf:exceptionMessage></sf:LoginFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"""

_SUCCESS = """<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" \
xmlns="urn:partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><loginResponse>\
<result><metadataServerUrl>{instance}/services/Soap/m/{version}/{org}</metadataServerUrl><passwordExpired>false\
</passwordExpired><sandbox>{sandbox}</sandbox><serverUrl>{instance}/services/Soap/u/{version}/{org}</serverUrl>\
<sessionId>{session}</sessionId><userId>{user}</userId><userInfo><organizationId>{org}</organizationId>\
<userName>{username}</userName></userInfo></result></loginResponse></soapenv:Body></soapenv:Envelope>"""


class Logins:
    """Who may log in, and the session ids handed out (the data endpoints accept only those)."""

    def __init__(self, instance_url: str):
        self.instance_url = instance_url
        self.clients: dict[str, str] = {}  # client id -> secret (client credentials)
        self.passwords: dict[str, tuple[str, str]] = {}  # username -> (password, security token)
        self.jwt_apps: dict[str, tuple[bytes, set[str]]] = {}  # consumer key -> (public key PEM, users)
        self.sessions: set[str] = set()
        self.sessions_die_at_once = (
            False  # every new session is already invalid (a session policy gone wrong)
        )
        self.logins = 0

    def new_session(self) -> str:
        self.logins += 1
        session = f"{ORG_ID}!AR{secrets.token_urlsafe(24)}"
        if not self.sessions_die_at_once:
            self.sessions.add(session)
        return session

    def token(self, host: str, form: dict, authorization: str | None) -> tuple[int, dict]:
        grant = form.get("grant_type")
        if grant == "client_credentials" and host == _host(self.instance_url):
            client_id, secret = form.get("client_id"), form.get("client_secret")
            if authorization and authorization.startswith("Basic "):
                client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
            if client_id not in self.clients or self.clients[client_id] != secret:
                return 400, {"error": "invalid_client", "error_description": "invalid client credentials"}
            return 200, self._granted()
        if grant == JWT_GRANT:
            return self._jwt(host, form.get("assertion") or "")
        return 400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"}

    def _granted(self) -> dict:
        return {
            "access_token": self.new_session(),
            "signature": base64.b64encode(secrets.token_bytes(32)).decode(),
            "scope": "api",
            "instance_url": self.instance_url,
            "id": f"https://login.salesforce.com/id/{ORG_ID}/005000000000001AAA",
            "token_type": "Bearer",
            "issued_at": "1767600000000",
        }

    def _jwt(self, host: str, assertion: str) -> tuple[int, dict]:
        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return 400, {"error": "invalid_grant", "error_description": "invalid assertion"}
        app = self.jwt_apps.get(claims.get("iss"))
        if app is None:
            return 400, {"error": "invalid_client_id", "error_description": "client identifier invalid"}
        try:
            jwt.decode(
                assertion,
                app[0],
                algorithms=["RS256"],
                audience=f"https://{host}",
                options={"require": ["exp"]},
            )
        except jwt.PyJWTError:
            return 400, {"error": "invalid_grant", "error_description": "invalid assertion"}
        if claims.get("sub") not in app[1]:
            return 400, {"error": "invalid_grant", "error_description": "user hasn't approved this consumer"}
        return 200, self._granted()

    def soap(self, host: str, version: str, body: bytes) -> tuple[int, str]:
        try:
            root = ElementTree.fromstring(body)
        except ElementTree.ParseError:
            return 500, _FAULT.format(code="INVALID_XML", message="The XML could not be parsed")
        username = root.findtext(f".//{{{PARTNER}}}username") or ""
        password = root.findtext(f".//{{{PARTNER}}}password") or ""
        known = self.passwords.get(username)
        if known is None or password not in (known[0] + known[1], known[0] if not known[1] else None):
            message = "Invalid username, password, security token; or user locked out."
            return 500, _FAULT.format(code="INVALID_LOGIN", message=message)
        return 200, _SUCCESS.format(
            instance=self.instance_url,
            version=version,
            org=ORG_ID,
            sandbox=str(host.startswith("test.")).lower(),
            session=self.new_session(),
            user="005000000000001AAA",
            username=username,
        )


def _host(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0]


def form_of(body: bytes) -> dict:
    return {key: values[0] for key, values in parse_qs(body.decode("utf-8")).items()}
