"""Entra ID source speed: 100,000 users read in full by `/users/delta`, then a delta of 1% changes.

    python -m benchmarks.entra_benchmark              # 100,000 users, two scope groups
    python -m benchmarks.entra_benchmark --users 20000

Graph is the in-process fake (Graph's page cap of 200 users, 999 group members per page), so the times
are RosterSync's own work plus the fake's; the fake's share is measured and shown apart. Network latency
is not in them: at ~100 ms per real Graph call, add calls x 0.1 s. Writes results/entra_benchmark.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from wsgiadapter import WSGIAdapter

from rostersync_pipelines import http
from rostersync_pipelines.config import Config
from rostersync_pipelines.sources import SourceContext, entra
from rostersync_pipelines.state import StateStore
from rostersync_pipelines_tests.fakes.graph import CLIENT_ID, CLIENT_SECRET, TENANT_ID, FakeGraph

RESULTS = Path(__file__).resolve().parent / "results"
FIELDS = {
    "user_unique_key": "id",
    "login": "userPrincipalName",
    "email": "mail",
    "first_name": "givenName",
    "last_name": "surname",
    "department": "department",
    "manager": "manager.userPrincipalName",
    "status": "accountEnabled",
    "groups": "groups",
    "custom": {"employee_id": "employeeId", "title": "jobTitle"},
}


class Timed:
    """The fake behind a stopwatch, so its share of each read can be taken out."""

    def __init__(self, app):
        self.app, self.seconds = app, 0.0

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        try:
            return self.app(environ, start_response)
        finally:
            self.seconds += time.perf_counter() - started


def tenant(n: int) -> FakeGraph:
    fake = FakeGraph(max_page_size=200)
    ids = []
    for i in range(n):
        manager = ids[(i - 1) // 10] if i else None  # a tree ten wide
        ids.append(
            fake.add_user(
                manager=manager,
                userPrincipalName=f"user{i:06d}@contoso.com",
                mail=f"user{i:06d}@contoso.com",
                givenName=f"Given{i}",
                surname=f"Surname{i}",
                department=f"Dept {i % 120:03d}",
                employeeId=f"E{i:06d}",
                jobTitle=("Engineer", "Analyst", "Manager", "Seller")[i % 4],
                accountEnabled=i % 50 != 0,
            )
        )
    fake.add_group("Sales", ids[: n // 2])
    fake.add_group("Engineering", ids[n // 2 :])
    fake.ids = ids
    return fake


def config(folder: Path) -> Config:
    source = {
        "kind": "entra_id",
        "tenant_id": TENANT_ID,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    raw = {
        "state": {"url": f"sqlite:///{folder / 'state.db'}"},
        "syncs": {
            "staff": {
                "sources": {"users": {**source, "groups": ["Sales", "Engineering"]}},
                "fields": {"users": FIELDS},
                "target": {"kind": "embedded", "url": f"sqlite:///{folder / 'lms.db'}"},
            }
        },
    }
    return Config.model_validate(raw)


def one_read(fake: FakeGraph, timed: Timed, cfg: Config, store: StateStore, label: str) -> dict:
    sync = cfg.syncs["staff"]
    context = SourceContext("users", "staff", sync, cfg, None, store.cursors("staff", "users"), None)
    calls_before, fake_before = len(fake.calls), timed.seconds
    deltas_before = len(fake.delta_requests())
    started = time.perf_counter()
    frame = entra.read(sync.sources["users"], context)
    seconds = time.perf_counter() - started
    graph_calls = sum(1 for host, _, _ in fake.calls[calls_before:] if host == fake.graph_host)
    delta_calls = len(fake.delta_requests()) - deltas_before
    fake_seconds = timed.seconds - fake_before
    changed = getattr(fake, "changed_rows", len(frame))
    return {
        "read": label,
        "rows": len(frame),
        "changed_rows": changed,
        "seconds": round(seconds, 3),
        "fake_seconds": round(fake_seconds, 3),
        "rows_per_second": round(len(frame) / seconds),
        "rows_per_second_without_fake": round(len(frame) / max(seconds - fake_seconds, 1e-9)),
        "graph_calls": graph_calls,
        "delta_calls": delta_calls,
        "calls_per_1000_rows": round(graph_calls / len(frame) * 1000, 2),
        "delta_calls_per_1000_changed": round(delta_calls / max(changed, 1) * 1000, 2),
        "picture_mb": round(len(store.cursors("staff", "users").get("picture") or "") / 1e6, 2),
    }


def run(n: int) -> list[dict]:
    print(f"building a tenant of {n:,} users ...", flush=True)
    fake = tenant(n)
    timed = Timed(fake)
    adapter = WSGIAdapter(timed)
    mounts = {f"https://{fake.login_host}": adapter, f"https://{fake.graph_host}": adapter}
    results = []
    with tempfile.TemporaryDirectory(prefix="rostersync-entra-") as tmp, http.extra_transports(mounts):
        cfg = config(Path(tmp))
        store = StateStore(cfg.state.url)
        try:
            results.append(one_read(fake, timed, cfg, store, "full"))
            changed = fake.ids[::100]  # 1%: department moves, every tenth also a renamed UPN
            for i, user_id in enumerate(changed):
                properties = {"department": "Dept moved"}
                if i % 10 == 0:
                    properties["userPrincipalName"] = f"renamed{i:06d}@contoso.com"
                fake.update_user(user_id, **properties)
            fake.changed_rows = len(changed)
            results.append(one_read(fake, timed, cfg, store, "delta 1%"))
        finally:
            store.dispose()
    return results


def render(results: list[dict]) -> str:
    header = (
        f"{'read':<9} {'rows':>8} {'seconds':>8} {'fake s':>7} {'rows/s':>9} {'rows/s*':>9} "
        f"{'calls':>6} {'calls/1k rows':>14} {'delta calls/1k changed':>23} {'picture MB':>11}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        lines.append(
            f"{r['read']:<9} {r['rows']:>8,} {r['seconds']:>8.2f} {r['fake_seconds']:>7.2f} "
            f"{r['rows_per_second']:>9,} {r['rows_per_second_without_fake']:>9,} {r['graph_calls']:>6} "
            f"{r['calls_per_1000_rows']:>14} {r['delta_calls_per_1000_changed']:>23} {r['picture_mb']:>11}"
        )
    lines.append("rows/s* = without the fake's own time; calls = Graph calls (token calls not counted)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    args = parser.parse_args(argv)
    results = run(args.users)
    print(render(results))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / (
        "entra_benchmark.json" if args.users == 100_000 else f"entra_benchmark_{args.users}.json"
    )
    out.write_text(json.dumps({"users": args.users, "results": results}, indent=2))
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
