"""SOQL text built from config: escaped literals and the import rules pushed into a WHERE clause.

Every value from the config reaches Salesforce only through `quote` / `like`, so no value (a quote, a
backslash, a `%`) can change what the query means. The pushed clause is only a pre-filter: the engine
applies the rules again client-side, so a condition that cannot be said exactly in SOQL (a regex, a date,
a field whose type does not allow the test) is left out rather than approximated, and a null value is
always let through when the rule's meaning for it could be read either way. The server then returns a
superset of the rows the rules keep, never fewer.
"""

from __future__ import annotations

import re

from rostersync_pipelines.config_rules import Condition, Rule

TEXT, ID, BOOLEAN, NUMBER = "text", "id", "boolean", "number"
_TEXT_TYPES = {"string", "picklist", "email", "phone", "url", "textarea", "combobox", "encryptedstring"}
_ID_TYPES = {"id", "reference"}
_NUMBER_TYPES = {"int", "double", "currency", "percent", "long"}
_ESCAPES = {"\\": "\\\\", "'": "\\'", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b"}
_ESCAPES["\f"] = "\\f"
_NUMBER = re.compile(r"-?\d+(\.\d+)?")
FIELD_PATH = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*")


def category(describe_field: dict) -> str | None:
    """What a described field allows in a WHERE clause: text, id, boolean, number, or None (not pushed)."""
    if not describe_field.get("filterable", True):
        return None
    kind = describe_field.get("type")
    if kind in _TEXT_TYPES:
        return TEXT
    if kind in _ID_TYPES:
        return ID
    if kind == "boolean":
        return BOOLEAN
    return NUMBER if kind in _NUMBER_TYPES else None


def _escape_char(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    return f"\\u{ord(char):04x}" if ord(char) < 0x20 else char


def quote(value: str) -> str:
    """A SOQL string literal meaning exactly `value`."""
    return "'" + "".join(_escape_char(char) for char in value) + "'"


def like(value: str, prefix: str = "", suffix: str = "") -> str:
    """A LIKE pattern matching `value` literally, between the given wildcards (`%` and `_` escaped)."""
    body = "".join(_escape_char(char) for char in value).replace("%", "\\%").replace("_", "\\_")
    return f"'{prefix}{body}{suffix}'"


def where_clause(rules: list[Rule], types: dict[str, str | None]) -> str | None:
    """The rules as one SOQL condition (skip = NOT condition, keep = condition), or None if none pushes.

    `types` maps each rule field (as the config spells it) to `category()` of its Salesforce field.
    """
    parts = [_push(rule.condition, rule.skip is not None, types) for rule in rules]
    return _join([part for part in parts if part], "AND")


def _join(parts: list[str], operator: str) -> str | None:
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else f" {operator} ".join(f"({part})" for part in parts)


def _push(condition: Condition, negate: bool, types: dict[str, str | None]) -> str | None:
    if condition.field is None:
        # De Morgan: NOT all(...) = any(NOT ...); an AND may drop what it cannot say, an OR may not
        conjunction = (condition.all is not None) != negate
        parts = [_push(part, negate, types) for part in condition.all or condition.any]
        if conjunction:
            return _join([part for part in parts if part], "AND")
        return None if None in parts else _join(parts, "OR")
    kind = types.get(condition.field)
    if kind is None or condition.test == "regex":
        return None
    field = condition.field
    if kind == BOOLEAN:
        return _boolean(condition, negate, field)
    if kind == NUMBER:
        value = (condition.equals or "").strip()
        if condition.test != "equals" or not _NUMBER.fullmatch(value):
            return None
        return f"{field} = null OR {field} != {value}" if negate else f"{field} = {value}"
    return _text(condition, negate, field, kind)


def _text(condition: Condition, negate: bool, field: str, kind: str) -> str | None:
    test = condition.test
    if test == "empty":
        return f"{field} {'!=' if condition.empty == negate else '='} null"
    if test in ("equals", "not_equals"):
        value = quote((condition.equals if test == "equals" else condition.not_equals).strip())
        if (test == "equals") != negate:
            return f"{field} = {value}"
        # a null is "not equal" to a value; kept for either reading of a negated not_equals
        return f"{field} = null OR {field} {'!=' if test == 'equals' else '='} {value}"
    if test == "in":
        if not condition.one_of:
            return None
        values = ", ".join(quote(value.strip()) for value in condition.one_of)
        return f"{field} = null OR {field} NOT IN ({values})" if negate else f"{field} IN ({values})"
    if kind != TEXT:
        return None  # LIKE is for text fields only
    # the engine compares trimmed values, so the pushed pattern is trimmed the same way
    pattern = {
        "contains": lambda: like(condition.contains.strip(), "%", "%"),
        "not_contains": lambda: like(condition.not_contains.strip(), "%", "%"),
        "starts_with": lambda: like(condition.starts_with.strip(), "", "%"),
    }[test]()
    if (test == "not_contains") == negate:
        return f"{field} LIKE {pattern}"
    return f"{field} = null OR (NOT {field} LIKE {pattern})"


def _boolean(condition: Condition, negate: bool, field: str) -> str | None:
    """A checkbox is never null on its own record, so true/false tests push exactly (dotted ones do not)."""
    if "." in field:
        return None
    values = {"equals": [condition.equals], "not_equals": [condition.not_equals], "in": condition.one_of}
    given = values.get(condition.test)
    folded = {str(value).strip().casefold() for value in given or []}
    if not given or not folded <= {"true", "false"}:
        return None
    matching = folded if condition.test != "not_equals" else {"true", "false"} - folded
    if negate:
        matching = {"true", "false"} - matching
    if len(matching) != 1:
        return None  # everything (or nothing) matches: nothing worth pushing
    return f"{field} = {matching.pop()}"
