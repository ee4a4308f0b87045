"""Writes into the fake org: the learning objects, upsert by External ID, sObject Collections and Bulk 2.0
ingest (`salesforce_ingest.py`), enforcing what Salesforce enforces.

`WritableSalesforce` is the source-side `FakeSalesforce` with these routes in front of its own, so logins,
sessions, throttling and `limit_after(n)` (403 REQUEST_LIMIT_EXCEEDED) apply to writes as well.
Salesforce's rules, as documented (resources-composite-sobjects-collections-upsert) and observed:
- a malformed call is HTTP 400 with `[{errorCode, message}]`: more than 200 records (EXCEEDED_ID_LIMIT), a
  record without `attributes.type` or of another type, a field the object does not have (INVALID_FIELD);
- a well-formed call is HTTP 200 with one UpsertResult `{id, success, errors, created}` per record in
  request order, failures included;
- a lookup must point at a record of its type: not an Id at all MALFORMED_ID, an Id of another object
  FIELD_INTEGRITY_EXCEPTION, no such record INVALID_CROSS_REFERENCE_KEY (fields: the lookup);
- the External ID is unique: the same value twice in one call fails both (DUPLICATE_VALUE), a known value
  updates that record (created false), a new one creates it (created true);
- validation rules (`validation_rule(...)`) fail a record with FIELD_CUSTOM_VALIDATION_EXCEPTION.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass

import pandas as pd

from rostersync_pipelines_tests.fakes.salesforce import FakeSalesforce, _error
from rostersync_pipelines_tests.fakes.salesforce_org import Field, _ref

ID = re.compile(r"^[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?$")
MAX_COLLECTION = 200


@dataclass
class CustomField(Field):
    external_id: bool = False
    unique: bool = False
    length: int | None = None

    def describe(self) -> dict:
        return {
            **super().describe(),
            "externalId": self.external_id,
            "unique": self.unique,
            "length": self.length,
        }


def _common() -> list[Field]:
    return [
        Field("Id", "id"),
        Field("Name"),  # the auto-number name every custom object has
        CustomField("External_Id__c", "string", external_id=True, unique=True, length=255),
        _ref("User__c", "User", "User__r"),
        _ref("Contact__c", "Contact", "Contact__r"),
        Field("LMS_User_Id__c"),
        Field("SystemModstamp", "datetime"),
    ]


LEARNING_OBJECTS = {
    "LMS_Course_Progress__c": ("a0A", [
        Field("Course_Id__c"), Field("Course_Name__c"), Field("Status__c", "picklist"),
        Field("Completion_Percent__c", "percent"), Field("Time_Spent_Seconds__c", "double"),
        Field("Enrolled_At__c", "datetime"), Field("Completed_At__c", "datetime"), Field("Score__c", "double"),
    ]),
    "LMS_Certificate__c": ("a0B", [
        Field("Course_Id__c"), Field("Course_Name__c"), Field("Issued_At__c", "datetime"),
        Field("Expires_At__c", "datetime"), Field("Url__c", "url"),
    ]),
    "LMS_Badge__c": ("a0C", [Field("Badge_Name__c"), Field("Badge_Type__c"), Field("Issued_At__c", "datetime")]),
}  # fmt: skip
PREFIXES = {"User": "005", "Contact": "003"}


class Store:
    """The learning objects' records, kept as dicts by External ID (a frame per call would be quadratic);
    `frame(name)` copies them into the org so SOQL sees them too."""

    def __init__(self, org):
        self.org = org
        self.records: dict[str, dict[str, dict]] = {}
        self.validations: list[tuple[str, object, str, list[str]]] = []
        self._ids = itertools.count(1)
        for name, (_, fields) in LEARNING_OBJECTS.items():
            org.define(name, _common() + fields)
            self.records[name] = {}

    def validation_rule(self, sobject: str, fails, message: str, fields: list[str] | None = None) -> None:
        """Records of `sobject` for which `fails(record)` is true are refused with `message`."""
        self.validations.append((sobject, fails, message, fields or []))

    def frame(self, sobject: str) -> pd.DataFrame:
        target = self.org.objects[sobject]
        target.frame = pd.DataFrame(
            list(self.records[sobject].values()), columns=target.frame.columns, dtype=object
        )
        return target.frame

    def upsert(self, sobject: str, records: list[dict]) -> list[dict]:
        """One UpsertResult per record; `records` hold only known fields (checked by the caller)."""
        counts: dict = {}
        for record in records:
            key = record.get("External_Id__c")
            counts[key] = counts.get(key, 0) + 1
        known_ids = {name: self._ids_of(name) for name in PREFIXES}
        return [self._one(sobject, record, counts, known_ids) for record in records]

    def _ids_of(self, sobject: str) -> set[str]:
        return {str(value)[:15] for value in self.org.objects[sobject].frame["Id"]}

    def _one(self, sobject: str, record: dict, counts: dict, known_ids: dict) -> dict:
        key = record.get("External_Id__c")
        if key is None or str(key).strip() == "":
            return _failed("MISSING_ARGUMENT", "External_Id__c not specified", [])
        if counts[key] > 1:
            return _failed("DUPLICATE_VALUE", f"Duplicate external id specified: {key}", ["External_Id__c"])
        for field, target in (("User__c", "User"), ("Contact__c", "Contact")):
            value = record.get(field)
            if value is None:
                continue
            if not ID.match(str(value)):
                return _failed("MALFORMED_ID", f"{target}: id value of incorrect type: {value}", [field])
            if not str(value).startswith(PREFIXES[target]):
                return _failed(
                    "FIELD_INTEGRITY_EXCEPTION",
                    f"field integrity exception: unknown (id value of incorrect type: {value})",
                    [field],
                )
            if str(value)[:15] not in known_ids[target]:
                return _failed("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [field])
        existing = self.records[sobject].get(key)
        merged = {**(existing or {}), **record}
        for name, fails, message, fields in self.validations:
            if name == sobject and fails(merged):
                return _failed("FIELD_CUSTOM_VALIDATION_EXCEPTION", message, fields)
        if existing is None:
            merged["Id"] = f"{LEARNING_OBJECTS[sobject][0]}{next(self._ids):012d}AAA"
            merged["Name"] = f"{next(self._ids):08d}"
        merged["SystemModstamp"] = self.org.stamp()
        self.records[sobject][key] = merged
        return {"id": merged["Id"], "success": True, "errors": [], "created": existing is None}


def _failed(code: str, message: str, fields: list[str]) -> dict:
    return {
        "id": None,
        "success": False,
        "errors": [{"statusCode": code, "message": message, "fields": fields}],
        "created": False,
    }


def unknown_fields(org, sobject: str, names) -> list[str]:
    fields = org.objects[sobject].fields
    return [
        name for name in names if name.casefold() not in fields or name in ("Id", "Name", "SystemModstamp")
    ]


class WritableSalesforce(FakeSalesforce):
    """The fake org with the learning objects and their write routes; knobs as `FakeSalesforce`, plus
    `store.validation_rule(...)`; `write_calls()` counts the calls that write."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from rostersync_pipelines_tests.fakes.salesforce_ingest import Ingest

        self.store = Store(self.org)
        self.ingest = Ingest(self)

    def write_calls(self) -> int:
        return sum(
            1
            for call in self.calls
            if call["method"] in ("PATCH", "PUT", "POST")
            and ("/composite/sobjects/" in call["path"] or "/jobs/ingest" in call["path"])
        )

    def _data(self, method, version, rest, params, body):
        collection = re.fullmatch(r"composite/sobjects/(\w+)/(\w+)", rest)
        if collection and method == "PATCH":
            return self._collection(collection.group(1), collection.group(2), body)
        if rest.startswith("jobs/ingest"):
            return self.ingest.route(method, version, rest, params, body)
        return super()._data(method, version, rest, params, body)

    def _collection(self, sobject: str, external_field: str, body: bytes):
        if sobject not in self.store.records:
            return 404, {}, _error("NOT_FOUND", "The requested resource does not exist")
        if external_field != "External_Id__c":
            return 400, {}, _error("INVALID_FIELD", f"Field {external_field} is not an External ID field")
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            return 400, {}, _error("JSON_PARSER_ERROR", "Unexpected character in the request body")
        records = payload.get("records")
        if not isinstance(records, list) or not records:
            return 400, {}, _error("INVALID_INPUT", "records is required")
        if len(records) > MAX_COLLECTION:
            return (
                400,
                {},
                _error(
                    "EXCEEDED_ID_LIMIT",
                    "record limit reached. cannot submit more than 200 records into this call",
                ),
            )
        clean = []
        for record in records:
            kind = (record.get("attributes") or {}).get("type") if isinstance(record, dict) else None
            if kind is None:
                return 400, {}, _error("INVALID_INPUT", "Each record must have an attributes map with a type")
            if kind != sobject:
                return 400, {}, _error("INVALID_TYPE", f"Records must be of type {sobject}, not {kind}")
            fields = {name: value for name, value in record.items() if name != "attributes"}
            unknown = unknown_fields(self.org, sobject, fields)
            if unknown:
                return (
                    400,
                    {},
                    _error("INVALID_FIELD", f"No such column '{unknown[0]}' on sobject of type {sobject}"),
                )
            clean.append(fields)
        usage = {"Sforce-Limit-Info": f"api-usage={self.data_calls()}/15000"}
        return 200, usage, self.store.upsert(sobject, clean)
