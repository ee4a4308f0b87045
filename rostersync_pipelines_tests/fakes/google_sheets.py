"""An in-process Google for service-account Sheets reads: the OAuth token endpoint, Sheets API v4 and IAM.

It answers as the real services do (api-notes §2 and §8): the token endpoint takes only a JWT-bearer
assertion signed by a key it knows for that service account; the Sheets API wants that token, answers 404
for an unknown spreadsheet and 403 for one not shared with the caller, and returns values the way a person
sees them (FORMATTED_VALUE) with trailing empty cells and rows trimmed and `values` omitted for an empty
range. Errors are `{"error": {"code", "message", "status"}}` with the code in the body, as gspread reads it.
Knobs: `fail_next(429, 503, ...)`, `latency`, `revoke_key(email)`; `requests` records every call.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass, field
from functools import cache
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from wsgiadapter import WSGIAdapter

from rostersync_pipelines_tests.fakes.google_sheets_values import values_answer

TOKEN_URI = "https://oauth2.googleapis.com/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
READ_SCOPES = {
    f"https://www.googleapis.com/auth/{name}"
    for name in ("spreadsheets", "spreadsheets.readonly", "drive", "drive.readonly")
}
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
MESSAGES = {
    429: "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute per user' of "
    "service 'sheets.googleapis.com' for consumer 'project_number:123456789012'.",
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
}
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}
REASONS |= {429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


@cache
def private_key(number: int = 0) -> rsa.RSAPrivateKey:
    """RSA keys are slow to make; tests reuse a few by number."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Sheet:
    """One worksheet. A cell is its shown text, or (shown text, underlying value) for numbers and dates."""

    title: str
    rows: list[list]
    sheet_id: int = 0
    row_count: int = 1000
    column_count: int = 26


@dataclass
class Spreadsheet:
    key: str
    title: str
    sheets: list[Sheet]
    readers: set[str] = field(default_factory=set)


