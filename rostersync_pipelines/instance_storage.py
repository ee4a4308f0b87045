"""Where a dagster.yaml keeps its storage, and whether its PostgreSQL URLs can work here, read without Dagster.

The rostersync CLI must use a user's instance as it is: a home whose storage is PostgreSQL needs no file
lock and no marker in the folder (it may be a read-only mount), only a URL that dagster-postgres 0.29 can
use. With SQLAlchemy 2.1 that means the psycopg2 driver spelled out: `postgresql://` and
`postgresql+psycopg://` run on psycopg 3, whose connections dagster-postgres closes in the webserver (its
statement-timeout hook uses `with connection:`, which closes a psycopg 3 connection) and whose errors its
retry of two first starts does not recognise (it reads psycopg2's `pgcode`); dagster issue 33958. The check
names the setting and the scheme only, never the URL: it holds the password.
"""

from __future__ import annotations

from collections.abc import Mapping

WORKING_SCHEME = "postgresql+psycopg2"
EXAMPLE = f"{WORKING_SCHEME}://USER:PASSWORD@HOST:5432/DATABASE"
SPLIT_STORAGES = ("run_storage", "event_log_storage", "schedule_storage")
PSYCOPG3 = (
    "SQLAlchemy 2.1 runs it on psycopg 3, which dagster-postgres 0.29 does not support (the webserver's "
    "connections are closed as they open; two first starts at once fail; dagster issue 33958)"
)
WHY = {
    "postgres": "SQLAlchemy has no dialect named postgres",
    "postgresql": PSYCOPG3,
    "postgresql+psycopg": PSYCOPG3,
}


def postgres_blocks(instance: Mapping) -> dict[str, Mapping]:
    """The config block (`postgres_url` or `postgres_db`) of each storage kept in PostgreSQL, by setting."""
    blocks: dict[str, Mapping] = {}
    storage = instance.get("storage")
    if isinstance(storage, Mapping) and isinstance(storage.get("postgres"), Mapping):
        blocks["storage.postgres"] = storage["postgres"]
    for name in SPLIT_STORAGES:
        entry = instance.get(name)
        if isinstance(entry, Mapping) and str(entry.get("module", "")).startswith("dagster_postgres"):
            blocks[f"{name}.config"] = entry.get("config") or {}
    return blocks


def _resolve(value, setting: str, environ: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(value, problem): Dagster's `{env: NAME}` read from the environment."""
    if isinstance(value, Mapping) and "env" in value:
        name = str(value["env"])
        if environ.get(name) is None:
            return None, f"{setting} comes from the environment variable {name}, which is not set"
        return environ[name], None
    return (None, f"{setting} is missing") if value is None else (str(value), None)


def scheme_problems(instance: Mapping, environ: Mapping[str, str]) -> list[str]:
    """One sentence per PostgreSQL storage whose URL cannot work with dagster-postgres here."""
    problems = []
    for where, block in postgres_blocks(instance).items():
        if "postgres_url" in block:
            setting = f"{where}.postgres_url"
            url, problem = _resolve(block["postgres_url"], setting, environ)
            if problem is None and "://" not in url:
                problem = f"{setting} is not a URL like {EXAMPLE}"
            scheme = url.partition("://")[0] if problem is None else None
        else:
            setting = f"{where}.postgres_db.scheme"
            database = block.get("postgres_db") or {}
            scheme, problem = _resolve(database.get("scheme", "postgresql"), setting, environ)
        if problem is None and scheme != WORKING_SCHEME:
            why = WHY.get(scheme, "dagster-postgres 0.29 works here with the psycopg2 driver only")
            problem = f"{setting} uses {scheme}://, but {why}; use {WORKING_SCHEME}:// ({EXAMPLE})"
        if problem:
            problems.append(problem)
    return problems
