"""A person reviews and approves a sync in the real Dagster UI, driven in Debian's headless Chromium.

The sync ran twice through the CLI: the first created the demo company, the second met an export where 41
people were gone (deactivations above max_deactivations: held), a title changed, someone moved, and a
newcomer carries a leaver's email (a conflict). The test walks the group's lineage, the plan (attention
order, old → new, full reasons), the checks, an approval from the launchpad and the runs list, and saves a
screenshot of each page under .test-output/ui/. Without Chromium or Playwright it skips, saying why.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest

from rostersync_pipelines import cli
from rostersync_pipelines.config import CONFIG_ENV, load_config
from rostersync_pipelines.defs.approve import approve_link
from rostersync_pipelines.state import StateStore
from rostersync_pipelines_tests import ui_helpers
from rostersync_pipelines_tests.test_definitions import demo_config, write_config

pytestmark = pytest.mark.skipif(
    bool(ui_helpers.chromium_missing()), reason=str(ui_helpers.chromium_missing())
)
SHOTS = ui_helpers.REPO / ".test-output" / "ui"
WAIT = 60_000  # ms: the UI loads its data after the page


@pytest.fixture
def reviewed(tmp_path, monkeypatch, capsys):
    home = tmp_path / "dagster_home"
    home.mkdir()
    # no daemon here to dequeue runs: the UI launches the approval at once (`make ui` runs the daemon)
    (home / "dagster.yaml").write_text(ui_helpers.INSTANCE_YAML, encoding="utf-8")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    users = tmp_path / "users.csv"
    shutil.copy(ui_helpers.DEMO_USERS, users)
    raw = demo_config(tmp_path)
    raw["syncs"]["employees"]["sources"]["users"]["path"] = str(users)
    raw["syncs"]["employees"]["owners"] = ["team:hr-data"]
    config = write_config(tmp_path, raw)
    monkeypatch.setenv(CONFIG_ENV, str(config))
    assert cli.main(["sync", "--config", str(config), "--json"]) == 0
    capsys.readouterr()
    story = ui_helpers.write_users_with_leavers_and_a_conflict(users)
    assert cli.main(["sync", "--config", str(config), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["conflicts"] == 1 and summary["held"]["users deactivate"] > 26
    SHOTS.mkdir(parents=True, exist_ok=True)
    return {"home": home, "config": config, "summary": summary, **story}


def show_markdown(page, key: str) -> None:
    """Open the Markdown metadata value `key` of the shown event (the UI shows it in a dialog)."""
    row = page.locator("tr", has=page.get_by_text(key, exact=True))
    row.get_by_text("[Show Markdown]").first.click()
    page.get_by_role("dialog").wait_for()


def test_review_and_approve_in_the_ui(reviewed, tmp_path):
    from playwright.sync_api import sync_playwright

    plan_id = reviewed["summary"]["plan_id"]
    held = reviewed["summary"]["held"]["users deactivate"]
    with (
        ui_helpers.webserver(reviewed["home"], reviewed["config"], tmp_path / "webserver.log") as base,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path=ui_helpers.CHROMIUM, args=ui_helpers.CHROMIUM_FLAGS, headless=True
        )
        page = browser.new_page(viewport={"width": 1600, "height": 1100})
        page.set_default_timeout(WAIT)
        skip = page.get_by_role("button", name="Skip")  # Dagster's newsletter dialog, whenever it shows
        page.add_locator_handler(skip, lambda locator: locator.click())

        def visit(path: str, ready: str, shot: str):
            page.goto(base + path)
            page.get_by_text(ready, exact=False).first.wait_for()
            page.wait_for_timeout(1000)
            page.get_by_text(ready, exact=False).first.hover()  # an action: the dialog handler runs first
            page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)
            return page.inner_text("body")

        # the lineage: every asset of the group, sources first, the applied state last
        text = visit("/locations/rostersync/asset-groups/employees/lineage", "applied_lms_state", "1-lineage")
        for name in (
            "source_users",
            "source_departments",
            "users",
            "rejects",
            "sync_plan",
            "applied_lms_state",
        ):
            assert name in text
        assert "xlsx" in text and "SQLite" in text  # kinds (csv shows as an icon only)

        # the plan: conflicts, then held changes, then moves and updates, each old → new with its whole reason
        text = visit("/assets/employees/sync_plan?view=events", "plan table", "2-plan")
        assert plan_id in text
        table = text[text.index("plan table") :]
        conflict_at = table.index(reviewed["newcomer"])
        held_at = table.index("status: active → inactive")
        move_at = table.index("department_id: SALES-AMER → SALES-EMEA")
        update_at = table.index("custom.job_title: Sales Engineer → Senior Sales Engineer")
        assert conflict_at < held_at < move_at < update_at
        assert "a different person" in table[conflict_at : conflict_at + 400]
        reason = re.search(r"missing from source \(policy missing_users: deactivate\); held: [^\n\t]+", table)
        assert (
            reason
            and reason.group(0).endswith("release with rostersync approve")
            and len(reason.group(0)) > 120
        )
        assert f"users deactivate: {held} held, 0 to apply" in text  # counts: a short Markdown, shown inline
        assert "users reactivate: 0 held, 0 to apply" in text
        show_markdown(page, "preview")
        preview = page.get_by_role("dialog").inner_text()
        assert preview.index(reviewed["newcomer"]) < preview.index("status: active → inactive")
        assert preview.index("status: active → inactive") < preview.index("SALES-AMER → SALES-EMEA")
        page.screenshot(path=str(SHOTS / "3-plan-preview.png"))
        page.keyboard.press("Escape")

        # the checks: the conflict says who and why; held changes carry the plan id and the approve link
        text = visit("/assets/employees/sync_plan?view=checks", "held_changes", "4-plan-checks")
        assert "non-blocking" in text
        page.get_by_text("held_changes").first.click()
        page.get_by_text(f"{held} destructive changes held").first.wait_for()
        text = page.inner_text("body")
        assert plan_id in text and "employees_approve_job" in text
        approve = page.locator("a[href*='employees_approve_job']").first.get_attribute("href")
        page.screenshot(path=str(SHOTS / "5-held-check.png"), full_page=True)
        text = visit("/assets/employees/applied_lms_state?view=checks", "converged", "6-converged")
        page.get_by_text("waiting for a person").first.wait_for()
        text = page.inner_text("body")
        assert f"still different 0; waiting for a person: {held} held, 1 conflicts" in text
        assert "the LMS matches the sources" not in text

        # approve from the launchpad the held check links to: the plan id is filled in
        assert approve.endswith(approve_link("employees", plan_id))
        visit(approve_link("employees", plan_id), "Launch Run", "7-launchpad")
        assert plan_id in page.inner_text("body")
        page.get_by_role("button", name="Launch Run").click()
        page.get_by_text("Success").first.wait_for(timeout=120_000)
        page.screenshot(path=str(SHOTS / "8-approve-run.png"), full_page=True)

        # the runs: the CLI's sync under its job, findable by plan id, held and conflicts
        text = visit(
            "/locations/rostersync/jobs/employees_sync_job/runs", "rostersync/plan_id", "9-sync-runs"
        )
        assert f"rostersync/plan_id: {plan_id}" in text
        assert f"rostersync/held: {held}" in text and "rostersync/conflicts: 1" in text
        text = visit("/runs", "employees_approve_job", "10-all-runs")
        assert text.count(f"rostersync/plan_id: {plan_id}") >= 2  # the sync and its approval
        browser.close()

    config = load_config(reviewed["config"])
    store = StateStore(config.resolve_url(config.state.url))
    try:
        assert (store.approved_changes("employees") or {}) and set(
            store.approved_changes("employees").values()
        ) == {plan_id}
    finally:
        store.dispose()
