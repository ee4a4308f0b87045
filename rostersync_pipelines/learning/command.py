"""`rostersync learning-sync --from DAY --to DAY`: deliver a range of days as one run of `<sync>_learning_job`.

The same in-process run as `rostersync sync` (it shows in the UI under DAGSTER_HOME). Exits 0 when every
record of the range was delivered or unchanged; 1 when some were refused (each printed with Salesforce's
reason, kept for the next run) or the org's request limit stopped the delivery.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys

from rostersync_pipelines.errors import RosterSyncError

SHOWN_FAILURES = 10


def add_command(commands, shared: argparse.ArgumentParser) -> None:
    command = commands.add_parser(
        "learning-sync", help="deliver learning records updated in a range of days", parents=[shared]
    )
    command.add_argument("--from", dest="first_day", required=True, help="first day, YYYY-MM-DD")
    command.add_argument("--to", dest="last_day", required=True, help="last day, YYYY-MM-DD (included)")
    command.add_argument("--sync", action="append", help="only this sync (repeatable; default: all)")
    command.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def learning_sync(config, args: argparse.Namespace) -> int:
    from dagster import DagsterInstance

    from rostersync_pipelines.cli import QUIET_RUN, _user_failure
    from rostersync_pipelines.config import CONFIG_ENV, config_path
    from rostersync_pipelines.dagster_home import prepare_home
    from rostersync_pipelines.defs.build import build_definitions
    from rostersync_pipelines.defs.learning import FIRST_DAY, learning_job_name, range_tags

    first, last = _day(args.first_day, "--from"), _day(args.last_day, "--to")
    if first > last:
        raise RosterSyncError(f"--from {first} is after --to {last}; give the earlier day first")
    if first.isoformat() < FIRST_DAY or last > dt.datetime.now(dt.UTC).date():
        raise RosterSyncError(f"days run from {FIRST_DAY} to today (UTC); {first} .. {last} is outside")
    names = args.sync or list(config.syncs)
    unknown = [name for name in names if name not in config.syncs]
    if unknown:
        raise RosterSyncError(f"no sync named '{unknown[0]}'; the config has: {', '.join(config.syncs)}")
    os.environ[CONFIG_ENV] = str(config_path(args.config).resolve())
    prepare_home()
    defs = build_definitions(config)
    summaries, problems = {}, []
    with DagsterInstance.get() as instance:
        for name in names:
            result = defs.resolve_job_def(learning_job_name(name)).execute_in_process(
                instance=instance,
                run_config=QUIET_RUN,
                raise_on_error=False,
                tags=range_tags(first.isoformat(), last.isoformat()),
            )
            failure = _user_failure(result)
            if failure:
                problems.append(f"sync {name}: {failure}")
                continue
            summary = _summary(result, name) | {
                "sync": name,
                "from": first.isoformat(),
                "to": last.isoformat(),
            }
            summaries[name] = summary
            if summary["stopped"]:
                problems.append(f"sync {name}: {summary['stopped']}")
            elif summary["failed"]:
                problems.append(
                    f"sync {name}: {summary['failed']} learning records refused; sent again next run"
                )
    if args.json:
        print(json.dumps(next(iter(summaries.values())) if len(summaries) == 1 else summaries, indent=2))
    else:
        for summary in summaries.values():
            print(describe(summary))
    for problem in problems:
        print(f"rostersync: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _day(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise RosterSyncError(f"{option} '{text}' is not a day; write YYYY-MM-DD") from None


def _summary(result, name: str) -> dict:
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        if materialization.asset_key.path == [name, "learning_delivery"]:
            return dict(materialization.metadata["summary"].value)
    raise RuntimeError(f"the learning job of sync {name} did not materialize learning_delivery")


def describe(summary: dict) -> str:
    lines = [
        f"sync {summary['sync']} — learning records {summary['from']} .. {summary['to']} to {summary['destination']}"
    ]
    for kind, counts in summary["by_kind"].items():
        lines.append(
            f"  {kind:<16} read {counts['read']}, delivered {counts['written']}, unchanged {counts['unchanged']}, "
            f"failed {counts['failed']}, unsent {counts['unsent']}"
        )
    lines.append(f"  delivered {summary['written']} records in {summary['write_calls']} write calls")
    for problem in summary["problems"][:SHOWN_FAILURES]:
        lines.append(f"    refused: {problem['kind']} {problem['external_id']}: {problem['error']}")
    if summary["stopped"]:
        lines.append(f"  stopped: {summary['stopped']}")
    return "\n".join(lines)
