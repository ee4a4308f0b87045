"""Run-failure alerts: a sync that really failed, told once to a Slack webhook, the webhook's URL told nowhere.

The failed run is a real `rostersync sync` (cli.main, in this process) whose LMS cannot be opened, recorded
in a temporary DAGSTER_HOME. The sensor is then ticked as a code server ticks it for the daemon, in the
code location `rostersync`, from the cursor of a tick made before the run; it posts through the project's
HTTP client, HTTPS_PROXY and a private CA to a fake hooks.slack.com (FakeInternet): the real client path.
test_alerts_daemon.py does the same under a real `dagster-daemon`.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.run_status_sensor_definition import RunStatusSensorCursor
from dagster._core.definitions.sensor_definition import SensorExecutionData
from dagster._core.remote_origin import ManagedGrpcPythonEnvCodeLocationOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._grpc.impl import get_external_sensor_execution

from rostersync_pipelines.config import CONFIG_ENV, load_config
from rostersync_pipelines.defs.alerts import SENSOR_NAME, sync_of
from rostersync_pipelines.defs.checks import LOCATION
from rostersync_pipelines.defs.cli_runs import MODULE, REPOSITORY
from rostersync_pipelines.defs.jobs import SYNC_TAG
from rostersync_pipelines_tests.alert_fixtures import (
    FAILED_STEP,
    HOOK_HOST,
    HOOK_PATH,
    TOKEN,
    UI,
    WEBHOOK,
    slack_webhook,
    write_config,
)


@dataclass
class FailedRun:
    folder: Path
    home: Path
    with_alerts: Path  # a config naming alerts.webhook: ${ALERT_WEBHOOK_URL}
    without_alerts: Path
    cursor: str  # the sensor's cursor from a tick just before the run
    run_id: str
    exit_code: int


def build(config_file: Path, monkeypatch) -> dg.Definitions:
    monkeypatch.setenv(CONFIG_ENV, str(config_file))  # the resource records it when the definitions are built
    from rostersync_pipelines.defs.build import build_definitions

    return build_definitions(load_config(config_file))


def tick(
    defs: dg.Definitions, cursor: str | None, log_key: list[str] | None = None, sensor: str = SENSOR_NAME
) -> SensorExecutionData:
    """One evaluation as a code server makes it for the daemon, in the location the CLI's runs name."""
    origin = ManagedGrpcPythonEnvCodeLocationOrigin(
        LoadableTargetOrigin(executable_path=sys.executable, module_name=MODULE), LOCATION
    )
    with dg.DagsterInstance.get() as instance:
        result = get_external_sensor_execution(
            defs.get_repository_def(),
            origin,
            instance.get_ref(),
            sensor,
            None,
            None,
            cursor,
            log_key,
            None,
        )
    assert isinstance(result, SensorExecutionData), result
    return result


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory) -> FailedRun:
    folder = tmp_path_factory.mktemp("alerts")
    with pytest.MonkeyPatch.context() as patch:
        home = folder / "dagster_home"
        patch.setenv("DAGSTER_HOME", str(home))
        patch.setenv("ALERT_WEBHOOK_URL", WEBHOOK)
        with_alerts = write_config(folder, "with-alerts.yaml", {"webhook": "${ALERT_WEBHOOK_URL}"})
        without_alerts = write_config(folder, "without-alerts.yaml", None)
        patch.setenv(CONFIG_ENV, str(with_alerts))  # cli.main sets it too; the patch restores it after
        from rostersync_pipelines.cli import main
        from rostersync_pipelines.dagster_home import prepare_home

        prepare_home()
        first = tick(build(with_alerts, patch), None)  # the sensor was running before the sync failed
        assert first.skip_message and first.skip_message.startswith("Initiating")
        exit_code = main(["--config", str(with_alerts), "sync"])
        with dg.DagsterInstance.get() as instance:
            [run] = instance.get_runs()
            assert run.status == dg.DagsterRunStatus.FAILURE
        return FailedRun(folder, home, with_alerts, without_alerts, first.cursor, run.run_id, exit_code)


@pytest.fixture
def slack(monkeypatch):
    with slack_webhook(monkeypatch) as hook:
        yield hook


@pytest.fixture
def failed(failed_run, monkeypatch) -> FailedRun:
    """The failed run, its DAGSTER_HOME the current one."""
    monkeypatch.setenv("DAGSTER_HOME", str(failed_run.home))
    return failed_run


def alert_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if SENSOR_NAME in line]


