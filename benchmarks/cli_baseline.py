"""The baseline of the whole-process table: one process that reads the users CSV and the LMS `users` table
with pandas and outer-merges them on login. Anything a sync does costs at least this.

    python -m benchmarks.cli_baseline USERS_CSV LMS_DB
"""

from __future__ import annotations

import sqlite3
import sys

import pandas as pd


def main(users_csv: str, lms_db: str) -> None:
    source = pd.read_csv(users_csv, dtype=str, keep_default_na=False)
    with sqlite3.connect(lms_db) as connection:
        lms = pd.read_sql("SELECT * FROM users", connection)
    merged = pd.merge(source, lms, left_on="Login", right_on="login", how="outer", indicator=True)
    print(merged["_merge"].value_counts().to_dict())


if __name__ == "__main__":
    main(*sys.argv[1:3])
