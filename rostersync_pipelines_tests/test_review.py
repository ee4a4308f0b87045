"""The plan as a person reviews it: attention order, old → new, full reasons, counts, checks, approval."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import yaml

from rostersync_pipelines.config import CONFIG_ENV, Safety
from rostersync_pipelines.defs import checks, previews
from rostersync_pipelines.reconcile.rows import plan_frame
from rostersync_pipelines.reconcile.safety import hold_destructive

LONG_REASON = "missing from source (policy missing_users: deactivate); " + "x" * 200 + "; the end"


def sample_plan() -> pd.DataFrame:
    rows = [
        dict(entity="departments", action="create", situation="unmatched", key="ENG", values={"code": "ENG"}),
        dict(
            entity="users",
            action="update",
            situation="linked",
            key="zpatel",
            lms_id="1",
            changes={"custom.job_title": ["Sales Engineer", "Senior Sales Engineer"]},
            reason="linked to LMS user 1 by an earlier sync",
        ),
        dict(entity="groups", action="add_member", situation="unmatched", key="Mentors: zpatel"),
        dict(
            entity="users",
            action="move",
            situation="linked",
            key="nmuller",
            lms_id="2",
            changes={"department_id": ["13", "12"]},
            reason="moved",
        ),
        dict(entity="departments", action="none", situation="linked", key="SALES-AMER", lms_id="13"),
        dict(entity="departments", action="none", situation="linked", key="SALES-EMEA", lms_id="12"),
        dict(
            entity="users",
            action="deactivate",
            situation="missing",
            key="rnguyen",
            lms_id="3",
            changes={"status": ["active", "inactive"]},
            reason=LONG_REASON,
            held=True,
        ),
        dict(
            entity="users",
            action="none",
            situation="conflict",
            key="zpatel2",
            row=264,
            reason="matched LMS user 233 by email, but its user_unique_key differs: a different person",
        ),
        dict(
            entity="users",
            action="create",
            situation="unmatched",
            key="anew",
            values={"login": "anew", "department_id": "new:ENG", "manager_id": "nmuller"},
        ),
        dict(entity="departments", action="delete", situation="missing", key="OLD", error="still has users"),
    ]
    frames = [plan_frame(**{name: [value] for name, value in row.items()}) for row in rows]
    return pd.concat(frames, ignore_index=True)


def test_the_preview_puts_what_needs_a_person_first_people_before_departments():
    view = previews.plan_view(sample_plan())
    assert list(view["key"]) == [
        "OLD",  # error
        "zpatel2",  # conflict, though its action is none
        "rnguyen",  # held
        "nmuller",  # move
        "zpatel",  # update
        "anew",  # creates: people first
        "ENG",
        "Mentors: zpatel",  # other changes last
    ]
    assert list(view["attention"][:3]) == ["error", "conflict", "held"]


def test_changes_read_old_to_new_by_name_and_reasons_are_whole():
    view = previews.plan_view(sample_plan()).set_index("key")
    assert view.loc["zpatel", "changes"] == "custom.job_title: Sales Engineer → Senior Sales Engineer"
    assert view.loc["nmuller", "changes"] == "department_id: SALES-AMER → SALES-EMEA"  # codes, not LMS ids
    assert view.loc["anew", "changes"] == "login = anew; department_id = ENG (new); manager_id = nmuller"
    assert view.loc["rnguyen", "reason"] == LONG_REASON
    assert view.loc["OLD", "reason"].startswith("error: still has users")
    markdown = previews.markdown_table(view.reset_index(), previews.PLAN_VIEW).value
    assert LONG_REASON in markdown and "Sales Engineer → Senior Sales Engineer" in markdown


def test_the_plan_table_is_a_table_value_with_a_schema():
    table = previews.plan_table(previews.plan_view(sample_plan()))
    assert isinstance(table, dg.TableMetadataValue)
    assert [column.name for column in table.schema.columns] == previews.PLAN_VIEW
    assert table.records[0].data["key"] == "OLD" and table.records[1].data["row"] == 264


def test_held_changes_are_counted_apart_and_every_count_is_there():
    counts = previews.action_counts(sample_plan())
    shown = previews.count_metadata(counts)
    assert (shown["users deactivate"], shown["users deactivate held"]) == (0, 1)
    assert shown["users reactivate"] == 0 and shown["groups remove_member"] == 0  # zeros stay for the plots
    assert shown["departments delete"] == 0, "a change blocked by an error is not to apply"
    expected = {f"{e} {a}" for e, actions in previews.ACTIONS.items() for a in actions}
    assert expected <= set(shown)
    assert "- `users deactivate`: 1 held, 0 to apply" in shown["counts"].value


def test_the_checks_say_who_and_why():
    view = previews.plan_view(sample_plan())
    conflict = checks.conflicts(view)
    assert not conflict.passed and conflict.severity == dg.AssetCheckSeverity.WARN
    assert "zpatel2" in conflict.description
    assert "a different person" in conflict.metadata["who and why"].value
    held = checks.held_changes(view, "p-1", "employees_approve_job", "/approve")
    assert not held.passed and held.severity == dg.AssetCheckSeverity.WARN
    assert held.metadata["plan_id"].value == "p-1" and held.metadata["approve"].value == "/approve"
    assert "1 users deactivate" in held.description
    assert not checks.plan_errors(view).passed


def test_convergence_never_says_the_lms_matches_while_changes_wait():
    view = previews.plan_view(sample_plan())
    waiting = view[view["attention"].isin(["held", "conflict", "error"])]
    nothing = view.iloc[0:0]
    result = checks.converged(4, nothing, waiting)
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.description == (
        "applied 4; every applicable change landed; still different 0; "
        "waiting for a person: 1 held, 1 conflicts, 1 errors"
    )
    landed = checks.converged(4, nothing, nothing)
    assert landed.passed and "the LMS matches the sources" in landed.description
    failed = checks.converged(4, view[view["key"] == "zpatel"], nothing)
    assert not failed.passed and failed.severity == dg.AssetCheckSeverity.ERROR


def test_approved_only_holds_every_destructive_change_until_approved():
    plan = sample_plan().assign(held=False)
    held = hold_destructive(plan, Safety(), 100, [], {}, approved_only=True)
    deactivation = held[held["key"] == "rnguyen"].iloc[0]
    assert deactivation["held"] and "apply: approved_only" in deactivation["reason"]
    assert not held[held["action"].isin(["update", "move", "create"])]["held"].any()
    released = hold_destructive(plan, Safety(), 100, [], {("users", "deactivate", "3"): "p-1"}, True)
    assert not released[released["key"] == "rnguyen"].iloc[0]["held"]
    assert not hold_destructive(plan, Safety(), 100, [], {})["held"].any(), "auto applies as before"


def test_the_approve_job_releases_a_plan(tmp_path, monkeypatch):
    from rostersync_pipelines import steps
    from rostersync_pipelines.config import load_config
    from rostersync_pipelines.defs.approve import approve_link
    from rostersync_pipelines.defs.build import build_definitions
    from rostersync_pipelines_tests.test_definitions import demo_config, write_config

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    file = write_config(tmp_path, demo_config(tmp_path))
    monkeypatch.setenv(CONFIG_ENV, str(file))
    config = load_config(file)
    sources = steps.read_sources(config, "employees")
    planned = steps.plan_sync(
        config, "employees", sources, steps.canonicalize(sources, config.syncs["employees"])
    )
    job = build_definitions(config).resolve_job_def("employees_approve_job")
    with dg.instance_for_test() as instance:
        run_config = yaml.safe_load(_config_of(approve_link("employees", planned.plan_id)))
        result = job.execute_in_process(run_config=run_config, instance=instance)
        assert result.success
        assert instance.get_run_by_id(result.run_id).tags["rostersync/plan_id"] == planned.plan_id
        bad = job.execute_in_process(
            run_config={"ops": {"employees_approve_plan": {"config": {"plan_id": "nope"}}}},
            instance=instance,
            raise_on_error=False,
        )
        assert not bad.success
    store = steps.open_state(config)
    try:
        with store.engine.connect() as connection:
            approved = connection.exec_driver_sql("select plan_id from approvals").scalars().all()
    finally:
        store.dispose()
    assert approved == [planned.plan_id]


def _config_of(link: str) -> str:
    from urllib.parse import parse_qs, urlparse

    return parse_qs(urlparse(link).query)["config"][0]


def test_a_cli_run_is_listed_under_its_job_with_the_plan_id(tmp_path, monkeypatch, capsys):
    import json

    from dagster import DagsterInstance
    from dagster._core.storage.dagster_run import RunsFilter

    from rostersync_pipelines import cli
    from rostersync_pipelines_tests.test_definitions import demo_config, write_config

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    file = write_config(tmp_path, demo_config(tmp_path))
    monkeypatch.setenv(CONFIG_ENV, str(file))
    assert cli.main(["plan", "--config", str(file), "--json"]) == 0
    plan_id = json.loads(capsys.readouterr().out)["plan_id"]
    with DagsterInstance.get() as instance:
        # what the job's Runs page of the UI asks for: the job and the code location's repository label
        under_job = RunsFilter(
            job_name="employees_plan_job", tags={".dagster/repository": "__repository__@rostersync"}
        )
        (run,) = instance.get_runs(under_job)
    assert run.tags["rostersync/plan_id"] == plan_id
    assert (run.tags["rostersync/held"], run.tags["rostersync/conflicts"]) == ("0", "0")
    assert (run.tags["rostersync/sync"], run.tags["rostersync/started_by"]) == ("employees", "cli")


def test_approved_only_applies_a_deactivation_only_after_approval(tmp_path, monkeypatch, capsys):
    import json
    import shutil

    import sqlalchemy as sa

    from rostersync_pipelines import cli
    from rostersync_pipelines_tests.test_definitions import DEMO_DATA, demo_config, write_config

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    users = tmp_path / "users.csv"
    shutil.copy(DEMO_DATA / "users.csv", users)
    raw = demo_config(tmp_path)
    raw["syncs"]["employees"]["sources"]["users"]["path"] = str(users)
    raw["syncs"]["employees"]["apply"] = "approved_only"
    file = write_config(tmp_path, raw)
    monkeypatch.setenv(CONFIG_ENV, str(file))

    def sync() -> dict:
        assert cli.main(["sync", "--config", str(file), "--json"]) == 0
        return json.loads(capsys.readouterr().out)

    def status(login: str) -> str:
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'lms.db'}")
        try:
            with engine.connect() as connection:
                query = sa.text("select status from users where login = :login")
                return connection.execute(query, {"login": login}).scalar_one()
        finally:
            engine.dispose()

    assert sync()["applied"]["users create"] > 0  # creates are not destructive: they apply at once
    frame = pd.read_csv(users, dtype=str, keep_default_na=False)
    frame[frame["Login"] != "zpatel"].to_csv(users, index=False)
    held = sync()
    assert held["held"] == {"users deactivate": 1} and status("zpatel") == "active"
    assert cli.main(["approve", "--config", str(file), held["plan_id"]]) == 0
    capsys.readouterr()
    released = sync()
    assert released["applied"] == {"users deactivate": 1} and status("zpatel") == "inactive"
