"""The departments of a SCIM target: names on users, plus RosterSync's catalogue of what those names stand for.

SCIM has no department objects (DESIGN §1.4): a user carries only the enterprise extension's `department`,
a name. The engine still plans departments by key, code and parent, so the code, key and parent each
name stands for are kept here, in a table of the state database (`scim_departments`, one row per department
a sync created; no call to the SCIM server). Read back, every name in use on a user is a department: the
catalogue's row when it has that name, else a bare department whose id is the name itself (set by someone
else; a sync without a departments source matches it by name). Names must be unique, since a name is all
the server keeps.
"""

from __future__ import annotations

import secrets

import pandas as pd
import sqlalchemy as sa

from rostersync_pipelines.errors import TargetError
from rostersync_pipelines.state.locks import create_tables
from rostersync_pipelines.targets.base import DEPARTMENT_STATE_COLUMNS

metadata = sa.MetaData()
catalogue = sa.Table(
    "scim_departments",
    metadata,
    sa.Column("target", sa.Text, primary_key=True),  # the SCIM base URL: two SCIM targets never mix
    sa.Column("id", sa.Text, primary_key=True),
    *(sa.Column(column, sa.Text) for column in DEPARTMENT_STATE_COLUMNS if column != "id"),
)
FIELDS = [column for column in DEPARTMENT_STATE_COLUMNS if column != "id"]


class Departments:
    def __init__(self, state_url: str, target: str):
        # the journal writes to the same database while changes apply: wait for its lock, do not fail
        is_sqlite = sa.make_url(state_url).get_backend_name() == "sqlite"
        self.engine = sa.create_engine(state_url, connect_args={"timeout": 30} if is_sqlite else {})
        create_tables(self.engine, metadata)  # two first runs at once (state/locks.py)
        self.target = target
        self.mine = catalogue.c.target == target

    def dispose(self) -> None:
        self.engine.dispose()

    def frame(self, names_in_use: set[str]) -> pd.DataFrame:
        """The catalogue, plus a bare department for each name in use that the catalogue lacks."""
        with self.engine.connect() as connection:
            rows = [dict(row._mapping) for row in connection.execute(sa.select(catalogue).where(self.mine))]
        known = {row["name"] for row in rows}
        bare = [{"id": name, "name": name} for name in sorted(names_in_use - known)]
        frame = pd.DataFrame(rows + bare, columns=["target", *DEPARTMENT_STATE_COLUMNS], dtype=object)
        return (
            frame[DEPARTMENT_STATE_COLUMNS]
            .astype(object)
            .where(frame[DEPARTMENT_STATE_COLUMNS].notna(), None)
        )

    def _row(self, connection, department_id: str) -> dict | None:
        query = sa.select(catalogue).where(self.mine, catalogue.c.id == department_id)
        row = connection.execute(query).first()
        return None if row is None else dict(row._mapping)

    def name_of(self, department_id: str | None) -> str | None:
        """The name a user is given for a department id (a bare department's id is its name)."""
        if department_id is None:
            return None
        with self.engine.connect() as connection:
            row = self._row(connection, department_id)
        return department_id if row is None else row["name"]

    def _check_name(self, connection, name: str | None, department_id: str | None) -> None:
        if not name:
            raise TargetError("a SCIM department needs a name: the name is all a SCIM user carries")
        query = sa.select(catalogue.c.id).where(
            self.mine, catalogue.c.name == name, catalogue.c.id != (department_id or "")
        )
        other = connection.execute(query).scalar()
        if other is not None:
            raise TargetError(
                f'department name "{name}" is already department {other}; SCIM keeps only names'
            )

    def create(self, values: dict) -> str:
        department_id = "d-" + secrets.token_hex(6)
        with self.engine.begin() as connection:
            self._check_name(connection, values.get("name"), None)
            row = {field: values.get(field) for field in FIELDS}
            connection.execute(catalogue.insert(), {**row, "target": self.target, "id": department_id})
        return department_id

    def update(self, department_id: str, values: dict) -> tuple[str, str]:
        """(old name, new name); a bare department is adopted into the catalogue under its id."""
        with self.engine.begin() as connection:
            row = self._row(connection, department_id)
            if row is None:
                row = {"target": self.target, "id": department_id, "name": department_id}
                connection.execute(catalogue.insert(), row)
            new = {field: values[field] for field in FIELDS if field in values}
            if "name" in new:
                self._check_name(connection, new["name"], department_id)
            if new:
                connection.execute(catalogue.update().where(self.mine, catalogue.c.id == department_id), new)
        return row["name"], new.get("name", row["name"])

    def delete(self, department_id: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(catalogue.delete().where(self.mine, catalogue.c.id == department_id))

    def find(self, code: str | None) -> str | None:
        query = sa.select(catalogue.c.id).where(
            self.mine, sa.func.lower(catalogue.c.code) == str(code).lower()
        )
        with self.engine.connect() as connection:
            return connection.execute(query).scalar()
