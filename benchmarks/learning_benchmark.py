"""Learning delivery speed: 100,000 course-progress records to the Salesforce fake, by sObject Collections and
by Bulk API 2.0 (API calls per 1,000 records; goals 5 and "a handful"), and the time to decide what changed
when 1,000,000 records were already delivered (goal: seconds).

Learners are linked to their Salesforce Users through the roster sync's link table, so no email lookups
are made. The million-record step hashes a synthetic table of a million records shaped as the reader
shapes them, reads the million stored fingerprints and compares them (reading the LMS itself is timed
apart, on the 100,000 records).

    .venv/bin/python -m benchmarks.learning_benchmark [--records 100000] [--delivered 1000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from rostersync_pipelines import http
from rostersync_pipelines.config import load_config
from rostersync_pipelines.learning import delivery, records, salesforce_bulk
from rostersync_pipelines.learning.hashes import changed_mask, content_hashes
from rostersync_pipelines.learning.kinds import KINDS, fingerprint_columns
from rostersync_pipelines.state import StateStore
from rostersync_pipelines.state.deliveries import Deliveries
from rostersync_pipelines.state.tables import learning_deliveries
from rostersync_pipelines.targets import embedded_schema as lms
from rostersync_pipelines.transform.identity import folded
from rostersync_pipelines_tests import learning_fixtures as fixtures

LEARNERS = 10_000
DAY = dt.date(2026, 3, 1)


class _Env:
    def setenv(self, name, value):
        os.environ[name] = value


def workspace(folder: Path, n_records: int, bulk_above: int):
    org = fixtures.org_with_people(LEARNERS)
    ids = org.org.objects["User"].frame["Id"].tolist()
    config_file = fixtures.write_config(
        folder, _Env(), fixtures.salesforce_destination(bulk_above), "salesforce"
    )
    fixtures.add_learners(config_file, LEARNERS, keys=ids)
    per = n_records // LEARNERS
    rows = [
        {"user_id": u + 1, "course_id": f"C{c}", "course_name": f"Course {c}", "status": "completed",
         "completion_percent": 100.0, "time_spent_seconds": 600 + c, "score": 70.0 + c,
         "updated_at": dt.datetime(2026, 3, 1, 8) + dt.timedelta(seconds=u)}
        for u in range(LEARNERS) for c in range(per)
    ]  # fmt: skip
    fixtures.execute(config_file, lambda c: c.execute(lms.course_progress.insert(), rows))
    config = load_config(config_file)
    store = StateStore(config.resolve_url(config.state.url))
    links = pd.Series([str(n + 1) for n in range(LEARNERS)], index=folded(pd.Series(ids)).to_numpy())
    store.write_links("employees", "users", links)
    return org, config, store


def deliver_once(n_records: int, bulk_above: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        org, config, store = workspace(Path(folder), n_records, bulk_above)
        started = time.perf_counter()
        found = records.read(config, "employees", DAY, DAY)
        read_s = time.perf_counter() - started
        before = org.data_calls()
        with http.extra_transports(org.mounts()):
            started = time.perf_counter()
            report = delivery.deliver(config, "employees", found, store)
            deliver_s = time.perf_counter() - started
            calls = org.data_calls() - before
            started = time.perf_counter()
            again = delivery.deliver(config, "employees", found, store)
            again_s = time.perf_counter() - started
        store.dispose()
    assert report.summary()["written"] == n_records, report.summary()
    return {
        "path": "Bulk API 2.0" if n_records > bulk_above else "sObject Collections",
        "records": n_records, "read_s": read_s, "deliver_s": deliver_s, "api_calls": calls,
        "per_1000": calls / n_records * 1000, "second_run_s": again_s, "second_run_writes": again.calls,
    }  # fmt: skip


def decide(n: int) -> dict:
    kind = KINDS["course_progress"]
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "external_id": [f"employees:progress:{u}:C{c}" for u in range(n // 10) for c in range(10)],
            "salesforce_user_id": [f"005{u:012d}AAA" for u in range(n // 10) for _ in range(10)],
            "salesforce_contact_id": None,
            "lms_user_id": [str(u) for u in range(n // 10) for _ in range(10)],
            "course_id": [f"C{c}" for _ in range(n // 10) for c in range(10)],
            "course_name": "Course",
            "status": "completed",
            "completion_percent": rng.integers(0, 101, n).astype(float),
            "time_spent_seconds": rng.integers(60, 9000, n),
            "enrolled_at": "2026-02-01T08:00:00.000Z",
            "completed_at": "2026-03-01T08:00:00.000Z",
            "score": rng.integers(50, 101, n).astype(float),
        }  # fmt: skip
    ).astype(object)
    with tempfile.TemporaryDirectory() as folder:
        store = StateStore(f"sqlite:///{folder}/state.db")
        hashes = content_hashes(frame, fingerprint_columns(kind))
        rows = pd.DataFrame({"external_id": frame["external_id"], "content_hash": hashes})
        rows = rows.assign(sync="employees", destination="https://acme.my.salesforce.com", kind=kind.name,
                           day="2026-03-01", status="delivered", attempted_at=dt.datetime(2026, 3, 1))  # fmt: skip
        with store.engine.begin() as connection:
            records_ = rows.to_dict("records")
            for start in range(0, n, 50_000):
                connection.execute(learning_deliveries.insert(), records_[start : start + 50_000])
        frame.loc[frame.index[::1000], "score"] = 1.0  # one record in a thousand changed since
        started, cpu = time.perf_counter(), time.process_time()
        known = Deliveries(store.engine).fingerprints(
            "employees", "https://acme.my.salesforce.com", kind.name
        )
        read_s = time.perf_counter() - started
        current = content_hashes(frame, fingerprint_columns(kind))
        hash_s = time.perf_counter() - started - read_s
        changed = changed_mask(current, frame["external_id"], known)
        total_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu
        store.dispose()
    assert int(changed.sum()) == n // 1000
    return {
        "records": n,
        "changed": int(changed.sum()),
        "read_fingerprints_s": read_s,
        "hash_s": hash_s,
        "total_s": total_s,
        "cpu_s": cpu_s,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--delivered", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    salesforce_bulk.BULK_POLL_SECONDS = 0.05
    results = [deliver_once(args.records, args.records * 10), deliver_once(args.records, args.records // 10)]
    print(f"## Learning delivery: {args.records:,} course-progress records to the Salesforce fake\n")
    print(
        "| path | read LMS s | deliver s | API calls | calls per 1,000 | second run s | second run writes |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['path']} | {r['read_s']:.2f} | {r['deliver_s']:.2f} | {r['api_calls']} | {r['per_1000']:.2f} "
              f"| {r['second_run_s']:.2f} | {r['second_run_writes']} |")  # fmt: skip
    decided = decide(args.delivered)
    print(f"\n## Deciding what changed, {decided['records']:,} records already delivered\n")
    print("| read fingerprints s | hash records s | total s | CPU s | changed found |")
    print("|---|---|---|---|---|")
    print(
        f"| {decided['read_fingerprints_s']:.2f} | {decided['hash_s']:.2f} | {decided['total_s']:.2f} | {decided['cpu_s']:.2f} | {decided['changed']:,} |"
    )
    collections, bulk = results
    goals = [
        (f"collections: {collections['per_1000']:.1f} calls per 1,000 records (goal 5)", collections["per_1000"] <= 5.01),
        (f"bulk: {bulk['per_1000']:.2f} calls per 1,000 records (goal: a handful)", bulk["per_1000"] <= 1),
        (f"deciding for {decided['records']:,}: {decided['total_s']:.1f} s (goal: seconds)", decided["total_s"] < 10),
    ]  # fmt: skip
    print()
    for text, ok in goals:
        print(f"- {'met' if ok else 'MISSED'}: {text}")
    return 0 if all(ok for _, ok in goals) else 1


if __name__ == "__main__":
    raise SystemExit(main())
