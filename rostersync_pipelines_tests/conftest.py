"""Shared fixtures: where the real-world samples live and a PostgreSQL database per test when one answers."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

REPO = Path(__file__).resolve().parent.parent
REALWORLD = REPO.parent / "shared" / "realworld"
POSTGRES_SERVER_URL = os.environ.get(
    "ROSTERSYNC_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_reason() -> str | None:
    try:
        engine = sa.create_engine(POSTGRES_SERVER_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(sa.text("select 1"))
        engine.dispose()
        return None
    except Exception as error:  # any failure to connect means "no server here"
        return f"no PostgreSQL server answers at {POSTGRES_SERVER_URL}: {type(error).__name__}"


_POSTGRES_SKIP = _postgres_reason()


@pytest.fixture
def realworld() -> Path:
    if not REALWORLD.is_dir():
        pytest.skip(f"the real-world samples are not beside the repo at {REALWORLD}")
    return REALWORLD


@pytest.fixture
def postgres_url() -> str:
    """A fresh schema in the `test` database, dropped afterwards, so tests never see each other's tables."""
    if _POSTGRES_SKIP:
        pytest.skip(_POSTGRES_SKIP)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(POSTGRES_SERVER_URL)
    with engine.begin() as connection:
        connection.execute(sa.text(f'create schema "{schema}"'))
    url = f"{POSTGRES_SERVER_URL}?options=-csearch_path%3D{schema}"
    yield url
    with engine.begin() as connection:
        connection.execute(sa.text(f'drop schema "{schema}" cascade'))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """Every database-backed test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db.sqlite'}"
    return request.getfixturevalue("postgres_url")
