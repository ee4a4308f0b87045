"""`run_failure_alert_sensor`: every failed run of the code location, in one log line and (optionally) Slack.

It watches every job of the location, the CLI's runs included (they carry the location's origin), so a
failed 06:00 sync is told to the people who own it without anyone opening the UI. The webhook comes from
`alerts.webhook` of the config as loaded at each evaluation, so setting or rotating it needs no restart.
"""

from __future__ import annotations

import dagster as dg

from rostersync_pipelines import alerts
from rostersync_pipelines.cli import USER_ERRORS
from rostersync_pipelines.defs.jobs import SYNC_TAG
from rostersync_pipelines.defs.resources import RosterSyncConfig
from rostersync_pipelines.errors import RosterSyncError

SENSOR_NAME = "run_failure_alert_sensor"
SOURCE_SENSOR_NAME = "source_problem_alert_sensor"


def describe_failure(context: dg.RunFailureSensorContext) -> alerts.RunFailure:
    """The sync (its tag, else the job), the first failed step and its error, from the run's event log."""
    run = context.dagster_run
    steps = context.get_step_failure_events()
    job_failure = context.failure_event.job_failure_data
    first = steps[0] if steps else getattr(job_failure, "first_step_failure_event", None)
    if first is not None:
        data = first.step_failure_data
        described = data.user_failure_data.description if data.user_failure_data else None
        error = described or _people_message(data.error)
        more = len({event.step_key for event in steps}) - 1
        step = first.step_key + (f" (and {more} more)" if more > 0 else "")
    else:
        step = None
        error = _people_message(job_failure.error if job_failure else None) or context.failure_event.message
    return alerts.RunFailure(
        sync=sync_of(run),
        step=step,
        error=alerts.one_line(error or "no error was recorded; see the run's logs"),
        run_id=run.run_id,
        run_url=alerts.run_url(run.run_id),
    )


def sync_of(run: dg.DagsterRun) -> str:
    """The sync's tag (its jobs carry it); a run launched from the asset graph, by its assets' sync."""
    if run.tags.get(SYNC_TAG):
        return run.tags[SYNC_TAG]
    syncs = sorted({key.path[0] for key in run.asset_selection or ()})
    return ", ".join(syncs) if syncs else run.job_name


def _people_message(error) -> str | None:
    """A user error's own words (as the CLI prints them), else the innermost non-Dagster error's."""
    chain = []
    while error is not None:
        chain.append(error)
        error = error.cause
    if not chain:
        return None
    chosen = next((e for e in chain if e.cls_name in USER_ERRORS), None)
    chosen = chosen or next((e for e in chain if not (e.cls_name or "").startswith("Dagster")), chain[0])
    head, _, rest = chosen.message.partition(": ")
    return rest if head.rsplit(".", 1)[-1] == chosen.cls_name else chosen.message


def source_problems(context: dg.RunStatusSensorContext) -> list[alerts.RunFailure]:
    """Each source a successful run could not read, from its failed `source_read` checks."""
    run = context.dagster_run
    entries = context.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    problems = []
    for entry in entries:
        check = entry.dagster_event.event_specific_data
        if check.check_name != "source_read" or check.passed:
            continue
        source = check.asset_key.path[-1].removeprefix("source_")
        problems.append(
            alerts.RunFailure(
                sync=sync_of(run),
                step=f"source {source}",
                error=alerts.one_line(check.description or "the source could not be read"),
                run_id=run.run_id,
                run_url=alerts.run_url(run.run_id),
                kind="source",
            )
        )
    return problems


def _tell(context, rostersync: RosterSyncConfig, failure: alerts.RunFailure) -> None:
    context.log.error(alerts.failure_line(failure))
    try:
        webhook = rostersync.load().alerts.webhook
    except RosterSyncError as error:  # the config broke since the run; the line above still tells it
        context.log.warning(f"alert for run {failure.run_id} not sent: {error}")
        return
    if not webhook:
        return
    problem = alerts.post_message(webhook, alerts.slack_message(failure))
    if problem:
        context.log.warning(f"alert for run {failure.run_id} not sent: {problem}")


@dg.run_failure_sensor(
    name=SENSOR_NAME,
    description="Every failed run of this code location: one log line, and a message to alerts.webhook "
    "(a Slack-compatible webhook) when the config sets one.",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def run_failure_alert_sensor(context: dg.RunFailureSensorContext, rostersync: RosterSyncConfig) -> None:
    _tell(context, rostersync, describe_failure(context))


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name=SOURCE_SENSOR_NAME,
    description="Every successful sync run that could not read one of its sources (so it held its "
    "destructive changes): one log line, and a message to alerts.webhook when the config sets one.",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def source_problem_alert_sensor(context: dg.RunStatusSensorContext, rostersync: RosterSyncConfig) -> None:
    for problem in source_problems(context):
        _tell(context, rostersync, problem)


def alerts_definitions() -> dg.Definitions:
    return dg.Definitions(sensors=[run_failure_alert_sensor, source_problem_alert_sensor])
