"""Import rules (SkyPrep's import rules, TalentLMS's filtered sync): who is in scope at all.

A rule is `skip:` (matching rows are out of scope) or `keep:` (only matching rows are in scope). Its
condition is one test on one field, or `all:` / `any:` of conditions, nested as deep as a person needs.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from rostersync_pipelines.config_sources import Strict

TESTS = ("equals", "not_equals", "contains", "not_contains", "starts_with", "in", "empty", "regex")


class Condition(Strict):
    field: str | None = None
    equals: str | None = None
    not_equals: str | None = None
    contains: str | None = None
    not_contains: str | None = None
    starts_with: str | None = None
    one_of: list[str] | None = Field(default=None, alias="in")
    empty: bool | None = None
    regex: str | None = None
    all: list[Condition] | None = None
    any: list[Condition] | None = None

    @field_validator("regex")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"regex {pattern!r} does not compile: {error}") from None
        return pattern

    @model_validator(mode="after")
    def _one_test(self) -> Condition:
        combined = [self.all, self.any]
        if any(part is not None for part in combined):
            if self.field is not None or self.test is not None or all(p is not None for p in combined):
                raise ValueError("a condition is either all: / any: of conditions, or one field test")
            if not (self.all or self.any):
                raise ValueError("all: / any: need at least one condition")
            return self
        given = [name for name in TESTS if getattr(self, "one_of" if name == "in" else name) is not None]
        if self.field is None or len(given) != 1:
            raise ValueError(f"give a field and exactly one of {', '.join(TESTS)} (or all: / any:)")
        return self

    @property
    def test(self) -> str | None:
        for name in TESTS:
            if getattr(self, "one_of" if name == "in" else name) is not None:
                return name
        return None

    def fields(self) -> list[str]:
        """Every source field the condition reads (a Salesforce SELECT must ask for them)."""
        if self.field is not None:
            return [self.field]
        return [name for part in (self.all or self.any or []) for name in part.fields()]


class Rule(Strict):
    skip: Condition | None = None
    keep: Condition | None = None

    @model_validator(mode="after")
    def _skip_or_keep(self) -> Rule:
        if (self.skip is None) == (self.keep is None):
            raise ValueError("a rule is either skip: or keep:")
        return self

    @property
    def condition(self) -> Condition:
        return self.skip if self.skip is not None else self.keep

    def fields(self) -> list[str]:
        return self.condition.fields()
