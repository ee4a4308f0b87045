"""The fake org's data: sObjects with described fields, records kept column-wise, SOQL run over them.

Records live in one pandas frame per object (object dtype: str, bool, int/float or None as Salesforce
types them), so a million Users cost memory once and a query is a few vectorized masks. Other fakes and
tests add objects (`define`) and records (`insert`, `update`): the learning destination's custom objects
fit the same store.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rostersync_pipelines_tests.fakes.soql import Query, SoqlError

TEXT_TYPES = {"string", "email", "picklist", "phone", "url", "textarea", "combobox", "id", "reference"}
NUMBER_TYPES = {"int", "double", "currency", "percent"}
PREFIXES = {"User": "005", "Contact": "003", "Account": "001"}


@dataclass
class Field:
    name: str
    type: str = "string"
    reference_to: list[str] = field(default_factory=list)
    relationship_name: str | None = None
    filterable: bool = True

    def describe(self) -> dict:
        return {
            "name": self.name,
            "label": self.name,
            "type": self.type,
            "referenceTo": self.reference_to,
            "relationshipName": self.relationship_name,
            "filterable": self.filterable,
            "nillable": self.type not in ("boolean", "id"),
            "custom": self.name.endswith("__c"),
        }


def _ref(name: str, target: str, relationship: str) -> Field:
    return Field(name, "reference", [target], relationship)


STANDARD = {
    "User": [
        Field("Id", "id"),
        Field("Username"),
        Field("Email", "email"),
        Field("FirstName"),
        Field("LastName"),
        Field("Department"),
        Field("Division"),
        Field("Title"),
        Field("CompanyName"),
        Field("EmployeeNumber"),
        Field("FederationIdentifier"),
        Field("IsActive", "boolean"),
        _ref("ManagerId", "User", "Manager"),
        Field("AboutMe", "textarea", filterable=False),
        Field("SystemModstamp", "datetime"),
    ],
    "Contact": [
        Field("Id", "id"),
        Field("FirstName"),
        Field("LastName"),
        Field("Email", "email"),
        Field("Title"),
        Field("Department"),
        _ref("AccountId", "Account", "Account"),
        _ref("ReportsToId", "Contact", "ReportsTo"),
        Field("SystemModstamp", "datetime"),
    ],
    "Account": [
        Field("Id", "id"),
        Field("Name"),
        Field("AccountNumber"),
        Field("Type", "picklist"),
        _ref("ParentId", "Account", "Parent"),
        Field("NumberOfEmployees", "int"),
        Field("SystemModstamp", "datetime"),
    ],
}


class SObject:
    def __init__(self, name: str, fields: list[Field]):
        self.name, self.fields = name, {f.name.casefold(): f for f in fields}
        self.relationships = {f.relationship_name.casefold(): f for f in fields if f.relationship_name}
        self.frame = pd.DataFrame({f.name: pd.Series(dtype=object) for f in fields})

    def field(self, name: str) -> Field:
        found = self.fields.get(name.casefold())
        if found is None:
            raise SoqlError(
                "INVALID_FIELD",
                f"No such column '{name}' on entity '{self.name}'. If you are attempting to use a custom field, "
                "be sure to append the '__c' after the custom field name. Please reference your WSDL or the "
                "describe call for the appropriate names.",
            )
        return found

    def relationship(self, name: str) -> Field:
        found = self.relationships.get(name.casefold())
        if found is None:
            raise SoqlError(
                "INVALID_FIELD",
                f"Didn't understand relationship '{name}' in field path. If you are attempting to use a custom "
                "relationship, be sure to append the '__r' after the custom relationship name.",
            )
        return found


class Org:
    def __init__(self):
        self.objects: dict[str, SObject] = {}
        self._ids = itertools.count(1)
        self._clock = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
        for name, fields in STANDARD.items():
            self.define(name, fields)

    def define(self, name: str, fields: list[Field]) -> SObject:
        self.objects[name] = SObject(name, fields)
        return self.objects[name]

    def add_field(self, sobject: str, new: Field) -> None:
        target = self.objects[sobject]
        target.fields[new.name.casefold()] = new
        if new.relationship_name:
            target.relationships[new.relationship_name.casefold()] = new
        target.frame[new.name] = pd.Series([None] * len(target.frame), dtype=object)

    def sobject(self, name: str) -> SObject:
        found = next((o for key, o in self.objects.items() if key.casefold() == name.casefold()), None)
        if found is None:
            raise SoqlError("INVALID_TYPE", f"sObject type '{name}' is not supported.")
        return found

    def stamp(self) -> str:
        self._clock += dt.timedelta(seconds=1)
        return self._clock.strftime("%Y-%m-%dT%H:%M:%S.000+0000")

    def insert(self, sobject: str, records: list[dict] | pd.DataFrame) -> list[str]:
        """Add records (Ids assigned as Salesforce would, with the object's key prefix)."""
        target = self.objects[sobject]
        new = records.copy() if isinstance(records, pd.DataFrame) else pd.DataFrame(records, dtype=object)
        prefix = PREFIXES.get(sobject, "a00")
        if "Id" not in new or new["Id"].isna().any():
            new["Id"] = [f"{prefix}{next(self._ids):012d}AAA" for _ in range(len(new))]
        new["SystemModstamp"] = self.stamp()
        unknown = [c for c in new.columns if c.casefold() not in target.fields]
        if unknown:
            raise KeyError(f"{sobject} has no fields {unknown}")
        new = new.rename(columns={c: target.fields[c.casefold()].name for c in new.columns})
        new = new.reindex(columns=target.frame.columns).astype(object)
        new = new.where(new.notna(), None)
        target.frame = pd.concat([target.frame, new], ignore_index=True) if len(target.frame) else new
        return new["Id"].tolist()

    def update(self, sobject: str, record_id: str, values: dict) -> None:
        frame = self.objects[sobject].frame
        row = frame.index[frame["Id"] == record_id][0]
        for name, value in {**values, "SystemModstamp": self.stamp()}.items():
            frame.at[row, self.objects[sobject].field(name).name] = value

    def delete(self, sobject: str, record_id: str) -> None:
        target = self.objects[sobject]
        target.frame = target.frame[target.frame["Id"] != record_id].reset_index(drop=True)

    def column(self, sobject: SObject, path: str) -> tuple[Field, np.ndarray, list[str]]:
        """A field path's values for every record of `sobject`, following relationships by Id."""
        head, _, rest = path.partition(".")
        if not rest:
            found = sobject.field(head)
            return found, sobject.frame[found.name].to_numpy(dtype=object), [found.name]
        link = sobject.relationship(head)
        target = self.objects[link.reference_to[0]]
        found, values, names = self.column(target, rest)
        by_id = dict(zip(target.frame["Id"].to_numpy(), values, strict=True))
        linked = [by_id.get(key) if key is not None else None for key in sobject.frame[link.name].to_numpy()]
        return found, np.array(linked, dtype=object), [link.relationship_name, *names]

    def matching(self, sobject: SObject, condition) -> np.ndarray:
        """The boolean mask of a parsed WHERE condition, with SOQL's type rules for each comparison."""
        kind = condition[0]
        if kind in ("and", "or"):
            masks = [self.matching(sobject, part) for part in condition[1]]
            return np.logical_and.reduce(masks) if kind == "and" else np.logical_or.reduce(masks)
        if kind == "not":
            return ~self.matching(sobject, condition[1])
        found, values, _ = self.column(sobject, condition[1])
        present = pd.notna(values)
        if kind == "like":
            if found.type not in TEXT_TYPES - {"id", "reference"} or not found.filterable:
                raise SoqlError("INVALID_FIELD", f"invalid operator on {found.type} field: {found.name}")
            hits = pd.Series(values, dtype=object).str.fullmatch(condition[2], case=False)
            return hits.fillna(False).to_numpy(dtype=bool)
        _check_filterable(found)
        if kind == "in":
            wanted = {_comparable(found, value) for value in condition[3]}
            hit = np.array([_folded(value) in wanted for value in values], dtype=bool) & present
            return ~hit if condition[2] else hit
        operator, value = condition[2], condition[3]
        if value[0] == "null":
            if operator not in ("=", "!="):
                raise SoqlError("INVALID_FIELD", f"null may only be compared with = or != ({found.name})")
            return ~present if operator == "=" else present
        wanted = _comparable(found, value)
        folded = np.array([_folded(v) for v in values], dtype=object)
        if operator in ("=", "!="):
            equal = (folded == wanted) & present
            return equal if operator == "=" else ~equal
        if found.type == "boolean":
            raise SoqlError("INVALID_FIELD", f"invalid operator on boolean field: {found.name}")
        compare = {"<": np.less, ">": np.greater, "<=": np.less_equal, ">=": np.greater_equal}[operator]
        return np.array(
            [p and bool(compare(v, wanted)) for v, p in zip(folded, present, strict=True)], dtype=bool
        )

    def select(self, query: Query) -> tuple[SObject, np.ndarray]:
        """The positions of the records a query selects, in the order it asks for."""
        sobject = self.sobject(query.sobject)
        rows = np.arange(len(sobject.frame))
        if query.where is not None:
            rows = rows[self.matching(sobject, query.where)]
        if query.order is not None:
            _, values, _ = self.column(sobject, query.order[0])
            keys = pd.Series(values[rows], dtype=object).map(_folded)
            order = keys.sort_values(ascending=not query.order[1], na_position="first", kind="stable").index
            rows = rows[order.to_numpy()]
        return sobject, rows if query.limit is None else rows[: query.limit]


def _check_filterable(found: Field) -> None:
    if not found.filterable:
        raise SoqlError("INVALID_FIELD", f"field '{found.name}' can not be filtered in a query call")


def _folded(value):
    return value.casefold() if isinstance(value, str) else value


def _comparable(found: Field, value: tuple):
    """A literal checked against the field's type, as Salesforce refuses `IsActive = 'true'`."""
    kind, literal = value
    if found.type in TEXT_TYPES:
        if kind != "str":
            raise SoqlError(
                "INVALID_FIELD",
                f"value of filter criterion for field '{found.name}' must be of type {found.type} and should be "
                "enclosed in quotes",
            )
        return literal.casefold()
    expected = {"boolean": "bool"}.get(found.type, "num" if found.type in NUMBER_TYPES else None)
    if kind != expected:
        raise SoqlError(
            "INVALID_FIELD",
            f"value of filter criterion for field '{found.name}' must be of type {found.type} and should not "
            "be enclosed in quotes",
        )
    return literal
