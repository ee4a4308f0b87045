"""The config of each LMS target (DESIGN §1.4): where it is, its credential, and how hard it may be called."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from rostersync_pipelines.config_sources import Secret, Strict


class RateLimit(Strict):
    calls: int = Field(gt=0)
    per_seconds: float = Field(gt=0)


class TargetBase(Strict):
    rate_limit: RateLimit | None = None  # None: the kind's default (see default_rate_limit)
    concurrency: int = Field(default=4, ge=1, le=64)

    def default_rate_limit(self) -> RateLimit | None:
        return RateLimit(calls=10, per_seconds=1)

    def effective_rate_limit(self) -> RateLimit | None:
        return self.rate_limit or self.default_rate_limit()


class EmbeddedTarget(TargetBase):
    kind: Literal["embedded"]
    url: str = "sqlite:///.rostersync/lms.db"
    concurrency: int = Field(default=1, ge=1, le=64)  # one writer: SQLite serialises writes anyway

    def default_rate_limit(self) -> RateLimit | None:
        return None  # a local database needs no pacing


class TalentLmsTarget(TargetBase):
    kind: Literal["talentlms"]
    url: str  # https://acme.talentlms.com (or the portal's mapped domain)
    api_key: Secret

    def default_rate_limit(self) -> RateLimit | None:
        return RateLimit(calls=200, per_seconds=5)


class IspringTarget(TargetBase):
    kind: Literal["ispring"]
    url: str = "https://api-learn.ispringlearn.com"
    client_id: str
    client_secret: Secret


class ScimTarget(TargetBase):
    kind: Literal["scim"]
    url: str  # the SCIM base, e.g. https://lms.example.com/scim/v2
    token: Secret


Target = Annotated[EmbeddedTarget | TalentLmsTarget | IspringTarget | ScimTarget, Field(discriminator="kind")]
TARGET_KINDS = ("embedded", "talentlms", "ispring", "scim")
