"""What the alert tests share: a config whose sync really fails, and a fake Slack webhook behind the fake
internet, reached through HTTPS_PROXY and a private CA as a company's network reaches hooks.slack.com."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from rostersync_pipelines import alerts
from rostersync_pipelines_tests.fakes.https_proxy import FakeInternet
from rostersync_pipelines_tests.fakes.slack_webhook import SlackWebhook

REPO = Path(__file__).resolve().parent.parent
DEMO_DATA = REPO / "data" / "demo"
HOOK_HOST = "hooks.slack.com"
TOKEN = "xQ7tokenZ9secretK3pathW5"  # the part of a webhook URL that is the credential
HOOK_PATH = f"/services/T0ACME01/B0ALERT02/{TOKEN}"
WEBHOOK = f"https://{HOOK_HOST}{HOOK_PATH}"
UI = "https://dagster.acme.example/rostersync"
FAILED_STEP = "employees__sync_plan"


def write_config(folder: Path, name: str, alerts_section: dict | None) -> Path:
    raw = yaml.safe_load((REPO / "rostersync.yaml").read_text(encoding="utf-8"))
    sync = raw["syncs"]["employees"]
    sync["sources"]["users"]["path"] = str(DEMO_DATA / "users.csv")
    sync["sources"]["departments"]["path"] = str(DEMO_DATA / "departments.xlsx")
    # the LMS database would live under a regular file: it cannot be opened, so the plan step fails
    (folder / "not-a-folder").write_text("", encoding="utf-8")
    sync["target"]["url"] = f"sqlite:///{folder / 'not-a-folder' / 'lms.db'}"
    raw["state"] = {"url": f"sqlite:///{folder / 'state.db'}", "plans_dir": str(folder / "plans")}
    if alerts_section is not None:
        raw["alerts"] = alerts_section
    file = folder / name
    file.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return file


@contextmanager
def slack_webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[SlackWebhook]:
    """The fake hooks.slack.com, ALERT_WEBHOOK_URL naming it and DAGSTER_WEBSERVER_URL the UI."""
    monkeypatch.setenv("ALERT_WEBHOOK_URL", WEBHOOK)
    monkeypatch.setenv(alerts.UI_URL_ENV, UI)
    hook = SlackWebhook(HOOK_PATH)
    with FakeInternet({HOOK_HOST: hook}) as net:
        for name, value in net.env.items():
            monkeypatch.setenv(name, value)
        yield hook