def test_a_failed_sync_is_told_once_with_its_sync_step_error_and_link(failed, slack, monkeypatch, capfd):
    assert failed.exit_code == 1, "the CLI says the sync failed"
    defs = build(failed.with_alerts, monkeypatch)
    result = tick(defs, failed.cursor)
    assert [reaction.error for reaction in result.dagster_run_reactions] == [None]

    [message] = slack.received
    assert [request["content_type"] for request in slack.requests] == ["application/json"]
    link = f"{UI}/runs/{failed.run_id}"
    error = (
        f"{failed.with_alerts}: syncs.employees.target.url: cannot open"
        f" sqlite:///{failed.folder / 'not-a-folder' / 'lms.db'}: [Errno 17] File exists:"
        f" '{failed.folder / 'not-a-folder'}'"
    )
    line = f"sync employees failed in step {FAILED_STEP}: {error} (run {failed.run_id})"
    assert message["text"] == f"RosterSync: {line}"
    header, facts, error_block, run_link = message["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": "Sync employees failed"}}
    assert [field["text"] for field in facts["fields"]] == [
        "*Sync*\nemployees",
        f"*Failed step*\n`{FAILED_STEP}`",
    ]
    assert error_block["text"]["text"] == f"*Error*\n```{error}```"
    shown = json.dumps(message)
    assert "Traceback" not in shown and "DagsterExecutionStepExecutionError" not in shown
    assert run_link["text"]["text"] == f"<{link}|Open run {failed.run_id[:8]} in the Dagster UI>"

    [logged] = alert_lines(capfd.readouterr().err)
    assert logged.endswith(f" - ERROR - {REPOSITORY} - {SENSOR_NAME} - {line}")

    again = tick(defs, result.cursor)  # the next tick starts after this failure: nothing is told twice
    assert again.dagster_run_reactions == [] and len(slack.received) == 1


def test_the_webhook_url_is_told_nowhere(failed, slack, monkeypatch, capfd, caplog):
    caplog.set_level(logging.DEBUG)  # urllib3 logs every request's path at DEBUG: the token, unless redacted
    log_key = ["alert_sensor_tick", "1"]
    result = tick(build(failed.with_alerts, monkeypatch), failed.cursor, log_key=log_key)
    assert len(slack.received) == 1 and result.log_key == log_key
    assert '"POST <alert webhook> HTTP/1.1" 200' in caplog.text, "urllib3 logged the request, redacted"

    captured = capfd.readouterr()
    seen = {
        "caplog": caplog.text,
        "stdout": captured.out,
        "stderr": captured.err,
        "message": json.dumps(slack.received),
    }
    files = [path for path in failed.folder.rglob("*") if path.is_file()]
    assert failed.folder / "state.db" in files
    seen |= {str(path): path.read_bytes().decode("latin-1") for path in files}
    tick_logs = [name for name, text in seen.items() if log_key[0] in name and "failed in step" in text]
    assert tick_logs, "the tick's captured log (what the UI shows for the tick) is among the files read"
    leaked = [name for name, text in seen.items() if TOKEN in text or HOOK_PATH in text]
    assert leaked == []


def test_without_a_webhook_only_the_log_line(failed, slack, monkeypatch, capfd):
    result = tick(build(failed.without_alerts, monkeypatch), failed.cursor)
    assert [reaction.error for reaction in result.dagster_run_reactions] == [None]
    assert slack.requests == []
    [logged] = alert_lines(capfd.readouterr().err)
    assert f"sync employees failed in step {FAILED_STEP}: " in logged and " - ERROR - " in logged


def test_a_revoked_webhook_is_one_line_without_its_url_and_the_sensor_goes_on(
    failed, slack, monkeypatch, capfd
):
    slack.path = "/services/T0ACME01/B0ALERT02/another-token"  # ours was revoked: Slack answers 404
    result = tick(build(failed.with_alerts, monkeypatch), failed.cursor)
    assert [reaction.error for reaction in result.dagster_run_reactions] == [None], "the tick did not fail"
    assert [request["status"] for request in slack.requests] == [404], "a 404 is not retried"
    err = capfd.readouterr().err
    failure, warning = alert_lines(err)
    assert "failed in step" in failure
    assert warning.endswith(
        f"alert for run {failed.run_id} not sent: the alert webhook answered 404 (no_service)"
    )
    assert TOKEN not in err and HOOK_HOST not in err


def test_a_config_broken_since_the_run_still_gives_the_line(failed, slack, monkeypatch, capfd, tmp_path):
    broken = tmp_path / "rostersync.yaml"
    broken.write_text(failed.with_alerts.read_text(encoding="utf-8"), encoding="utf-8")
    defs = build(broken, monkeypatch)
    broken.write_text("syncs: [not, a, mapping]\n", encoding="utf-8")  # edited after the definitions loaded
    result = tick(defs, failed.cursor)
    assert [reaction.error for reaction in result.dagster_run_reactions] == [None]
    assert slack.requests == []
    failure, warning = alert_lines(capfd.readouterr().err)
    assert "failed in step" in failure
    assert f"alert for run {failed.run_id} not sent: {broken}: syncs" in warning


def test_a_run_started_from_the_asset_graph_is_named_by_its_sync():
    run = dg.DagsterRun(job_name="__ASSET_JOB", asset_selection={dg.AssetKey(["employees", "users"])})
    assert sync_of(run) == "employees"
    assert sync_of(dg.DagsterRun(job_name="some_job")) == "some_job"
    assert sync_of(dg.DagsterRun(job_name="employees_sync_job", tags={SYNC_TAG: "employees"})) == "employees"


def test_the_sensor_watches_the_whole_code_location(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    defs = build(write_config(tmp_path, "rostersync.yaml", None), monkeypatch)
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    assert isinstance(sensor, dg.RunStatusSensorDefinition)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.required_resource_keys == {"rostersync"}
    assert [s.name for s in defs.sensors].count(SENSOR_NAME) == 1
    assert RunStatusSensorCursor.is_valid(
        RunStatusSensorCursor(record_id=-1, record_timestamp=None).to_json()
    )
