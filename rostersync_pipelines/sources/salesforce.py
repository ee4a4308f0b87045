"""Salesforce sources: User or Contact as users, Account as departments, read with simple-salesforce.

The SELECT list is exactly what the config names (mapped fields, the rules' fields, `Id`), checked once
against `describe` so a misspelt field is a config error naming the object and the field, not a query
failure. `SELECT COUNT()` decides the path: REST `query` paging at or below `bulk_above` rows, Bulk API
2.0 above it. A daily limit, a refused login or a session that expires again right after a new login
each end the read with one line (no secret in it), so the engine holds the destructive changes.
"""

from __future__ import annotations

import difflib
from contextlib import contextmanager

import pandas as pd
import requests
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceOperationError,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from rostersync_pipelines import http
from rostersync_pipelines.errors import ConfigError, SourceError
from rostersync_pipelines.sources import Change
from rostersync_pipelines.sources.salesforce_auth import FIXES, RetryingSession, connect
from rostersync_pipelines.sources.salesforce_frames import combine, csv_page, rest_page
from rostersync_pipelines.sources.soql import FIELD_PATH, category, where_clause

BULK_PAGE_RECORDS = 100_000  # rows per Bulk 2.0 result set (Salesforce's own default page is smaller)
BULK_POLL_SECONDS = 1.0  # simple-salesforce's first wait before polling a Bulk job, and its poll step


def read(spec, context) -> pd.DataFrame:
    """The source-kind entry point (sources/__init__.py)."""
    with _translated(spec, context):
        org = _Org(spec, context)
        fields = org.fields(context.columns)
        soql = f"SELECT {', '.join(fields.paths)} FROM {spec.object}{org.where(fields)}"
        count = org.call(lambda sf: sf.query(f"SELECT COUNT() FROM {spec.object}{org.where(fields)}"))
        if count["totalSize"] > spec.bulk_above:
            pages = org.call(lambda sf: _bulk_pages(sf, spec.object, soql, fields.names))
        else:
            pages = _rest_pages(org, soql, fields)
        return combine(pages, fields.names)


def changed(spec, context, cursor: str | None) -> Change:
    """Newest SystemModstamp and the record count in scope: an edit, a new record or a deletion moves one."""
    with _translated(spec, context):
        org = _Org(spec, context)
        try:
            fields = org.fields(context.columns)
        except ConfigError as error:  # the sensor skips on a SourceError; the run reports the config
            raise SourceError(str(error)) from None
        soql = f"SELECT COUNT(Id), MAX(SystemModstamp) FROM {spec.object}{org.where(fields)}"
        record = org.call(lambda sf: sf.query(soql))["records"][0]
    now = f"{record.get('expr1') or ''}|{record.get('expr0')}"
    stamp, count = now.split("|")
    if cursor == now:
        return Change(False, now, f"no {spec.object} changed since {stamp or 'ever'} ({count} records)")
    was = "first look" if cursor is None else f"was {cursor.replace('|', ', ')} records"
    return Change(True, now, f"{spec.object}: newest change {stamp or 'none'}, {count} records ({was})")


class _Fields:
    """The SELECT list: canonical paths, the output names the mapping spells, and each path's kind."""

    def __init__(self):
        self.paths, self.names, self.kinds, self.by_name = [], [], {}, {}

    def kinds_of(self, names: list[str]) -> dict[str, str | None]:
        return {name: self.by_name.get(name.casefold()) for name in names}


