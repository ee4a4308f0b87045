"""The config of each source kind (DESIGN §1.4), as its users configure it against the real service.

Secrets arrive through `${ENV}` values and are kept out of reprs, so a model printed in a log or an error
never shows them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_TIMEOUT_SECONDS = 300.0
Secret = Annotated[str | None, Field(default=None, repr=False)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceBase(Strict):
    timeout: float = Field(default=DEFAULT_TIMEOUT_SECONDS, gt=0)  # total deadline of one read, in seconds


class FileSource(SourceBase):
    kind: Literal["file"]
    path: str
    sheet: str | None = None
    username: str | None = None
    password: Secret


class SalesforceAuth(Strict):
    """Exactly one of: client credentials, username/password/security token (SOAP), JWT bearer."""

    client_id: Secret
    client_secret: Secret
    username: str | None = None
    password: Secret
    security_token: Secret
    domain: str | None = None  # login | test (SOAP and JWT); the instance URL serves client credentials
    private_key_file: str | None = None

    @property
    def mode(self) -> str:
        if self.private_key_file:
            return "jwt"
        if self.password is not None:
            return "password"
        return "client_credentials"

    @model_validator(mode="after")
    def _one_mode(self) -> SalesforceAuth:
        if self.private_key_file:
            needed = {"username": self.username, "client_id": self.client_id}
        elif self.password is not None or self.security_token is not None:
            needed = {"username": self.username, "password": self.password}
        else:
            needed = {"client_id": self.client_id, "client_secret": self.client_secret}
        missing = [name for name, value in needed.items() if not value]
        if missing:
            raise ValueError(
                f"give {' and '.join(missing)}: auth is client_id + client_secret, or username + password "
                "+ security_token, or username + client_id + private_key_file"
            )
        return self


class SalesforceSource(SourceBase):
    kind: Literal["salesforce"]
    instance_url: str
    object: Literal["User", "Contact", "Account"]
    auth: SalesforceAuth
    bulk_above: int = Field(default=50_000, ge=0)
    api_version: str = "62.0"


class GoogleSheetsSource(SourceBase):
    kind: Literal["google_sheets"]
    spreadsheet: str  # a URL or the bare key
    worksheet: str | None = None  # default: the first worksheet
    credentials: Secret  # the service-account JSON itself, or a path to it

    @model_validator(mode="after")
    def _needs_credentials(self) -> GoogleSheetsSource:
        if not self.credentials:
            raise ValueError("give credentials: the service-account JSON, or a path to the JSON file")
        return self


class EntraSource(SourceBase):
    kind: Literal["entra_id"]
    tenant_id: str
    client_id: str
    client_secret: Secret
    groups: list[str] = []  # scope: transitive members of these groups; empty = every user
    cloud: Literal["global", "usgov", "china"] = "global"

    @model_validator(mode="after")
    def _needs_secret(self) -> EntraSource:
        if not self.client_secret:
            raise ValueError("give client_secret (from the app registration's Certificates & secrets)")
        return self


Source = Annotated[
    FileSource | SalesforceSource | GoogleSheetsSource | EntraSource, Field(discriminator="kind")
]
SOURCE_KINDS = ("file", "salesforce", "google_sheets", "entra_id")
