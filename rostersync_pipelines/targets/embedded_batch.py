"""The embedded LMS's batch apply: a few thousand changes in one transaction, each rule checked once per batch.

`EmbeddedLms.apply` costs four statements and a commit per change, which bounds a first load of a million
people by Python calls, not by the database. Here a batch is checked in bulk (one indexed look-up per
unique column, one per kind of reference) and written with executemany in one transaction. The rules and
messages stay those of `apply`: whenever a batch holds anything the bulk checks would have to reason about
in order (a value another record holds, the same value twice, a missing reference, a delete, a parent
move, a non-ASCII unique value whose case folding differs between databases, a race lost to another
writer), the whole batch goes through `apply` one change at a time instead, so every outcome and message
is exactly the one-by-one outcome.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from rostersync_pipelines.apply_sql import executemany, select_in
from rostersync_pipelines.errors import TargetError
from rostersync_pipelines.targets.base import Operation
from rostersync_pipelines.targets.embedded import TABLES, _to_id
from rostersync_pipelines.targets.embedded_schema import (
    USER_ROLES,
    USER_STATUSES,
    group_members,
    groups,
    users,
)

VALUES = sa.bindparam("values", expanding=True)  # the IN list of apply_sql.select_in
NEW_USER_IDS = sa.select(sa.func.lower(users.c.login), users.c.id).where(
    sa.func.lower(users.c.login).in_(VALUES)
)
# json.dumps(fields, sort_keys=True, ensure_ascii=False), as `EmbeddedLms` stores them, with one encoder
CUSTOM_FIELDS_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False).encode
USER_REFERENCES = {"department_id": "departments", "manager_id": "users", "functional_manager_id": "users"}


class Fallback(Exception):
    """The batch needs the one-by-one path to get its outcome (and message) exactly right."""


def apply_batch(lms, operations: list[Operation]) -> list[str | TargetError]:
    """One LMS id (or the TargetError that refused it) per operation, in order."""
    if not operations:
        return []
    try:
        with lms.engine.begin() as connection:
            return _bulk(lms, connection, operations)
    except (Fallback, sa.exc.IntegrityError):
        pass  # rolled back: nothing of the batch was written
    answers: list[str | TargetError] = []
    for operation in operations:
        try:
            answers.append(lms.apply(operation))
        except TargetError as error:
            answers.append(error)
    return answers


def _bulk(lms, connection, operations: list[Operation]) -> list[str]:
    entities = {operation.entity for operation in operations}
    if len(entities) != 1:
        raise Fallback
    entity = entities.pop()
    if entity == "group_members":
        return _memberships(connection, operations)
    if entity not in TABLES or any(op.action not in ("create", "update") for op in operations):
        raise Fallback
    table = TABLES[entity]
    ids = [_id(_to_id, op.lms_id) for op in operations]
    if any(lms_id is None and op.action == "update" for lms_id, op in zip(ids, operations, strict=True)):
        raise Fallback
    rows = [dict(op.values) for op in operations]
    writable = set(table.c.keys()) - {"id"}
    if any(set(row) - writable for row in rows) or len({i for i in ids if i is not None}) < sum(
        i is not None for i in ids
    ):
        raise Fallback
    _require(connection, table, [i for i in ids if i is not None])
    getattr(_Checks, entity)(connection, rows, ids)
    return _write(connection, table, rows, ids)


def _id(to_id, value) -> int | None:
    try:
        return to_id(value, "id")
    except TargetError:
        raise Fallback from None


class _Checks:
    """The rules of `EmbeddedLms._check_<entity>`, in bulk; anything they cannot settle falls back."""

    @staticmethod
    def users(connection, rows: list[dict], ids: list[int | None]) -> None:
        for row, lms_id in zip(rows, ids, strict=True):
            for column, allowed in (("status", USER_STATUSES), ("role", USER_ROLES)):
                if lms_id is None and row.get(column) is None:
                    row[column] = allowed[0]
                if column in row and row[column] not in allowed:
                    raise Fallback
            if (lms_id is None or "login" in row) and not row.get("login"):
                raise Fallback
            fields = row.get("custom_fields")
            if fields is not None:
                if not isinstance(fields, dict):
                    raise Fallback
                try:
                    row["custom_fields"] = CUSTOM_FIELDS_JSON(fields)
                except (TypeError, ValueError):
                    raise Fallback from None
        for column in ("login", "email"):
            _unique(connection, users.c[column], [row.get(column) for row in rows], ids, fold=True)
        for column, entity in USER_REFERENCES.items():
            wanted = []
            for row in rows:
                if column in row:
                    row[column] = ref = _id(_to_id, row[column])
                    if ref is not None:
                        wanted.append(ref)
            _require(connection, TABLES[entity], wanted)

    @staticmethod
    def departments(connection, rows: list[dict], ids: list[int | None]) -> None:
        if any("parent_id" in row and lms_id is not None for row, lms_id in zip(rows, ids, strict=True)):
            raise Fallback  # a move: its cycle check walks the tree one parent at a time
        for row in rows:
            if "parent_id" in row:
                row["parent_id"] = _id(_to_id, row["parent_id"])
        _require(connection, TABLES["departments"], [r["parent_id"] for r in rows if r.get("parent_id")])

    @staticmethod
    def groups(connection, rows: list[dict], ids: list[int | None]) -> None:
        _unique(connection, groups.c.name, [row.get("name") for row in rows], ids, fold=False)


def _unique(connection, column: sa.Column, values: list[Any], ids: list[int | None], fold: bool) -> None:
    """No value twice in the batch, none held by another record (compared as the unique index does)."""
    present = [value for value in values if value is not None]
    if fold and not all(str(value).isascii() for value in present):
        raise Fallback  # SQLite folds ASCII only, PostgreSQL all of Unicode: let the database compare
    keys = [str(value).lower() if fold else value for value in present]
    if len(set(keys)) < len(keys):
        raise Fallback
    expression = sa.func.lower(column) if fold else column
    owners = dict(
        select_in(connection, sa.select(expression, column.table.c.id).where(expression.in_(VALUES)), keys)
    )
    for value, lms_id in zip(values, ids, strict=True):
        if value is not None:
            owner = owners.get(str(value).lower() if fold else value)
            if owner is not None and owner != lms_id:
                raise Fallback


def _require(connection, table: sa.Table, ids: list[int]) -> None:
    unique = sorted(set(ids))
    counts = select_in(
        connection, sa.select(sa.func.count()).select_from(table).where(table.c.id.in_(VALUES)), unique
    )
    if sum(count for (count,) in counts) < len(unique):
        raise Fallback


def _write(connection, table: sa.Table, rows: list[dict], ids: list[int | None]) -> list[str]:
    answers: list[str | None] = [None if lms_id is None else str(lms_id) for lms_id in ids]
    creates = [n for n, lms_id in enumerate(ids) if lms_id is None]
    if creates:
        columns = sorted({column for n in creates for column in rows[n]})
        if table is users:
            # one executemany, then the new ids by login: unique, checked free and ASCII above, so
            # lower() folds it alike here and in the database (a RETURNING insert went row by row on SQLite)
            executemany(
                connection, table.insert(), columns, [tuple(map(rows[n].get, columns)) for n in creates]
            )
            logins = [str(rows[n]["login"]).lower() for n in creates]
            new_ids = dict(select_in(connection, NEW_USER_IDS, logins))
            for n, login in zip(creates, logins, strict=True):
                answers[n] = str(new_ids[login])
        else:
            params = [{column: rows[n].get(column) for column in columns} for n in creates]
            query = table.insert().returning(table.c.id, sort_by_parameter_order=True)
            for n, new_id in zip(creates, connection.execute(query, params).scalars(), strict=True):
                answers[n] = str(new_id)
    by_columns: dict[tuple, list[tuple]] = {}
    for row, lms_id in zip(rows, ids, strict=True):
        if lms_id is not None and row:
            names = tuple(sorted(row))
            by_columns.setdefault(names, []).append((*(row[name] for name in names), lms_id))
    statement = table.update().where(table.c.id == sa.bindparam("lms_id"))
    for names, params in by_columns.items():
        executemany(connection, statement, (*names, "lms_id"), params)
    return answers


def _memberships(connection, operations: list[Operation]) -> list[str]:
    pairs = []
    for op in operations:
        if op.action not in ("add_member", "remove_member") or set(op.values) != {"user_id"}:
            raise Fallback
        group_id, user_id = _id(_to_id, op.lms_id), _id(_to_id, op.values["user_id"])
        if group_id is None or user_id is None:
            raise Fallback
        pairs.append((group_id, user_id))
    if len(set(pairs)) < len(pairs):
        raise Fallback
    _require(connection, TABLES["groups"], [group for group, _ in pairs])
    _require(connection, users, [user for _, user in pairs])
    adds = [pair for pair, op in zip(pairs, operations, strict=True) if op.action == "add_member"]
    removes = [pair for pair, op in zip(pairs, operations, strict=True) if op.action == "remove_member"]
    query = sa.select(group_members.c.group_id, group_members.c.user_id).where(
        group_members.c.user_id.in_(VALUES)
    )
    existing = set(select_in(connection, query, sorted({user for _, user in adds})))
    fresh = [(g, u) for g, u in adds if (g, u) not in existing]
    executemany(connection, group_members.insert(), ("group_id", "user_id"), fresh)
    if removes:
        statement = group_members.delete().where(
            group_members.c.group_id == sa.bindparam("g"), group_members.c.user_id == sa.bindparam("u")
        )
        executemany(connection, statement, ("g", "u"), removes)
    return [str(group) for group, _ in pairs]
