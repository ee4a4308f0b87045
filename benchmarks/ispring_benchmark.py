"""Apply N changes to the iSpring fake, 20 ms per call, under a rate limit the fake itself enforces.

    python -m benchmarks.ispring_benchmark                       # 10,000 changes at 100 calls/s
    python -m benchmarks.ispring_benchmark --changes 2000 --calls 10 --per-seconds 1   # iSpring's default

Two syncs of a generated roster through the real steps (read, normalize, plan, apply; no Dagster): the
first creates N users (no manual supervisor, so one call each) in 10 departments, the second has nothing
to do. Printed: throughput as a share of the limit (goal >= 90 %), API calls per change (goal <= 1.05),
write calls of the second sync (goal 0), and the 429s the fake had to send.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import yaml
from wsgiadapter import WSGIAdapter

from rostersync_pipelines import http, steps
from rostersync_pipelines.config import load_config
from rostersync_pipelines_tests.fakes.ispring import IspringFake

HOST = "https://api-learn.ispringlearn.com"
DEPARTMENTS = 10


def write_inputs(folder: Path, users: int, calls: int, per_seconds: float) -> Path:
    with open(folder / "departments.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Code", "Name", "ParentCode"])
        writer.writerows([f"D{n}", f"Department {n}", ""] for n in range(DEPARTMENTS))
    with open(folder / "users.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Login", "Email", "FirstName", "LastName", "DepartmentCode"])
        writer.writerows(
            [f"user{n}", f"user{n}@example.com", "Ann", f"Person{n}", f"D{n % DEPARTMENTS}"]
            for n in range(users)
        )
    config = {
        "state": {"url": f"sqlite:///{folder / 'state.db'}", "plans_dir": str(folder / "plans")},
        "syncs": {
            "bench": {
                "sources": {
                    "users": {"kind": "file", "path": str(folder / "users.csv")},
                    "departments": {"kind": "file", "path": str(folder / "departments.csv")},
                },
                "fields": {
                    "users": {
                        "login": "Login",
                        "email": "Email",
                        "first_name": "FirstName",
                        "last_name": "LastName",
                        "department": "DepartmentCode",
                    },
                    "departments": {"code": "Code", "name": "Name", "parent": "ParentCode"},
                },  # fmt: skip
                "target": {
                    "kind": "ispring",
                    "url": HOST,
                    "client_id": "ispring-client-id",
                    "client_secret": "ispring-client-secret",
                    "rate_limit": {"calls": calls, "per_seconds": per_seconds},
                },  # fmt: skip
            }
        },
    }
    path = folder / "rostersync.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def one_sync(config_path: Path) -> dict:
    config = load_config(config_path)
    sources = steps.read_sources(config, "bench")
    planned = steps.plan_sync(config, "bench", sources, steps.canonicalize(sources, config.syncs["bench"]))
    changes = int((planned.plan["action"] != "none").sum())
    started = time.monotonic()
    steps.apply_sync(config, "bench", planned.plan_id, sources)
    return {"changes": changes, "apply_s": time.monotonic() - started}


def run(users: int, calls: int, per_seconds: float, latency: float) -> dict:
    fake = IspringFake(latency=latency, rate_limit=(calls, per_seconds))
    with (
        tempfile.TemporaryDirectory(prefix="rostersync-ispring-bench-") as tmp,
        http.extra_transports({HOST: WSGIAdapter(fake)}),
    ):
        config_path = write_inputs(Path(tmp), users, calls, per_seconds)
        before = len(fake.calls)
        first = one_sync(config_path)
        # the calls the apply made: the plan's own read (3 GETs per 1,000 records) is not apply traffic
        apply_calls = [c for c in fake.calls[before:] if c[1] != "/api/v3/token"]
        writes_before = len(fake.write_calls())
        second = one_sync(config_path)
    limit = calls / per_seconds
    applied = [c for c in apply_calls if c[0] != "GET" and c[2] < 400]
    return {
        "changes": first["changes"],
        "apply_s": round(first["apply_s"], 1),
        "throughput_share": round(len(applied) / first["apply_s"] / limit, 3),
        "calls_per_change": round(len(applied) / first["changes"], 3),
        "throttled_429": sum(1 for c in fake.calls if c[2] == 429),
        "second_sync_changes": second["changes"],
        "second_sync_write_calls": len(fake.write_calls()) - writes_before,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=10_000, help="users to create (plus 10 departments)")
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--per-seconds", type=float, default=1.0)
    parser.add_argument("--latency", type=float, default=0.02)
    args = parser.parse_args()
    result = run(args.changes - DEPARTMENTS, args.calls, args.per_seconds, args.latency)
    print("| changes | limit | apply s | throughput / limit | calls / change | 429s | 2nd sync writes |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {result['changes']:,} | {args.calls}/{args.per_seconds:g}s | {result['apply_s']} "
        f"| {result['throughput_share']:.1%} | {result['calls_per_change']} | {result['throttled_429']} "
        f"| {result['second_sync_write_calls']} |"
    )


if __name__ == "__main__":
    main()
