"""A sync that ran but could not read a source is told like a failed run: its run succeeds (what is safe is
applied, every destructive change held), so without this alert an unattended sync would hold everyone's
changes in silence until a person opened the UI."""

from __future__ import annotations

import dagster as dg
import yaml

from rostersync_pipelines.config import CONFIG_ENV
from rostersync_pipelines.defs.alerts import SOURCE_SENSOR_NAME
from rostersync_pipelines_tests.alert_fixtures import REPO, TOKEN, UI, slack_webhook
from rostersync_pipelines_tests.test_alerts import build, tick


def _config(folder, missing):
    raw = yaml.safe_load((REPO / "rostersync.yaml").read_text(encoding="utf-8"))
    sync = raw["syncs"]["employees"]
    sync["sources"]["users"]["path"] = str(missing)
    sync["sources"]["departments"]["path"] = str(REPO / "data" / "demo" / "departments.xlsx")
    sync["target"]["url"] = f"sqlite:///{folder / 'lms.db'}"
    raw["state"] = {"url": f"sqlite:///{folder / 'state.db'}", "plans_dir": str(folder / "plans")}
    raw["alerts"] = {"webhook": "${ALERT_WEBHOOK_URL}"}
    file = folder / "rostersync.yaml"
    file.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return file


def test_a_source_that_could_not_be_read_is_told_once(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    missing = tmp_path / "exports" / "users.csv"
    config = _config(tmp_path, missing)
    monkeypatch.setenv(CONFIG_ENV, str(config))
    from rostersync_pipelines.cli import main
    from rostersync_pipelines.dagster_home import prepare_home

    with slack_webhook(monkeypatch) as slack:
        prepare_home()
        defs = build(config, monkeypatch)
        first = tick(defs, None, sensor=SOURCE_SENSOR_NAME)  # running before the sync ran
        assert main(["--config", str(config), "sync"]) == 1
        with dg.DagsterInstance.get() as instance:
            [run] = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.SUCCESS, "the run itself did not fail"

        result = tick(defs, first.cursor, sensor=SOURCE_SENSOR_NAME)
        assert [reaction.error for reaction in result.dagster_run_reactions] == [None]
        [message] = slack.received
        header, facts, error_block, link = message["blocks"]
        assert header["text"]["text"] == "Sync employees could not read a source"
        assert [field["text"] for field in facts["fields"]] == [
            "*Sync*\nemployees",
            "*Source*\n`source users`",
        ]
        assert str(missing) in error_block["text"]["text"]
        assert f"{UI}/runs/{run.run_id}" in link["text"]["text"]
        [logged] = [line for line in capfd.readouterr().err.splitlines() if SOURCE_SENSOR_NAME in line]
        assert "sync employees could not read source users: " in logged
        assert logged.endswith(f"its destructive changes are held (run {run.run_id})")
        assert TOKEN not in logged

        # a good run after it is not told, and the bad one is not told twice
        missing.parent.mkdir()
        missing.write_bytes((REPO / "data" / "demo" / "users.csv").read_bytes())
        assert main(["--config", str(config), "sync"]) == 0
        again = tick(defs, result.cursor, sensor=SOURCE_SENSOR_NAME)
        assert [reaction.error for reaction in again.dagster_run_reactions] == [None]
        assert len(slack.received) == 1
