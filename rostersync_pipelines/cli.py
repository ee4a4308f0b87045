"""`rostersync validate | plan | sync | approve PLAN_ID`: a thin CLI over the same Dagster definitions.

Runs go to DAGSTER_HOME (default ./.dagster_home), so each one shows in the UI. A failure a person can fix
(config, source, mapped column) is one line and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from rostersync_pipelines.config import CONFIG_ENV, Config, check_source_files, config_path, load_config
from rostersync_pipelines.dagster_home import open_instance, prepare_home
from rostersync_pipelines.errors import RosterSyncError

USER_ERRORS = {
    "ConfigError",
    "SourceError",
    "TargetError",
    "TransientTargetError",
    "SyncBusy",
    "RosterSyncError",
}
QUIET_RUN = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.config = getattr(args, "config", None)
    try:
        config = load_config(args.config)
        if args.command == "validate":
            # a sync treats a missing file as a failed source (the rest applies, deactivations wait);
            # validate says it up front, as a config problem with its key
            check_source_files(config)
            from rostersync_pipelines.connections import check_connections

            for line in check_connections(config):
                print(f"  {line}")
            print(f"{config_path(args.config)}: OK ({', '.join(config.syncs)})")
            return 0
        if args.command == "approve":
            return approve(config, args.plan_id)
        if args.command == "learning-sync":
            from rostersync_pipelines.learning.command import learning_sync

            return learning_sync(config, args)
        return run(config, args)
    except RosterSyncError as error:
        print(f"rostersync: {error}", file=sys.stderr)
        return 2 if type(error).__name__ == "ConfigError" else 1


def _parser() -> argparse.ArgumentParser:
    # --config is taken before or after the command: `rostersync sync --config x.yaml` is what people type
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument(
        "--config", default=argparse.SUPPRESS, help=f"config file (default: ${CONFIG_ENV} or rostersync.yaml)"
    )
    parser = argparse.ArgumentParser(prog="rostersync", description=__doc__.splitlines()[0], parents=[shared])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("validate", help="load and check the config", parents=[shared])
    for name, text in (
        ("plan", "show what a sync would change; never writes to the LMS"),
        ("sync", "plan and apply"),
    ):
        command = commands.add_parser(name, help=text, parents=[shared])
        command.add_argument("--sync", action="append", help="only this sync (repeatable; default: all)")
        command.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    approve_command = commands.add_parser(
        "approve", help="release the held changes of a plan on the next sync", parents=[shared]
    )
    approve_command.add_argument("plan_id")
    from rostersync_pipelines.learning.command import add_command  # light: argparse only

    add_command(commands, shared)
    return parser


def run(config: Config, args: argparse.Namespace) -> int:
    # imported here: `validate` and `approve` should not pay for loading Dagster
    from rostersync_pipelines.collector import collect_in_bulk, freeze_imports
    from rostersync_pipelines.defs.build import build_definitions
    from rostersync_pipelines.defs.cli_runs import run_job
    from rostersync_pipelines.defs.jobs import plan_job_name, sync_job_name

    os.environ[CONFIG_ENV] = str(config_path(args.config).resolve())
    home = prepare_home()
    defs = build_definitions(config)
    freeze_imports()
    collect_in_bulk()
    names = args.sync or list(config.syncs)
    unknown = [name for name in names if name not in config.syncs]
    if unknown:
        raise RosterSyncError(f"no sync named '{unknown[0]}'; the config has: {', '.join(config.syncs)}")
    summaries, problems = {}, []
    with open_instance(home) as instance:
        for name in names:
            job_name = sync_job_name(name) if args.command == "sync" else plan_job_name(name)
            result = run_job(defs, job_name, instance, QUIET_RUN)  # listed under its job in the UI
            failure = _user_failure(result)
            if failure:
                problems.append(f"sync {name}: {failure}")
                continue
            summary = _summary(config, name, result)
            summaries[name] = summary
            problems += [
                f"sync {name}: source {source}: {error}" for source, error in summary["source_errors"].items()
            ]
            if summary.get("stopped"):
                problems.append(f"sync {name}: {summary['stopped']}")
    if args.json:
        print(
            json.dumps(
                next(iter(summaries.values())) if len(summaries) == 1 else summaries, indent=2, default=str
            )
        )
    else:
        for name, summary in summaries.items():
            print(describe(name, summary, args.command))
    for problem in problems:
        print(f"rostersync: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _user_failure(result) -> str | None:
    """The message of a step that failed for a reason a person can fix; a programming error re-raises."""
    if result.success:
        return None
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            cause = error
            while cause is not None and cause.cls_name not in USER_ERRORS:
                cause = cause.cause
            if cause is not None:
                # Dagster writes "module.Class: message"; people need only the message
                head, _, rest = cause.message.partition(": ")
                return rest.strip() if head.rsplit(".", 1)[-1] == cause.cls_name else cause.message.strip()
            raise RuntimeError(error.to_string())
    return "the run failed; see the Dagster UI"


def _summary(config: Config, name: str, result) -> dict:
    plan_id = None
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        if materialization.asset_key.path == [name, "sync_plan"]:
            plan_id = materialization.metadata["plan_id"].value
    from rostersync_pipelines.state import StateStore  # pandas and SQLAlchemy: only commands that need them

    store = StateStore(config.resolve_url(config.state.url))
    try:
        plan = store.plan(plan_id)
        return {"sync": name, **plan["summary"], "plan_file": plan["plan_file"], "status": plan["status"]}
    finally:
        store.dispose()


def describe(name: str, summary: dict, command: str) -> str:
    lines = [f"sync {name} — plan {summary['plan_id']}"]
    for entity in ("users", "departments", "groups"):
        counts = summary.get(entity) or {}
        shown = ", ".join(f"{action} {count}" for action, count in sorted(counts.items())) or "no changes"
        lines.append(f"  {entity:<12} {shown}")
    held = sum(summary.get("held", {}).values())
    lines.append(
        f"  held {held}, conflicts {summary['conflicts']}, errors {summary['errors']}, "
        f"rejected rows {summary['rejected_rows']}, skipped rows {summary['skipped_rows']}"
    )
    if command == "sync":
        applied = sum((summary.get("applied") or {}).values())
        settled = not (summary.get("failed") or held or summary.get("source_errors") or summary["conflicts"])
        if applied == 0 and settled:
            lines.append("  applied 0 changes: the LMS already matches the source")
        else:
            lines.append(
                f"  applied {applied} changes, {len(summary.get('failed') or [])} refused by the LMS"
            )
        for failure in (summary.get("failed") or [])[:10]:
            lines.append(f"    refused: {failure}")
    else:
        lines.append("  nothing was written to the LMS (plan only)")
    if held and summary.get("source_errors"):
        lines.append("  held changes wait for the source to be read again; fix the source, then sync")
    elif held:
        lines.append(f"  release held changes with: rostersync approve {summary['plan_id']}")
    lines.append(f"  full plan: {summary['plan_file']}")
    return "\n".join(lines)


def approve(config: Config, plan_id: str) -> int:
    url = config.resolve_url(config.state.url)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists():
        raise RosterSyncError(
            f"no state database at {url[len('sqlite:///') :]}: nothing has been planned with this config"
        )
    from rostersync_pipelines.state import StateStore

    store = StateStore(url)
    try:
        plan = store.plan(plan_id)
        if plan is None:
            raise RosterSyncError(f"no plan with id '{plan_id}'; `rostersync plan` prints plan ids")
        changes = store.plan_changes(plan_id)
        held = int(changes["held"].sum()) if len(changes) else 0
        store.approve(plan_id)
        print(
            f"approved plan {plan_id}: its {held} held changes apply on the next `rostersync sync` of {plan['sync']}"
        )
        return 0
    finally:
        store.dispose()


if __name__ == "__main__":
    sys.exit(main())
