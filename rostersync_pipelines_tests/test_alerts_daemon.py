"""The alert under `dagster-daemon run`: a `rostersync sync` that fails is told to Slack by the daemon's sensor.

The daemon loads the repo's workspace.yaml (code location `rostersync`), so this proves what the in-process
tests of test_alerts.py assume: the CLI's runs are runs of that location, and the sensor's post leaves the
code server through HTTPS_PROXY and the private CA of the fake internet. About 90 s: the daemon ticks the
sensor once to start it, and again at its 30-second interval after the run failed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import dagster as dg
from dagster._core.scheduler.instigation import TickStatus

from rostersync_pipelines.alerts import UI_URL_ENV
from rostersync_pipelines.defs.alerts import SENSOR_NAME
from rostersync_pipelines_tests.alert_fixtures import HOOK_HOST, HOOK_PATH, TOKEN, UI, WEBHOOK, write_config
from rostersync_pipelines_tests.cli_processes import BIN
from rostersync_pipelines_tests.conftest import REPO
from rostersync_pipelines_tests.fakes.https_proxy import FakeInternet
from rostersync_pipelines_tests.fakes.slack_webhook import SlackWebhook
from rostersync_pipelines_tests.test_daemon import ticks as sensor_ticks

TIMEOUT_SECONDS = 240


def ticks(instance: dg.DagsterInstance) -> list:
    return sensor_ticks(instance, SENSOR_NAME)


def test_the_daemon_tells_a_failed_cli_sync_once(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    config = write_config(tmp_path, "rostersync.yaml", {"webhook": "${ALERT_WEBHOOK_URL}"})
    hook = SlackWebhook(HOOK_PATH)
    deadline = time.monotonic() + TIMEOUT_SECONDS
    log_file = tmp_path / "daemon.log"

    with FakeInternet({HOOK_HOST: hook}) as net, dg.DagsterInstance.from_config(str(home)) as instance:
        env = {
            **os.environ,
            **net.env,
            "NO_PROXY": "localhost,127.0.0.1",  # the daemon reaches its code server directly
            "no_proxy": "localhost,127.0.0.1",
            "DAGSTER_HOME": str(home),
            "ROSTERSYNC_CONFIG": str(config),
            "ALERT_WEBHOOK_URL": WEBHOOK,
            UI_URL_ENV: UI,
            "PYTHONUNBUFFERED": "1",
        }
        assert instance.get_runs_count() == 0  # the storage exists before two processes open the home
        with log_file.open("wb") as log:
            daemon = subprocess.Popen(
                [str(BIN / "dagster-daemon"), "run", "-w", str(REPO / "workspace.yaml")],
                cwd=tmp_path,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def wait_for(what: str, found):
            while time.monotonic() < deadline:
                value = found()
                if value:
                    return value
                if daemon.poll() is not None:
                    break
                time.sleep(1)
            tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-80:])
            raise AssertionError(f"no {what} within {TIMEOUT_SECONDS} s\n--- daemon log ---\n{tail}")

        try:
            [first] = wait_for(f"first tick of {SENSOR_NAME}", lambda: ticks(instance)[:1])
            assert first.status == TickStatus.SKIPPED, first.tick_data  # it starts after the latest failure

            sync = subprocess.run(
                [str(BIN / "rostersync"), "--config", str(config), "sync"],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=TIMEOUT_SECONDS,
            )
            assert sync.returncode == 1, sync.stderr
            [run] = instance.get_runs()
            assert run.status == dg.DagsterRunStatus.FAILURE

            wait_for("message on the webhook", lambda: hook.received)
            after = first.timestamp
            wait_for("tick after the alert", lambda: [t for t in ticks(instance) if t.timestamp > after][1:])
            [message] = hook.received
            assert message["text"].startswith(
                "RosterSync: sync employees failed in step employees__sync_plan: "
            )
            assert message["text"].endswith(f"(run {run.run_id})")
            assert f"<{UI}/runs/{run.run_id}|" in message["blocks"][-1]["text"]["text"]
            assert not [tick for tick in ticks(instance) if tick.status == TickStatus.FAILURE]
        finally:
            try:
                os.killpg(daemon.pid, signal.SIGTERM)
                daemon.wait(timeout=60)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(daemon.pid, signal.SIGKILL)
                daemon.wait(timeout=30)

    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    leaked = [str(path) for path in files if TOKEN.encode() in path.read_bytes()]
    assert leaked == [], "the webhook's token was written to a file"
    assert "failed in step employees__sync_plan" in log_file.read_text(errors="replace")
