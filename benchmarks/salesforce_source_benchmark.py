"""Salesforce source reads against the in-process org: 100,000 Users by REST paging, 1,000,000 by Bulk 2.0.

`python -m benchmarks.salesforce_source_benchmark [--rest N] [--bulk N]` prints a Markdown table: rows
per second of the whole read (login, describe, COUNT(), every page, the table built) and the calls it
made. The fake answers in-process, so the figures measure RosterSync and simple-salesforce plus the
fake's own rendering of JSON / CSV, not Salesforce's servers or the network.
"""

from __future__ import annotations

import argparse
import time
from types import SimpleNamespace

import numpy as np
import pandas as pd

from rostersync_pipelines import http
from rostersync_pipelines.config_sources import SalesforceSource
from rostersync_pipelines.sources import salesforce
from rostersync_pipelines_tests.fakes.salesforce import FakeSalesforce

COLUMNS = ["Id", "Username", "Email", "FirstName", "LastName", "Department", "Manager.Username", "IsActive"]


def org_with_users(count: int) -> FakeSalesforce:
    fake = FakeSalesforce()
    fake.logins.clients["bench-client"] = "bench-secret"
    numbers = np.arange(count)
    ids = np.char.add(np.char.add("005", np.char.zfill(numbers.astype(str), 12)), "AAA").astype(object)
    logins = np.char.add(np.char.add("user", numbers.astype(str)), "@acme.com").astype(object)
    managers = ids[np.where(numbers < 100, 0, numbers % 100)]
    managers[0] = None
    users = pd.DataFrame(
        {
            "Id": ids,
            "Username": logins,
            "Email": logins,
            "FirstName": "Ada",
            "LastName": np.char.add("Person", numbers.astype(str)).astype(object),
            "Department": np.array(["Sales", "Engineering", "Support", "Finance"], dtype=object)[numbers % 4],
            "IsActive": numbers % 10 != 0,
            "ManagerId": managers,
        },
        dtype=object,
    )
    fake.org.insert("User", users)
    return fake


def measure(count: int, bulk: bool) -> dict:
    fake = org_with_users(count)
    spec = SalesforceSource.model_validate(
        {
            "kind": "salesforce",
            "instance_url": fake.instance_url,
            "object": "User",
            "auth": {"client_id": "bench-client", "client_secret": "bench-secret"},
            "bulk_above": 0 if bulk else count,
        }
    )
    context = SimpleNamespace(
        source_name="users",
        sync_name="bench",
        sync=SimpleNamespace(rules=[]),
        session=None,
        deadline=None,
        columns=COLUMNS,
    )
    salesforce.BULK_POLL_SECONDS = 0  # the fake's job is done at once; a real one is polled every second
    with http.extra_transports(fake.mounts()):
        started = time.perf_counter()
        frame = salesforce.read(spec, context)
        seconds = time.perf_counter() - started
    assert len(frame) == count and frame["Manager.Username"].notna().sum() == count - 1
    pages = sum(1 for call in fake.calls if "/query/01g" in call["path"] or call["path"].endswith("/results"))
    pages += 0 if bulk else 1  # the first REST page answers the query itself
    return {
        "path": "Bulk 2.0" if bulk else "REST paging",
        "rows": count,
        "seconds": seconds,
        "pages": pages,
        "data_calls": fake.data_calls(),
        "all_calls": len(fake.calls),
    }


def table(results: list[dict]) -> str:
    lines = [
        "| path | rows | seconds | rows/s | result pages | API calls (data) | + token | calls per 1,000 rows |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['path']} | {r['rows']:,} | {r['seconds']:.2f} | {r['rows'] / r['seconds']:,.0f} | {r['pages']} "
            f"| {r['data_calls']} | {r['all_calls'] - r['data_calls']} "
            f"| {r['all_calls'] / (r['rows'] / 1000):.3f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rest", type=int, default=100_000, help="users read by REST paging")
    parser.add_argument("--bulk", type=int, default=1_000_000, help="users read by Bulk API 2.0")
    args = parser.parse_args(argv)
    results = [measure(args.rest, bulk=False), measure(args.bulk, bulk=True)]
    print(table(results))
    print(
        "\nREST: data calls = describe + COUNT() + pages; Bulk 2.0: describe + COUNT() + create job + polls + "
        "result sets. The token call is the login (not counted against the org's API limit)."
    )


if __name__ == "__main__":
    main()
