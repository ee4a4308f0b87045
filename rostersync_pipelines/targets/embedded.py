"""A database that behaves like a small LMS, so the whole product runs and is tested with no credentials.

It refuses what a real LMS refuses (a taken login or email, a department that still has people, a parent
cycle, a dangling reference) with the one-line messages a person can act on, so the engine's journal and
retry paths meet realistic failures. Each rule is checked in code first, for the message, and backed by a
database constraint, for the race two writers can still win.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from rostersync_pipelines.errors import TargetError
from rostersync_pipelines.state.locks import create_tables
from rostersync_pipelines.targets.base import LmsState, Operation
from rostersync_pipelines.targets.embedded_schema import (
    ID_COLUMNS,
    LEARNING_TABLES,
    STATE_TABLES,
    USER_ROLES,
    USER_STATUSES,
    departments,
    group_members,
    groups,
    metadata,
    users,
)

TABLES = {"users": users, "departments": departments, "groups": groups}
SINGULAR = {"users": "user", "departments": "department", "groups": "group"}
REFERENCES = {"department_id": "departments", "manager_id": "users", "functional_manager_id": "users"}
ACTIONS = {entity: ("create", "update", "delete") for entity in TABLES} | {
    "group_members": ("add_member", "remove_member")
}
NAMES_SHOWN = 5  # records listed in a refusal before "..."
FLAT = (str, int, float, bool, type(None))  # values a mapping shared by many users may hold safely

# The statements every apply runs, built once: SQLAlchemy then reuses their compiled form (~8x cheaper).
_ID, _VALUE = sa.bindparam("lms_id"), sa.bindparam("value", type_=sa.Text)
SAME_USER = {
    column: sa.select(users.c.id).where(
        sa.func.lower(users.c[column]) == sa.func.lower(_VALUE), users.c.id != _ID
    )
    for column in ("login", "email")
}
SAME_GROUP = sa.select(groups.c.id).where(groups.c.name == _VALUE, groups.c.id != _ID)
LABEL = {  # the department code names a department in messages; other records go by id
    entity: sa.select(departments.c.code if entity == "departments" else sa.null()).where(table.c.id == _ID)
    for entity, table in TABLES.items()
}
PARENT_OF = sa.select(departments.c.parent_id).where(departments.c.id == _ID)
INSERT = {entity: table.insert() for entity, table in TABLES.items()}
UPDATE = {entity: table.update().where(table.c.id == _ID) for entity, table in TABLES.items()}


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _to_id(value: Any, what: str) -> int | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise TargetError(f'{what} "{value}" is not an LMS id') from None


def _read(connection: sa.Connection, table: sa.Table, columns: list[str]) -> pd.DataFrame:
    # Ids are cast to text in SQL, so they never pass through float. The DBAPI cursor's plain tuples go
    # straight into an object frame: twice as fast as pd.read_sql, whose pandas-3 `str` dtype (NaN for
    # NULL) would then have to be undone, since the engine compares cells with None.
    ids = ID_COLUMNS[table.name]
    selected = [sa.cast(table.c[c], sa.Text).label(c) if c in ids else table.c[c] for c in columns]
    query = sa.select(*selected).order_by(*table.primary_key)
    cursor = connection.connection.cursor()
    try:
        cursor.execute(str(query.compile(dialect=connection.dialect)))
        return pd.DataFrame(cursor.fetchall(), columns=columns, dtype=object)
    finally:
        cursor.close()


def _custom_fields(texts: list) -> list:
    """Each user's custom_fields as a dict. People share a few distinct texts (a job title), so each text is
    parsed once, and users whose text is the same flat mapping share one dict: a million users are then
    a few hundred dicts, not a million copies. Nothing changes them in place (a plan builds its own dict
    per change); anything nested is parsed per user, since a shared list inside would be easy to mutate."""
    parsed: dict[str, tuple[Any, bool]] = {}
    out = []
    for text in texts:
        if text is None:
            out.append(None)
            continue
        known = parsed.get(text)
        if known is None:
            value = json.loads(text)
            flat = isinstance(value, dict) and all(isinstance(v, FLAT) for v in value.values())
            known = parsed[text] = (value, flat)
            out.append(value)
            continue
        out.append(known[0] if known[1] else json.loads(text))
    return out


def _listing(count: int, noun: str, names: list[str]) -> str:
    more = ", ..." if count > len(names) else ""
    return f"{count} {noun}{'' if count == 1 else 's'}: {', '.join(names)}{more}"


class EmbeddedLms:
    """The `Target` backed by any SQLAlchemy URL; see the module docstring for why it exists."""

    def __init__(self, url: str):
        parsed = sa.make_url(url)
        is_sqlite = parsed.get_backend_name() == "sqlite"
        if is_sqlite and parsed.database not in (None, "", ":memory:") and not parsed.query.get("uri"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine = sa.create_engine(url)
        if is_sqlite:
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        create_tables(self.engine, metadata)  # two first runs at once (state/locks.py)

    def dispose(self) -> None:
        self.engine.dispose()

    def read_state(self) -> LmsState:
        with self.engine.connect() as connection:
            state = LmsState(
                **{name: _read(connection, *table_columns) for name, table_columns in STATE_TABLES.items()}
            )
        fields = state.users["custom_fields"]
        state.users["custom_fields"] = pd.Series(
            _custom_fields(fields.tolist()), index=fields.index, dtype=object
        )
        return state

    def apply(self, operation: Operation) -> str | None:
        entity, action = operation.entity, operation.action
        if entity not in ACTIONS:
            raise TargetError(f'unknown entity "{entity}" (expected {", ".join(ACTIONS)})')
        if action not in ACTIONS[entity]:
            raise TargetError(f'{entity} cannot "{action}" (expected {", ".join(ACTIONS[entity])})')
        lms_id = None if action == "create" else _to_id(operation.lms_id, f"{entity} id")
        if lms_id is None and action != "create":
            raise TargetError(f"{entity} {action} needs an lms_id")
        handler = self._save if action in ("create", "update") else getattr(self, f"_{action}_{entity}")
        try:
            with self.engine.begin() as connection:
                return handler(connection, entity, lms_id, dict(operation.values))
        except sa.exc.IntegrityError as error:
            # Another writer won the race between our check and our write: re-check to name the record.
            if entity == "users" and action in ("create", "update"):
                with self.engine.connect() as connection:
                    self._check_unique_user(connection, operation.values, lms_id)
            reason = str(error.orig).splitlines()[0]
            raise TargetError(f"the LMS refused {entity} {action}: {reason}") from None

    def apply_batch(self, operations: list[Operation]) -> list[str | TargetError]:
        """Many changes in one transaction (targets/embedded_batch.py); outcomes exactly as `apply`'s."""
        from rostersync_pipelines.targets.embedded_batch import apply_batch

        return apply_batch(self, operations)

    def find(self, operation: Operation) -> str | None:
        """The record a create would have made, by its natural key: login then email, code, name."""
        keys = {"users": ("login", "email"), "departments": ("code",), "groups": ("name",)}
        table = TABLES.get(operation.entity)
        with self.engine.connect() as connection:
            for column in keys.get(operation.entity, ()):
                value = operation.values.get(column)
                if value:
                    found = connection.execute(
                        sa.select(table.c.id).where(sa.func.lower(table.c[column]) == str(value).lower())
                    ).scalar()
                    if found is not None:
                        return str(found)
        return None

    def _save(self, connection, entity: str, lms_id: int | None, values: dict) -> str:
        table = TABLES[entity]
        label = self._require(connection, entity, lms_id) if lms_id is not None else f"new {SINGULAR[entity]}"
        unknown = sorted(set(values) - set(table.c.keys()) | ({"id"} & set(values)))
        if unknown:
            raise TargetError(f"{entity} have no writable column {', '.join(unknown)}")
        getattr(self, f"_check_{entity}")(connection, values, lms_id, label)
        if lms_id is None:
            return str(connection.execute(INSERT[entity], values).inserted_primary_key[0])
        if values:
            connection.execute(UPDATE[entity], {**values, "lms_id": lms_id})
        return str(lms_id)

    def _check_users(self, connection, values: dict, lms_id: int | None, label: str) -> None:
        for column, allowed in (("status", USER_STATUSES), ("role", USER_ROLES)):
            if lms_id is None and values.get(column) is None:
                values[column] = allowed[0]  # the LMS default: active, learner
            if column in values and values[column] not in allowed:
                raise TargetError(
                    f'{column} "{values[column]}" of {label} is not one of {", ".join(allowed)}'
                )
        if (lms_id is None or "login" in values) and not values.get("login"):
            raise TargetError(f"{label} needs a login")
        self._check_unique_user(connection, values, lms_id)
        for column, entity in REFERENCES.items():
            if column in values:
                values[column] = self._reference(connection, entity, values[column], f"{column} of {label}")
        if values.get("custom_fields") is not None:
            fields = values["custom_fields"]
            try:
                if not isinstance(fields, dict):
                    raise TypeError(f"a {type(fields).__name__}, not a dict")
                values["custom_fields"] = json.dumps(fields, sort_keys=True, ensure_ascii=False)
            except (TypeError, ValueError) as error:
                raise TargetError(f"custom_fields of {label} cannot be stored as JSON: {error}") from None

    def _check_unique_user(self, connection, values: dict, lms_id: int | None) -> None:
        for column in ("login", "email"):
            if values.get(column) is not None:
                bound = {"value": values[column], "lms_id": lms_id or -1}
                other = connection.execute(SAME_USER[column], bound).scalar()
                if other is not None:
                    raise TargetError(f'{column} "{values[column]}" already belongs to user {other}')

    def _check_departments(self, connection, values: dict, lms_id: int | None, label: str) -> None:
        if "parent_id" not in values:
            return
        ancestor = parent = values["parent_id"] = self._reference(
            connection, "departments", values["parent_id"], f"parent_id of {label}"
        )
        seen = set()
        while ancestor is not None and ancestor not in seen:
            if ancestor == lms_id:
                raise TargetError(f"{label} cannot move under department {parent}: that would make a cycle")
            seen.add(ancestor)
            ancestor = connection.execute(PARENT_OF, {"lms_id": ancestor}).scalar()

    def _check_groups(self, connection, values: dict, lms_id: int | None, label: str) -> None:
        if values.get("name") is not None:
            other = connection.execute(SAME_GROUP, {"value": values["name"], "lms_id": lms_id or -1}).scalar()
            if other is not None:
                raise TargetError(f'group name "{values["name"]}" already belongs to group {other}')

    def _delete_users(self, connection, _entity, lms_id: int, _values) -> str:
        label = self._require(connection, "users", lms_id)
        managed = (users.c.manager_id == lms_id) | (users.c.functional_manager_id == lms_id)
        self._refuse_if_any(connection, users, users.c.login, managed, f"{label} still manages", "user")
        for table in (group_members, *LEARNING_TABLES):
            connection.execute(table.delete().where(table.c.user_id == lms_id))
        connection.execute(users.delete().where(users.c.id == lms_id))
        return str(lms_id)

    def _delete_departments(self, connection, _entity, lms_id: int, _values) -> str:
        label = self._require(connection, "departments", lms_id)
        has = f"{label} still has"
        self._refuse_if_any(connection, users, users.c.login, users.c.department_id == lms_id, has, "user")
        child = sa.cast(departments.c.id, sa.Text) + sa.func.coalesce(
            ' (code "' + departments.c.code + '")', ""
        )
        is_child = departments.c.parent_id == lms_id
        self._refuse_if_any(connection, departments, child, is_child, has, "child department")
        connection.execute(departments.delete().where(departments.c.id == lms_id))
        return str(lms_id)

    def _delete_groups(self, connection, _entity, lms_id: int, _values) -> str:
        self._require(connection, "groups", lms_id)
        connection.execute(group_members.delete().where(group_members.c.group_id == lms_id))
        connection.execute(groups.delete().where(groups.c.id == lms_id))
        return str(lms_id)

    def _add_member_group_members(self, connection, _entity, group_id: int, values: dict) -> str:
        member = self._membership(connection, group_id, values)
        if connection.execute(sa.select(group_members.c.user_id).filter_by(**member)).first() is None:
            connection.execute(group_members.insert(), member)
        return str(group_id)

    def _remove_member_group_members(self, connection, _entity, group_id: int, values: dict) -> str:
        connection.execute(group_members.delete().filter_by(**self._membership(connection, group_id, values)))
        return str(group_id)

    def _membership(self, connection, group_id: int, values: dict) -> dict:
        label = self._require(connection, "groups", group_id)
        if set(values) != {"user_id"} or values["user_id"] is None:
            raise TargetError(f"a membership change of {label} takes {{'user_id': ...}}, got {values}")
        return {
            "group_id": group_id,
            "user_id": self._reference(connection, "users", values["user_id"], f"member of {label}"),
        }

    @staticmethod
    def _require(connection, entity: str, lms_id: int, context: str = "") -> str:
        """The record's name for messages; refuses if it does not exist."""
        row = connection.execute(LABEL[entity], {"lms_id": lms_id}).first()
        if row is None:
            raise TargetError(f"{SINGULAR[entity]} {lms_id} does not exist{context}")
        return f"{SINGULAR[entity]} {lms_id}" + ("" if row[0] is None else f' (code "{row[0]}")')

    def _reference(self, connection, entity: str, value: Any, what: str) -> int | None:
        ref = _to_id(value, what)
        if ref is not None:
            self._require(connection, entity, ref, f" ({what})")
        return ref

    @staticmethod
    def _refuse_if_any(
        connection, table: sa.Table, name: sa.ColumnElement, where, prefix: str, noun: str
    ) -> None:
        count = connection.execute(sa.select(sa.func.count()).select_from(table).where(where)).scalar()
        if count:
            query = sa.select(name).where(where).order_by(table.c.id).limit(NAMES_SHOWN)
            raise TargetError(f"{prefix} {_listing(count, noun, list(connection.execute(query).scalars()))}")


def make(spec, config) -> EmbeddedLms:
    return EmbeddedLms(config.resolve_url(spec.url))
