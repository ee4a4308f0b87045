"""One folder a user would have: rostersync.yaml, the generated CSVs, the state and embedded LMS databases.

The whole-process benchmark runs the installed `rostersync` command in it, exactly as a person would. The
generator's LMS state is a pickle; `load_lms` writes it into an embedded LMS database with the schema the
product uses, so `plan` meets a real LMS of a million people that differs from the source by 1%.
"""

from __future__ import annotations

import json
import pickle
import sqlite3
from pathlib import Path

import yaml

from benchmarks.dataset import Files, config
from rostersync_pipelines.targets.embedded import EmbeddedLms
from rostersync_pipelines.targets.embedded_schema import STATE_TABLES

SYNC = "bench"


def write_config(files: Files, folder: Path, lms_db: Path, state_db: Path) -> Path:
    """The benchmark's sync (the demo mapping and rules) as the YAML a person writes."""
    raw = config(files).model_dump(mode="json", exclude_defaults=True)
    raw["syncs"][SYNC]["target"] = {"kind": "embedded", "url": f"sqlite:///{lms_db}"}
    raw["state"] = {"url": f"sqlite:///{state_db}", "plans_dir": str(folder / "plans")}
    path = folder / f"{lms_db.stem}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def load_lms(files: Files, lms_db: Path) -> None:
    """The generated LmsState into an embedded LMS database (ids kept), in one transaction per table."""
    with files.lms.open("rb") as handle:
        state = pickle.load(handle)["lms"]
    EmbeddedLms(f"sqlite:///{lms_db}").dispose()  # the product's own schema and indexes
    connection = sqlite3.connect(lms_db)
    try:
        connection.execute("PRAGMA foreign_keys=OFF")
        for name in ("departments", "users", "groups", "group_members"):
            frame = getattr(state, name)
            columns = list(STATE_TABLES[name][1])
            if name == "users":
                frame = frame.assign(
                    custom_fields=[
                        None if v is None else json.dumps(v, sort_keys=True) for v in frame["custom_fields"]
                    ]
                )
            marks = ", ".join("?" for _ in columns)
            connection.executemany(
                f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({marks})",
                frame[columns].itertuples(index=False, name=None),
            )
        connection.commit()
    finally:
        connection.close()
