"""The Dagster instance and the state database on PostgreSQL, set up as deploy/dagster.postgres.yaml says.

This module creates its own PostgreSQL databases and drops them at the end: one for the Dagster instance
(runs, event logs, schedules), fresh ones where first starts race, and one whose schemas hold each
test's state database and embedded LMS. The CLI runs as real processes with DAGSTER_HOME holding a copy of
the deploy file and DAGSTER_POSTGRES_URL set, as on a server. The syncs are test_two_syncs.py's two small
HR files into one LMS; test_one_run_at_a_time.py proves the same races on SQLite with 10,000 people.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from rostersync_pipelines import cli
from rostersync_pipelines.defs.jobs import SYNC_TAG
from rostersync_pipelines.instance_storage import scheme_problems
from rostersync_pipelines_tests.cli_processes import query
from rostersync_pipelines_tests.conftest import _POSTGRES_SKIP, POSTGRES_SERVER_URL, REPO
from rostersync_pipelines_tests.test_two_syncs import EMPLOYEES, PARTNERS, TwoSyncs

BIN = Path(sys.executable).parent
DEPLOY = REPO / "deploy" / "dagster.postgres.yaml"
RUN_TIMEOUT = 300  # seconds a CLI process may take before the test calls it hung
MOCK_LAUNCHER = "\nrun_launcher:\n  module: dagster._core.test_utils\n  class: MockedRunLauncher\n"


def database_url(database: str, driver: str = "psycopg", schema: str | None = None) -> str:
    url = sa.make_url(POSTGRES_SERVER_URL).set(drivername=f"postgresql+{driver}", database=database, query={})
    text = url.render_as_string(hide_password=False)
    return f"{text}?options=-csearch_path%3D{schema}" if schema else text


@pytest.fixture(scope="module")
def databases():
    """Creates databases for this module; drops every one it created, and only those, at the end."""
    if _POSTGRES_SKIP:
        pytest.skip(_POSTGRES_SKIP)
    admin = sa.create_engine(POSTGRES_SERVER_URL, isolation_level="AUTOCOMMIT")
    created: list[str] = []

    def create(purpose: str) -> str:
        name = f"rs_{purpose}_{uuid.uuid4().hex[:10]}"
        with admin.connect() as connection:
            connection.execute(sa.text(f'create database "{name}"'))
        created.append(name)
        return name

    yield create
    with admin.connect() as connection:
        for name in created:
            connection.execute(sa.text(f'drop database if exists "{name}" with (force)'))
    admin.dispose()


@pytest.fixture(scope="module")
def dagster_url(databases) -> str:
    return database_url(databases("dagster"), driver="psycopg2")


@pytest.fixture(scope="module")
def state_database(databases) -> str:
    return databases("state")


@pytest.fixture
def schema(state_database):
    """A new schema in the module's state database: a URL per state database or LMS."""

    def make(purpose: str) -> str:
        name = f"{purpose}_{uuid.uuid4().hex[:10]}"
        engine = sa.create_engine(database_url(state_database))
        with engine.begin() as connection:
            connection.execute(sa.text(f'create schema "{name}"'))
        engine.dispose()
        return database_url(state_database, schema=name)

    return make


@pytest.fixture
def processes():
    """Starts `rostersync` processes and kills, by id, any still running when the test ends."""
    started: list[subprocess.Popen] = []

    def start(syncs: TwoSyncs, home: Path, dagster: str, *args: str, **env: str) -> subprocess.Popen:
        process = subprocess.Popen(
            [str(BIN / "rostersync"), *args, "--config", str(syncs.config), "--json"],
            cwd=syncs.folder,
            env={
                **os.environ,
                "DAGSTER_HOME": str(home),
                "DAGSTER_POSTGRES_URL": dagster,
                "PYTHONUNBUFFERED": "1",
                **env,
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)


def finish(process: subprocess.Popen, timeout: float = RUN_TIMEOUT) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate(timeout=30)
        pytest.fail(f"rostersync did not finish in {timeout} s (a deadlock?):\n{err[-3000:]}")
    return process.returncode, out, err


def deploy_home(folder: Path, extra: str = "") -> Path:
    home = folder / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(DEPLOY.read_text(encoding="utf-8") + extra, encoding="utf-8")
    return home


def two_syncs(folder: Path, state_url: str, lms_url: str | None = None) -> TwoSyncs:
    """test_two_syncs's employees and partners, with the state database (and the LMS) where given."""
    syncs = TwoSyncs(folder)
    syncs.raw["state"]["url"] = state_url
    if lms_url:
        syncs.lms_url = lms_url
        for sync in syncs.raw["syncs"].values():
            sync["target"] = {**sync["target"], "url": lms_url}
        from rostersync_pipelines.targets.embedded import EmbeddedLms

        EmbeddedLms(lms_url).dispose()  # the LMS exists before any sync reaches it
    syncs.config.write_text(yaml.safe_dump(syncs.raw, sort_keys=False), encoding="utf-8")
    syncs.write("employees", EMPLOYEES)
    syncs.write("partners", PARTNERS)
    return syncs


def open_instance(home: Path):
    from dagster import DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    return DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))