class _Org:
    """One logged-in client for one read, with the single re-login an expired session is allowed."""

    def __init__(self, spec, context):
        self.spec, self.context = spec, context
        self.session = RetryingSession(context.session or http.new_session(), context.deadline)
        self.sf = connect(spec, self.session, context.source_name)
        self.relogged = False
        self.described: dict[str, dict] = {}

    def call(self, action):
        try:
            return action(self.sf)
        except SalesforceExpiredSession:
            if self.relogged:
                raise SourceError(
                    f"source '{self.context.source_name}': the Salesforce session expired again right "
                    f"after a new login (INVALID_SESSION_ID); {FIXES[self.spec.auth.mode]}, and that the "
                    "org's session policies allow API sessions"
                ) from None
            self.relogged = True
            self.sf = connect(self.spec, self.session, self.context.source_name)
            return self.call(action)

    def describe(self, name: str) -> dict:
        if name not in self.described:
            answer = self.call(lambda sf: getattr(sf, name).describe())
            fields = answer.get("fields", [])
            self.described[name] = {
                "fields": {field["name"].casefold(): field for field in fields},
                "relationships": {
                    field["relationshipName"].casefold(): field
                    for field in fields
                    if field.get("relationshipName")
                },
            }
        return self.described[name]

    def fields(self, columns: list[str]) -> _Fields:
        """Each configured column resolved against `describe`; every unknown one named in one ConfigError."""
        chosen, missing = _Fields(), []
        for column in [*columns, "Id"]:
            if column.casefold() in chosen.by_name:
                continue
            path, kind, problem = self._resolve(column)
            if problem:
                missing.append(problem)
                continue
            chosen.paths.append(path)
            chosen.names.append(column)
            chosen.kinds[path] = kind
            chosen.by_name[column.casefold()] = kind
        if missing:
            where = f"syncs.{self.context.sync_name}.sources.{self.context.source_name}"
            raise ConfigError(
                f"{where}: {'; '.join(missing)} (Salesforce API names; custom fields end in __c)"
            )
        return chosen

    def _resolve(self, column: str) -> tuple[str, str | None, str | None]:
        if not FIELD_PATH.fullmatch(column):
            return column, None, f"'{column}' is not a Salesforce field name"
        *relations, leaf = column.split(".")
        obj, canonical = self.spec.object, []
        for relation in relations:
            known = self.describe(obj)["relationships"]
            field = known.get(relation.casefold())
            if field is None:
                return (
                    column,
                    None,
                    _unknown(obj, relation, column, [f["relationshipName"] for f in known.values()]),
                )
            canonical.append(field["relationshipName"])
            targets = field.get("referenceTo") or []
            if len(targets) != 1:  # polymorphic (Owner: User or Group): Salesforce itself judges the rest
                return ".".join([*canonical, *column.split(".")[len(canonical) :]]), None, None
            obj = targets[0]
        known = self.describe(obj)["fields"]
        field = known.get(leaf.casefold())
        if field is None:
            return column, None, _unknown(obj, leaf, column, [f["name"] for f in known.values()])
        return ".".join([*canonical, field["name"]]), category(field), None

    def where(self, fields: _Fields) -> str:
        rules = [] if self.context.source_name == "departments" else self.context.sync.rules
        clause = where_clause(rules, fields.kinds_of([name for rule in rules for name in rule.fields()]))
        return f" WHERE {clause}" if clause else ""


def _unknown(obj: str, part: str, column: str, known: list[str]) -> str:
    close = difflib.get_close_matches(part, known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    shown = f"'{part}'" if part == column else f"'{part}' (in '{column}')"
    return f"Salesforce object {obj} has no field {shown}{hint}"


def _rest_pages(org: _Org, soql: str, fields: _Fields) -> list[pd.DataFrame]:
    answer = org.call(lambda sf: sf.query(soql))
    pages = []
    while True:
        pages.append(rest_page(answer["records"], fields.paths, fields.names, fields.kinds))
        if answer.get("done", True):
            return pages
        next_url = answer["nextRecordsUrl"]
        answer = org.call(lambda sf, url=next_url: sf.query_more(url, identifier_is_url=True))


def _bulk_pages(sf, obj: str, soql: str, names: list[str]) -> list[pd.DataFrame]:
    results = getattr(sf.bulk2, obj).query(soql, max_records=BULK_PAGE_RECORDS, wait=BULK_POLL_SECONDS)
    return [csv_page(text, names) for text in results]


def said(error: SalesforceError) -> tuple[str, str]:
    """Salesforce's errorCode and the first line of its message, from a `[{errorCode, message}]` body
    (the learning destination reads Salesforce's refusals the same way)."""
    content = error.content
    if not (isinstance(content, list) and content and isinstance(content[0], dict)):
        return "", ""
    lines = str(content[0].get("message") or "").strip().splitlines()
    return str(content[0].get("errorCode") or ""), lines[0] if lines else ""


@contextmanager
def _translated(spec, context):
    """Salesforce's failures as one line naming the source and the fix (never the URL: it holds the query)."""
    source = f"source '{context.source_name}'"
    try:
        yield
    except (SourceError, ConfigError):
        raise
    except SalesforceRefusedRequest as error:
        code, message = said(error)
        if code == "REQUEST_LIMIT_EXCEEDED":
            raise SourceError(
                f"{source}: Salesforce refused the read: REQUEST_LIMIT_EXCEEDED ({message}); the org's API "
                "request limit is used up: wait for it to reset (a rolling 24 hours) or raise the limit"
            ) from None
        raise SourceError(
            f"{source}: Salesforce refused the read: {code or 'HTTP 403'} ({message}); give the integration "
            f"user API Enabled and read access to {spec.object}"
        ) from None
    except SalesforceMalformedRequest as error:
        code, message = said(error)
        raise SourceError(f"{source}: Salesforce refused the query: {code} ({message})") from None
    except SalesforceResourceNotFound:
        raise SourceError(
            f"{source}: {spec.instance_url} has no API version {spec.api_version} or no object "
            f"{spec.object}; check instance_url and api_version"
        ) from None
    except SalesforceGeneralError as error:
        code, message = said(error)
        raise SourceError(
            f"{source}: Salesforce did not answer (HTTP {error.status} {code}) after retries; try again later"
        ) from None
    except SalesforceOperationError as error:
        text = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise SourceError(f"{source}: the Bulk API 2.0 query job failed: {text}") from None
    except http.DeadlineExceeded:
        raise SourceError(
            f"{source}: not finished within the source's timeout of {spec.timeout:g} s "
            "(raise `timeout:` on this source if the org is really that large)"
        ) from None
    except requests.RequestException as error:
        raise SourceError(f"{source}: cannot reach {spec.instance_url}: {type(error).__name__}") from None