class GoogleFake:
    def __init__(self) -> None:
        self.accounts: dict[str, tuple[str, rsa.RSAPublicKey]] = {}  # email -> (key id, public key)
        self.spreadsheets: dict[str, Spreadsheet] = {}
        self.tokens: dict[str, tuple[str, set[str]]] = {}
        self.requests: list[tuple[str, str, str, dict]] = []  # host, method, path, query
        self.failures: list[int] = []
        self.latency = 0.0

    def __deepcopy__(self, memo) -> GoogleFake:
        return self  # google-auth deep-copies its transport for background lookups: still the one Google

    # --- knobs ----------------------------------------------------------------------------------------------

    def service_account(
        self, email: str = "rostersync@acme-hr.iam.gserviceaccount.com", key: int = 0
    ) -> dict:
        """Create a key for a service account, as the Cloud console does: the JSON a person downloads."""
        key_id = secrets.token_hex(20)
        self.accounts[email] = (key_id, private_key(key).public_key())
        pem = private_key(key).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return {
            "type": "service_account",
            "project_id": "acme-hr",
            "private_key_id": key_id,
            "private_key": pem.decode(),
            "client_email": email,
            "client_id": "1" + "0" * 20,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": TOKEN_URI,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{email}",
            "universe_domain": "googleapis.com",
        }

    def revoke_key(self, email: str) -> None:
        """The key was deleted in the console: its signatures no longer verify."""
        self.accounts[email] = ("deleted", private_key(99).public_key())

    def add_spreadsheet(self, key: str, sheets: dict[str, list[list]], readers=(), title="HR roster", **grid):
        made = [
            Sheet(name, rows, index * 1000, **_grid_size(rows, grid))
            for index, (name, rows) in enumerate(sheets.items())
        ]
        self.spreadsheets[key] = Spreadsheet(key, title, made, set(readers))
        return self.spreadsheets[key]

    def fail_next(self, *statuses: int) -> None:
        self.failures.extend(statuses)

    def transports(self) -> dict[str, WSGIAdapter]:
        adapter = WSGIAdapter(self.app)
        hosts = ("oauth2.googleapis.com", "sheets.googleapis.com", "iamcredentials.googleapis.com")
        return {f"https://{host}": adapter for host in hosts}

    def calls(self, host: str = "sheets.googleapis.com") -> list[tuple[str, str, dict]]:
        return [(method, path, query) for h, method, path, query in self.requests if h == host]

    # --- WSGI ---------------------------------------------------------------------------------------------

    def app(self, environ, start_response):
        host, method = environ["SERVER_NAME"], environ["REQUEST_METHOD"]
        path = environ["PATH_INFO"].encode("latin-1").decode("utf-8")
        query = parse_qs(environ["QUERY_STRING"], keep_blank_values=True)
        self.requests.append((host, method, path, query))
        if self.latency:
            time.sleep(self.latency)
        if host == "oauth2.googleapis.com" and method == "POST" and path == "/token":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            status, body = self._token(parse_qs(environ["wsgi.input"].read(length).decode()))
        else:
            status, body = self._api(host, method, path, query, environ.get("HTTP_AUTHORIZATION", ""))
        start_response(f"{status} {REASONS.get(status, 'Error')}", [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]

    def _token(self, form: dict) -> tuple[int, dict]:
        if form.get("grant_type") != [JWT_BEARER] or "assertion" not in form:
            return 400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type: "}
        assertion = form["assertion"][0]
        try:
            issuer = jwt.decode(assertion, options={"verify_signature": False})["iss"]
        except (jwt.PyJWTError, KeyError):
            return 400, {"error": "invalid_request", "error_description": "Invalid JWT: malformed."}
        if issuer not in self.accounts:
            return 400, {"error": "invalid_grant", "error_description": "Invalid grant: account not found"}
        key_id, public_key = self.accounts[issuer]
        try:
            if jwt.get_unverified_header(assertion).get("kid") != key_id:
                raise jwt.InvalidSignatureError()
            claims = jwt.decode(assertion, public_key, algorithms=["RS256"], audience=TOKEN_URI)
        except jwt.PyJWTError:
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        if claims.get("exp", 0) - claims.get("iat", 0) > 3600:
            return 400, {
                "error": "invalid_grant",
                "error_description": "Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                "reasonable timeframe. Check your iat and exp values in the JWT claim.",
            }
        scopes = set(claims.get("scope", "").split())
        if not scopes:
            return 400, {
                "error": "invalid_scope",
                "error_description": "Invalid OAuth scope or ID token audience provided.",
            }
        token = "ya29.c." + secrets.token_urlsafe(32)
        self.tokens[token] = (issuer, scopes)
        return 200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}

    def _api(self, host, method, path, query, authorization) -> tuple[int, dict]:
        caller = self.tokens.get(authorization.removeprefix("Bearer "))
        if caller is None:
            return _error(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                "login cookie or other valid authentication credential.",
            )
        email, scopes = caller
        if host == "iamcredentials.googleapis.com":
            if method == "GET" and path == f"/v1/projects/-/serviceAccounts/{email}/allowedLocations":
                return 200, {"locations": ["us-central1", "europe-west1"], "encodedLocations": "0xA30"}
            return _error(404, "Requested entity was not found.")
        if self.failures:
            return _error(self.failures.pop(0))
        match = re.fullmatch(r"/v4/spreadsheets/([^/:]+)(?:/values/(.+)|/values:batchGet)?", path)
        if host != "sheets.googleapis.com" or method != "GET" or match is None:
            return _error(404, "Requested entity was not found.")
        if not scopes & READ_SCOPES:
            return _error(403, "Request had insufficient authentication scopes.")
        spreadsheet = self.spreadsheets.get(match.group(1))
        if spreadsheet is None:
            return _error(404, "Requested entity was not found.")
        if email not in spreadsheet.readers:
            return _error(403, "The caller does not have permission")
        if path.endswith("/values:batchGet"):
            ranges = [values_answer(spreadsheet, text, query) for text in query.get("ranges", [])]
            bad = next((answer for answer in ranges if "error" in answer), None)
            return (400, bad) if bad else (200, {"spreadsheetId": spreadsheet.key, "valueRanges": ranges})
        if match.group(2):
            answer = values_answer(spreadsheet, match.group(2), query)
            return (400 if "error" in answer else 200), answer
        return 200, _metadata(spreadsheet)


def _grid_size(rows: list[list], grid: dict) -> dict:
    """A new sheet has 1000 rows and 26 columns; it grows to hold what was pasted in."""
    return {
        "row_count": grid.get("row_count", max(1000, len(rows))),
        "column_count": grid.get("column_count", max(26, max(map(len, rows), default=0))),
    }


def _error(code: int, message: str | None = None) -> tuple[int, dict]:
    text = message or MESSAGES.get(code, "Error")
    return code, {"error": {"code": code, "message": text, "status": STATUS_NAMES.get(code, "UNKNOWN")}}


def _metadata(spreadsheet: Spreadsheet) -> dict:
    return {
        "spreadsheetId": spreadsheet.key,
        "properties": {
            "title": spreadsheet.title,
            "locale": "en_US",
            "autoRecalc": "ON_CHANGE",
            "timeZone": "Europe/Berlin",
            "defaultFormat": {
                "backgroundColor": {"red": 1, "green": 1, "blue": 1},
                "verticalAlignment": "BOTTOM",
            },
        },
        "sheets": [
            {
                "properties": {
                    "sheetId": sheet.sheet_id,
                    "title": sheet.title,
                    "index": index,
                    "sheetType": "GRID",
                    "gridProperties": {"rowCount": sheet.row_count, "columnCount": sheet.column_count},
                }
            }
            for index, sheet in enumerate(spreadsheet.sheets)
        ],
        "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{spreadsheet.key}/edit",
    }
