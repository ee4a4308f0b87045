"""TalentLMS apply speed: N changes through the real apply engine against the fake portal.

The portal adds 20 ms to every call and enforces 200 calls per 5 s (429 past it, no Retry-After, as v1
does). The engine paces with its token bucket and `concurrency` threads; we report throughput as a share
of the limit, API calls per change, and the write calls of a second demo sync that has nothing to do.

    .venv/bin/python -m benchmarks.talentlms_benchmark [--changes 10000]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import tempfile
import time
from pathlib import Path

import pandas as pd
from wsgiadapter import WSGIAdapter

from rostersync_pipelines import cli, http
from rostersync_pipelines.apply import Applier
from rostersync_pipelines.config_targets import RateLimit
from rostersync_pipelines.reconcile.rows import plan_frame
from rostersync_pipelines.state import StateStore
from rostersync_pipelines.targets.talentlms import TalentLms
from rostersync_pipelines.targets.talentlms_client import TalentLmsClient
from rostersync_pipelines_tests.fakes.talentlms import FakeTalentLms

URL, KEY = "https://acme.talentlms.com", "bench-key"
LIMIT = RateLimit(calls=200, per_seconds=5)


def seeded_portal(people: int) -> tuple[FakeTalentLms, list[str], str]:
    portal = FakeTalentLms(
        api_key=KEY, custom_fields=[("job_title", False)], rate_limit=(LIMIT.calls, LIMIT.per_seconds)
    )
    ids = [portal.add_user(f"user{n}", f"user{n}@acme.example", "First", f"Last{n}") for n in range(people)]
    group = portal.add_group("Mentors", "mentors-key")
    return portal, ids, group


def changes_for(ids: list[str], group: str) -> pd.DataFrame:
    """A sync's usual mix: profile edits, deactivations and group joins, one API call each."""
    n = len(ids)
    third = n // 3
    entity = ["users"] * (2 * third) + ["groups"] * (n - 2 * third)
    action = ["update"] * third + ["deactivate"] * third + ["add_member"] * (n - 2 * third)
    values = (
        [{"last_name": f"Renamed{i}", "custom_fields": {"job_title": "Analyst"}} for i in range(third)]
        + [{"status": "inactive"} for _ in range(third)]
        + [{"user_id": user_id} for user_id in ids[2 * third :]]
    )
    lms_id = ids[: 2 * third] + [group] * (n - 2 * third)
    frame = plan_frame(
        entity=entity,
        action=action,
        situation=["linked"] * n,
        key=[f"k{i}" for i in range(n)],
        lms_id=lms_id,
        values=values,
        reason=["bench"] * n,
    )
    frame["seq"] = range(len(frame))
    return frame.set_index("seq", drop=False)


def apply_changes(count: int, latency: float, concurrency: int) -> dict:
    portal, ids, group = seeded_portal(count)
    portal.latency = latency
    folder = Path(tempfile.mkdtemp())
    store = StateStore(f"sqlite:///{folder / 'state.db'}")
    plan = changes_for(ids, group)
    store.save_plan("bench", "bench", plan, {}, {}, str(folder / "plan.csv"))
    with http.extra_transports({URL: WSGIAdapter(portal)}):
        target = TalentLms(TalentLmsClient(URL, KEY))
        applier = Applier(target, store.journal, "bench", "bench", rate_limit=LIMIT, concurrency=concurrency)
        started = time.monotonic()
        result = applier.run(store.plan_changes("bench").set_index("seq", drop=False))
        elapsed = time.monotonic() - started
    calls = sum(portal.calls.values())
    store.dispose()
    applied = sum(result.applied.values())
    return {
        "changes": count,
        "applied": applied,
        "failed": len(result.failed),
        "seconds": round(elapsed, 1),
        "calls_per_second": round(calls / elapsed, 2),
        "share_of_limit": round(calls / elapsed / (LIMIT.calls / LIMIT.per_seconds), 3),
        "api_calls_per_change": round(calls / max(applied, 1), 4),
        "answered_429": portal.throttled,
    }


def idle_sync_writes() -> int:
    """Sync the demo roster twice through the CLI; the second sync's write calls (goal 0)."""
    from rostersync_pipelines_tests.test_talentlms import FIELDS, write_config

    folder = Path(tempfile.mkdtemp())
    os.environ["DAGSTER_HOME"] = str(folder / "dagster_home")
    os.environ["TALENTLMS_API_KEY"] = KEY
    portal = FakeTalentLms(api_key=KEY, custom_fields=FIELDS, rate_limit=(2000, 5.0))
    config = write_config(folder)
    with http.extra_transports({URL: WSGIAdapter(portal)}), contextlib.redirect_stdout(io.StringIO()):
        cli.main(["--config", str(config), "sync", "--json"])
        before = portal.write_calls()
        cli.main(["--config", str(config), "sync", "--json"])
    return portal.write_calls() - before


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.020)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    figures = apply_changes(args.changes, args.latency, args.concurrency)
    figures["idle_sync_write_calls"] = idle_sync_writes()
    print(json.dumps(figures, indent=2))
    print("| changes | seconds | share of limit | calls/change | 429s | idle-sync writes |")
    print(
        f"| {figures['changes']} | {figures['seconds']} | {figures['share_of_limit']:.1%} | "
        f"{figures['api_calls_per_change']} | {figures['answered_429']} | {figures['idle_sync_write_calls']} |"
    )


if __name__ == "__main__":
    main()