def runs_of(home: Path, sync: str, besides: frozenset[str] = frozenset()) -> list:
    """The sync's runs in the instance, oldest first, but for those of earlier tests (`besides`)."""
    from dagster import RunsFilter

    with open_instance(home) as instance:
        runs = instance.get_runs(RunsFilter(tags={SYNC_TAG: sync}), ascending=True)
    return [run for run in runs if run.run_id not in besides]


def run_ids(home: Path, *syncs: str) -> frozenset[str]:
    return frozenset(run.run_id for sync in syncs for run in runs_of(home, sync))


# the scheme ---------------------------------------------------------------------------------------------
def test_the_deploy_file_keeps_everything_in_postgres_with_one_run_per_sync(
    tmp_path, dagster_url, monkeypatch
):
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", dagster_url)
    home = deploy_home(tmp_path)
    local = tmp_path / "local"
    local.mkdir()
    shutil.copyfile(REPO / "dagster.yaml", local / "dagster.yaml")
    with _no_warnings():
        with open_instance(home) as instance, open_instance(local) as repo_instance:
            kinds = {type(s).__name__ for s in (instance.run_storage, instance.event_log_storage)}
            assert kinds == {"PostgresRunStorage", "PostgresEventLogStorage"}
            assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
            assert not instance.telemetry_enabled and not repo_instance.telemetry_enabled
            limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
            assert limits == [{"key": SYNC_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]
            assert repo_instance.get_concurrency_config().run_queue_config.tag_concurrency_limits == limits
            assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert list(home.iterdir()) == [home / "dagster.yaml"]  # nothing of the instance is kept in the folder


class _no_warnings:
    """Neither file may make Dagster warn (a deprecated or beta setting); an unknown key would raise."""

    def __enter__(self):
        import logging
        import warnings

        self._catch = warnings.catch_warnings(record=True)
        self.caught = self._catch.__enter__()
        warnings.simplefilter("always")
        self.records: list[logging.LogRecord] = []
        self._handler = logging.Handler(logging.WARNING)
        self._handler.emit = self.records.append
        logging.getLogger("dagster").addHandler(self._handler)
        return self

    def __exit__(self, *exc):
        import logging

        logging.getLogger("dagster").removeHandler(self._handler)
        self._catch.__exit__(*exc)
        dagster_warnings = [
            w for w in self.caught if "dagster" in str(w.filename) and w.category is not ResourceWarning
        ]
        assert not dagster_warnings, [str(w.message) for w in dagster_warnings]
        assert not self.records, [record.getMessage() for record in self.records]
        return False


@pytest.mark.parametrize("driver", ["psycopg2", "psycopg", None])
def test_only_psycopg2_survives_the_webservers_connection_setup(tmp_path, dagster_url, monkeypatch, driver):
    """What the webserver does on start (`optimize_for_webserver`), then a query. psycopg 3 — chosen by
    `postgresql+psycopg://` and, with SQLAlchemy 2.1, by a bare `postgresql://` — gets its connections
    closed by dagster-postgres' statement-timeout hook (dagster issue 33958). If psycopg 3 starts to pass
    here, dagster-postgres supports it: then relax instance_storage.WORKING_SCHEME."""
    url = dagster_url.replace(
        "postgresql+psycopg2://", f"postgresql+{driver}://" if driver else "postgresql://"
    )
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", url)
    with open_instance(deploy_home(tmp_path)) as instance:
        instance.get_runs_count()  # the CLI's own use works with either driver
        instance.optimize_for_webserver(statement_timeout=5000, pool_recycle=3600, max_overflow=2)
        if driver == "psycopg2":
            assert instance.get_runs_count() >= 0
            assert instance.get_runs(limit=1) is not None
        else:
            with pytest.raises(sa.exc.OperationalError, match="the connection is closed"):
                instance.get_runs_count()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://rs:s3cret@db:5432/dagster", "SQLAlchemy has no dialect named postgres"),
        ("postgresql://rs:s3cret@db:5432/dagster", "psycopg 3"),
        ("postgresql+psycopg://rs:s3cret@db:5432/dagster", "psycopg 3"),
        ("postgresql+pg8000://rs:s3cret@db:5432/dagster", "psycopg2 driver only"),
        ("rs:s3cret@db:5432/dagster", "is not a URL"),
        (None, "DAGSTER_POSTGRES_URL, which is not set"),
    ],
)
def test_a_wrong_dagster_url_is_refused_in_one_line_without_the_password(
    tmp_path, monkeypatch, capsys, url, expected
):
    """No server is needed: the URL is checked before anything connects, and the home is left as it was."""
    home = deploy_home(tmp_path)
    before = (home / "dagster.yaml").read_bytes()
    syncs = two_syncs(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.delenv("ROSTERSYNC_CONFIG", raising=False)
    if url is None:
        monkeypatch.delenv("DAGSTER_POSTGRES_URL", raising=False)
    else:
        monkeypatch.setenv("DAGSTER_POSTGRES_URL", url)
    code = cli.main(["--config", str(syncs.config), "sync"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and err.startswith(f"rostersync: DAGSTER_HOME {home}: dagster.yaml: "), err
    assert expected in err and "storage.postgres.postgres_url" in err
    assert "postgresql+psycopg2://" in err or url is None
    assert "s3cret" not in err and "Traceback" not in err
    assert (home / "dagster.yaml").read_bytes() == before and list(home.iterdir()) == [home / "dagster.yaml"]
    assert not (tmp_path / "state.db").exists()  # refused before any sync started


def test_an_unreachable_dagster_database_is_one_line_without_the_password(tmp_path, processes):
    """A real process: dagster-postgres retries for some seconds, logging each try; the user sees one line."""
    syncs = two_syncs(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    home = deploy_home(tmp_path)
    url = "postgresql+psycopg2://postgres:s3cret@127.0.0.1:1/nothing"  # nothing listens on port 1
    code, out, err = finish(processes(syncs, home, url, "sync"), timeout=120)
    assert code == 1 and out == ""
    assert err.startswith(f"rostersync: cannot open the Dagster instance of DAGSTER_HOME {home}: ")
    assert err.count("\n") == 1 and "port 1 failed" in err and "s3cret" not in err, err
    assert list(home.iterdir()) == [home / "dagster.yaml"]


def test_the_scheme_check_reads_every_way_dagster_yaml_names_postgres():
    url = {"postgres_url": {"env": "URL"}}
    parts = {"postgres_db": {"username": "rs", "hostname": "db", "db_name": "dagster"}}
    assert scheme_problems({"storage": {"postgres": url}}, {"URL": "postgresql+psycopg2://rs@db/d"}) == []
    assert scheme_problems({"storage": {"sqlite": {"base_dir": "x"}}}, {}) == []
    # postgres_db without a scheme is postgresql://, i.e. psycopg 3 with SQLAlchemy 2.1
    [problem] = scheme_problems({"storage": {"postgres": parts}}, {})
    assert (
        problem.startswith("storage.postgres.postgres_db.scheme uses postgresql://")
        and "psycopg 3" in problem
    )
    fixed = {"postgres_db": {**parts["postgres_db"], "scheme": "postgresql+psycopg2"}}
    assert scheme_problems({"storage": {"postgres": fixed}}, {}) == []
    split = {
        name: {
            "module": f"dagster_postgres.{name}",
            "class": "X",
            "config": {"postgres_url": "postgresql://x@y/z"},
        }
        for name in ("run_storage", "event_log_storage", "schedule_storage")
    }
    problems = scheme_problems(split, {})
    assert [problem.split(" ")[0] for problem in problems] == [
        "run_storage.config.postgres_url",
        "event_log_storage.config.postgres_url",
        "schedule_storage.config.postgres_url",
    ]


def test_three_first_starts_at_once_on_a_fresh_dagster_database(databases, tmp_path, monkeypatch):
    """The CLI takes no file lock for a PostgreSQL home: dagster-postgres creates its tables and retries a
    collision, which it recognises with psycopg2 (with psycopg 3 this failed in most tries)."""
    url = database_url(databases("dagster_first"), driver="psycopg2")
    home = deploy_home(tmp_path)
    go = tmp_path / "go"
    code = (  # import Dagster first, say so, wait for the others: then all open the instance together
        "import sys, time, pathlib, dagster\n"
        "from rostersync_pipelines.dagster_home import prepare_home\n"
        "pathlib.Path(sys.argv[1] + '.ready').touch()\n"
        "while not pathlib.Path(sys.argv[2]).exists(): time.sleep(0.01)\n"
        "prepare_home()\n"
    )
    env = {**os.environ, "DAGSTER_HOME": str(home), "DAGSTER_POSTGRES_URL": url}
    starts = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path / str(n)), str(go)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(3)
    ]
    try:
        deadline = time.monotonic() + 120
        while len(list(tmp_path.glob("*.ready"))) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        go.touch()
        results = [(process.wait(timeout=120), process.stderr.read()) for process in starts]
    finally:
        for process in starts:
            if process.poll() is None:
                process.kill()
    assert [code for code, _ in results] == [0, 0, 0], [err[-1500:] for _, err in results]
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", url)
    with open_instance(home) as instance:
        assert instance.get_runs_count() == 0


# whole syncs -------------------------------------------------------------------------------------------
def test_a_sync_with_the_dagster_instance_and_the_state_database_on_postgres(
    tmp_path, dagster_url, schema, processes, monkeypatch
):
    state_url = schema("state")
    syncs = two_syncs(tmp_path, state_url)
    home = deploy_home(tmp_path)
    deploy_text = (home / "dagster.yaml").read_bytes()
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", dagster_url)
    earlier = run_ids(home, "employees", "partners")

    code, out, err = finish(processes(syncs, home, dagster_url, "sync"))
    assert code == 0, err
    first = json.loads(out)
    assert first["employees"]["users"] == {"create": 2} and first["partners"]["users"] == {"create": 2}
    assert syncs.lms() == {"ann": "active", "bob": "active", "pat": "active", "quinn": "active"}

    for sync in ("employees", "partners"):
        [run] = runs_of(home, sync, earlier)
        assert run.is_success and run.job_name == f"{sync}_sync_job"
        # the plan the run applied is the one the state database ties to that run
        assert query(state_url, f"select status, run_id from plans where sync = '{sync}'") == [
            ("applied", run.run_id)
        ]

    code, out, err = finish(processes(syncs, home, dagster_url, "sync"))
    assert code == 0, err
    again = json.loads(out)
    for sync in ("employees", "partners"):
        assert again[sync]["users"] == {} and again[sync]["departments"] == {}, again[sync]
        assert [run.is_success for run in runs_of(home, sync, earlier)] == [True, True]
    assert query(state_url, "select count(*) from journal") == [(6,)]  # 4 people, 2 departments, once each
    # the user's instance was used as it is: not rewritten, no SQLite storage beside it, no marker
    assert (home / "dagster.yaml").read_bytes() == deploy_text
    assert not list(home.rglob("*.db")) and not (home / ".rostersync-ready").exists()


def test_two_different_syncs_at_once_on_one_postgres_state_database(
    databases, tmp_path, schema, processes, monkeypatch
):
    """Two processes, one per sync, on a Dagster database nobody opened yet, one state database and one
    LMS: both finish, and every plan, change and journal line belongs to the sync that made it."""
    dagster = database_url(databases("dagster_two"), driver="psycopg2")
    state_url, lms_url = schema("state"), schema("lms")
    syncs = two_syncs(tmp_path, state_url, lms_url)
    home = deploy_home(tmp_path)
    started = [processes(syncs, home, dagster, "sync", "--sync", name) for name in ("employees", "partners")]
    results = [finish(process) for process in started]
    assert [code for code, _, _ in results] == [0, 0], [err[-2000:] for _, _, err in results]
    assert json.loads(results[0][1])["users"] == {"create": 2}
    assert json.loads(results[1][1])["users"] == {"create": 2}
    assert syncs.lms() == {"ann": "active", "bob": "active", "pat": "active", "quinn": "active"}

    own = {"employees": {"E1", "E2", "ann", "bob"}, "partners": {"P1", "P2", "pat", "quinn"}}
    plans = dict(query(state_url, "select plan_id, sync from plans where status = 'applied'"))
    assert sorted(plans.values()) == ["employees", "partners"]
    for plan_id, sync in plans.items():
        changed = query(state_url, f"select entity, key from plan_changes where plan_id = '{plan_id}'")
        journaled = query(state_url, f"select entity, key, outcome from journal where plan_id = '{plan_id}'")
        people = {key for entity, key in changed if entity == "users"}
        assert people and people <= own[sync], (sync, changed)
        assert {key for entity, key, _ in journaled if entity == "users"} == people
        assert {outcome for _, _, outcome in journaled} == {"applied"}
    assert query(
        state_url, "select count(*) from journal where plan_id not in (select plan_id from plans)"
    ) == [(0,)]
    assert query(state_url, "select count(*) from sync_locks") == [(0,)]  # both locks released
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", dagster)
    for sync in ("employees", "partners"):
        assert [run.is_success for run in runs_of(home, sync)] == [True]


# one run per sync ----------------------------------------------------------------------------------------
def test_two_runs_of_one_sync_at_once_with_lock_wait_apply_once(
    tmp_path, dagster_url, schema, processes, monkeypatch
):
    """Two processes run one sync with ROSTERSYNC_LOCK_WAIT: the second waits for the first and plans
    against what the first wrote, so each change is applied and journaled once."""
    state_url = schema("state")
    syncs = two_syncs(tmp_path, state_url, schema("lms"))
    home = deploy_home(tmp_path)
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", dagster_url)
    earlier = run_ids(home, "employees")
    started = [
        processes(syncs, home, dagster_url, "sync", "--sync", "employees", ROSTERSYNC_LOCK_WAIT="240")
        for _ in range(2)
    ]
    results = [finish(process) for process in started]
    assert [code for code, _, _ in results] == [0, 0], [err[-2000:] for _, _, err in results]
    created = sorted(json.dumps(json.loads(out)["users"]) for _, out, _ in results)
    assert created == sorted(["{}", '{"create": 2}'])  # one applied the changes; the other found nothing left
    assert (
        query(state_url, "select entity, key, count(*) from journal group by 1, 2 having count(*) > 1") == []
    )
    assert query(state_url, "select count(*) from journal where entity = 'users'") == [(2,)]
    assert syncs.lms() == {"ann": "active", "bob": "active"}
    assert [run.is_success for run in runs_of(home, "employees", earlier)] == [True, True]


def test_a_sync_held_by_a_running_run_is_refused_in_one_line_or_waited_for(
    tmp_path, dagster_url, schema, processes, monkeypatch
):
    """The test holds the sync's lock in the PostgreSQL state database, as a running sync does. Without
    ROSTERSYNC_LOCK_WAIT a second run is refused in one line naming the holder; with it, the run waits
    (seen at its planning step in the Dagster run storage) and goes on when the lock is released."""
    from dagster import DagsterEventType

    from rostersync_pipelines.state import StateStore

    state_url = schema("state")
    syncs = two_syncs(tmp_path, state_url)
    home = deploy_home(tmp_path)
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", dagster_url)
    earlier = run_ids(home, "employees")
    store = StateStore(state_url)
    try:
        store.locks.acquire("employees", "the-first-run")
        code, out, err = finish(processes(syncs, home, dagster_url, "sync", "--sync", "employees"))
        lines = [line for line in err.splitlines() if line.startswith("rostersync:")]
        assert code == 1 and len(lines) == 1, err
        assert (
            "sync employees is being run by Dagster run the-first-run" in lines[0] and "Traceback" not in err
        )
        assert query(state_url, "select count(*) from plans") == [(0,)]

        waiting = processes(
            syncs, home, dagster_url, "sync", "--sync", "employees", ROSTERSYNC_LOCK_WAIT="240"
        )
        deadline = time.monotonic() + RUN_TIMEOUT
        at_plan = False
        while not at_plan and time.monotonic() < deadline and waiting.poll() is None:
            time.sleep(0.5)
            with open_instance(home) as instance:
                runs = [run for run in runs_of(home, "employees", earlier) if not run.is_finished]
                for run in runs:
                    starts = instance.get_records_for_run(
                        run.run_id, of_type=DagsterEventType.STEP_START
                    ).records
                    at_plan = at_plan or any(
                        "sync_plan" in (r.event_log_entry.step_key or "") for r in starts
                    )
        assert at_plan and waiting.poll() is None, "the second run never reached its planning step"
        time.sleep(3)
        assert waiting.poll() is None and query(state_url, "select count(*) from plans") == [(0,)]
        store.locks.release("employees", "the-first-run")
        code, out, err = finish(waiting)
        assert code == 0, err
        assert json.loads(out)["users"] == {"create": 2}
    finally:
        store.dispose()
    # the refused run failed in Dagster too, saying why; the one that waited succeeded
    assert [run.is_success for run in runs_of(home, "employees", earlier)] == [False, True]


def test_the_run_queue_dequeues_one_run_per_sync(tmp_path, dagster_url, monkeypatch):
    """The daemon's real queue logic on the deploy file's instance (only the launcher is a recorder): a
    queued run of a sync waits while another run of that sync is in progress — one the CLI started in its
    own process, then one the queue launched — while another sync's run goes."""
    from dagster import DagsterEvent, DagsterEventType, DagsterRunStatus
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import EmptyWorkspaceTarget
    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

    from rostersync_pipelines.config import load_config
    from rostersync_pipelines.defs import cli_runs
    from rostersync_pipelines.defs.build import build_definitions

    syncs = two_syncs(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", dagster_url)
    monkeypatch.setenv("ROSTERSYNC_CONFIG", str(syncs.config))
    monkeypatch.setattr(cli_runs, "execute_run", lambda job, run, instance, raise_on_error: run)
    defs = build_definitions(load_config(syncs.config))
    home = deploy_home(tmp_path, MOCK_LAUNCHER)
    with open_instance(home) as instance:
        context = WorkspaceProcessContext(instance, EmptyWorkspaceTarget())
        daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)

        def create(sync: str):  # created exactly as the CLI creates its runs: job origin, tags
            return cli_runs.run_job(defs, f"{sync}_sync_job", instance, {})

        def event(run, kind: DagsterEventType) -> None:
            instance.report_dagster_event(DagsterEvent(kind.value, job_name=run.job_name), run_id=run.run_id)

        def status(run) -> DagsterRunStatus:
            return instance.get_run_by_id(run.run_id).status

        def launched() -> set[str]:
            return {run.run_id for run in instance.run_launcher.queue()}

        cli_run = create("employees")
        assert cli_run.tags[SYNC_TAG] == "employees"
        event(cli_run, DagsterEventType.RUN_START)  # the CLI's in-process run is running
        queued, other = create("employees"), create("partners")
        for run in (queued, other):
            instance.submit_run(run.run_id, context.create_request_context())
            assert status(run) == DagsterRunStatus.QUEUED
        list(daemon.run_iteration(context))
        assert launched() == {other.run_id} and status(queued) == DagsterRunStatus.QUEUED

        event(cli_run, DagsterEventType.RUN_SUCCESS)
        later = create("employees")
        instance.submit_run(later.run_id, context.create_request_context())
        list(daemon.run_iteration(context))
        assert launched() == {other.run_id, queued.run_id}  # the first in the queue, and only it
        assert status(later) == DagsterRunStatus.QUEUED
        list(daemon.run_iteration(context))
        assert status(later) == DagsterRunStatus.QUEUED  # `queued` is starting: still one per sync

        event(queued, DagsterEventType.RUN_SUCCESS)
        list(daemon.run_iteration(context))
        assert launched() == {other.run_id, queued.run_id, later.run_id}


def test_syncs_that_start_together_make_their_lms_pool_once(dagster_url, tmp_path, monkeypatch):
    """Dagster makes a pool's row at its first claim, and on PostgreSQL two first claims at once fail one
    run ("current transaction is aborted"); the plan step makes it first, and a lost race there is harmless."""
    import threading

    import dagster as dg

    from rostersync_pipelines.defs.pools import ensure_pool

    home = deploy_home(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", dagster_url)
    pool = f"lms/talentlms/race-{uuid.uuid4().hex[:8]}.talentlms.com"
    with dg.DagsterInstance.get() as instance:  # its tables made, as for any run that reaches a plan step
        assert instance.event_log_storage.supports_global_concurrency_limits
    errors: list[BaseException] = []
    gate = threading.Barrier(6)

    def first_plan() -> None:
        with dg.DagsterInstance.get() as instance:
            gate.wait(timeout=60)
            try:
                ensure_pool(instance, pool)
            except BaseException as error:  # noqa: BLE001 - every failure is the finding
                errors.append(error)

    threads = [threading.Thread(target=first_plan) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    with dg.DagsterInstance.get() as instance:
        [limit] = [limit for limit in instance.event_log_storage.get_pool_limits() if limit.name == pool]
        assert limit.limit == 1 and limit.from_default
        claim = instance.event_log_storage.claim_concurrency_slot(pool, "a-run", "a_step")
        assert claim.is_claimed  # the row a step's claim finds, with its one slot
        assert not instance.event_log_storage.claim_concurrency_slot(pool, "b-run", "b_step").is_claimed
        instance.event_log_storage.free_concurrency_slots_for_run("a-run")
        instance.event_log_storage.free_concurrency_slots_for_run("b-run")
