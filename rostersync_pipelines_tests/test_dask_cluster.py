"""A sync on a real dask cluster: a `dask scheduler` and two `dask worker` processes, the Dagster instance and
the state database on PostgreSQL, values between steps in a shared folder, runs started by `dagster job
execute` as an operator would (ROSTERSYNC_DASK_SCHEDULER set), and an LMS two syncs share kept to one apply
at a time by its pool.

The workers run with `--no-nanny`, so the pid a step reports is the worker process this test started. The
shared LMS of the pool test slows every user it inserts (a PostgreSQL trigger) and logs when, so whether two
applies overlapped is read from the LMS itself, not only from Dagster's events.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from rostersync_pipelines.defs import columnar
from rostersync_pipelines.defs.dask_steps import WORKER_PID
from rostersync_pipelines.defs.pools import target_pool
from rostersync_pipelines.targets.embedded import EmbeddedLms
from rostersync_pipelines_tests.conftest import _POSTGRES_SKIP, POSTGRES_SERVER_URL, REPO

pytestmark = pytest.mark.skipif(bool(_POSTGRES_SKIP), reason=_POSTGRES_SKIP or "")

BIN = Path(sys.executable).parent
RUN_TIMEOUT = 420  # seconds for one `dagster job execute` on a busy two-core machine
SLOW_INSERT = 0.25  # seconds the shared LMS spends on each user it inserts
PEOPLE = 20  # users each of the two pool syncs creates per round: ~5 s of apply each
SHARED_FIELDS = {"user_unique_key": "PersonId", "login": "Login", "email": "Email", "first_name": "FirstName"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Databases:
    """Fresh databases on the test server, each created here and dropped afterwards."""

    def __init__(self):
        self.prefix = f"rs_dask_{uuid.uuid4().hex[:10]}"
        self.server = sa.make_url(POSTGRES_SERVER_URL)
        self.admin = sa.create_engine(POSTGRES_SERVER_URL, isolation_level="AUTOCOMMIT")
        self.names: list[str] = []

    def create(self, purpose: str) -> str:
        name = f"{self.prefix}_{purpose}"
        with self.admin.connect() as connection:
            connection.execute(sa.text(f'create database "{name}"'))
        self.names.append(name)
        return name

    def url(self, name: str, driver: str = "postgresql+psycopg") -> str:
        return self.server.set(drivername=driver, database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self.admin.connect() as connection:
            for name in self.names:
                connection.execute(sa.text(f'drop database if exists "{name}" with (force)'))
        self.admin.dispose()


class Cluster:
    """`dask scheduler` and two `dask worker`s, each in its own process group, stopped in `stop`."""

    def __init__(self, folder: Path, env: dict):
        self.folder, self.env, self.processes = folder, env, []
        self.address = f"tcp://127.0.0.1:{_free_port()}"

    def _start(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            [str(BIN / "dask"), *args],
            env=self.env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append((process, log))
        return process

    def start(self) -> None:
        port = self.address.rsplit(":", 1)[1]
        self._start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard")
        common = ["--nthreads", "1", "--no-nanny", "--no-dashboard", "--host", "127.0.0.1"]
        self.workers = [self._start(f"worker{n}", "worker", self.address, *common) for n in (1, 2)]
        from dask.distributed import Client

        deadline = time.monotonic() + 120
        while True:
            try:
                with Client(self.address, timeout=10) as client:
                    client.wait_for_workers(2, timeout=max(1, deadline - time.monotonic()))
                return
            except (OSError, TimeoutError):
                if time.monotonic() > deadline or any(p.poll() is not None for p, _ in self.processes):
                    raise RuntimeError(f"the dask cluster did not start; see {self.folder}/*.log") from None
                time.sleep(1)

    @property
    def worker_pids(self) -> set[int]:
        return {worker.pid for worker in self.workers}

    def stop(self) -> None:
        for process, _ in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process, log in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=15)
            log.close()


SLOW_LMS_SQL = f"""
create table write_log (login text, at timestamptz default clock_timestamp());
create function slow_insert() returns trigger language plpgsql as $$
begin
  perform pg_sleep({SLOW_INSERT});
  insert into write_log (login) values (new.login);
  return new;
end $$;
create trigger slow_insert before insert on users for each row execute function slow_insert();
"""


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    if _POSTGRES_SKIP:
        pytest.skip(_POSTGRES_SKIP)
    folder = tmp_path_factory.mktemp("dask")
    databases = Databases()
    cluster = None
    try:
        dagster_db, state_db = databases.create("dagster"), databases.create("state")
        lms_db, shared_lms_db = databases.create("lms"), databases.create("shared_lms")
        home, shared = folder / "dagster_home", folder / "shared"
        home.mkdir()
        instance = {
            "telemetry": {"enabled": False},
            # SQLAlchemy 2.1 reads plain postgresql:// as psycopg 3, whose server-side binding refuses
            # dagster-postgres's `NOTIFY run_events, %(id)s`: its URL names psycopg2
            "storage": {"postgres": {"postgres_url": databases.url(dagster_db, "postgresql+psycopg2")}},
            "concurrency": {"pools": {"default_limit": 1}},
        }
        (home / "dagster.yaml").write_text(yaml.safe_dump(instance), encoding="utf-8")
        shared_lms = databases.url(shared_lms_db)
        lms = EmbeddedLms(shared_lms)  # creates the LMS's tables, then slows and logs every insert
        with lms.engine.begin() as connection:
            connection.exec_driver_sql(SLOW_LMS_SQL)
        lms.dispose()
        config = _config(folder, databases.url(state_db), databases.url(lms_db), shared_lms)
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "ROSTERSYNC_CONFIG": str(config),
            "ROSTERSYNC_IO_PATH": str(shared),
            "ROSTERSYNC_DASK_SCHEDULER": "",
        }
        cluster = Cluster(folder, env)
        env["ROSTERSYNC_DASK_SCHEDULER"] = cluster.address
        cluster.start()
        yield Deployment(folder, home, shared, env, cluster, databases.url(lms_db), shared_lms)
    finally:
        if cluster is not None:
            cluster.stop()
        databases.drop_all()


def _config(folder: Path, state_url: str, lms_url: str, shared_lms_url: str) -> Path:
    demo = yaml.safe_load((REPO / "rostersync.yaml").read_text(encoding="utf-8"))["syncs"]["employees"]
    for source in demo["sources"].values():
        source["path"] = str(REPO / source["path"])
    demo["target"] = {"kind": "embedded", "url": lms_url}
    demo.pop("schedule", None)
    shared = {
        "fields": {"users": SHARED_FIELDS},
        "policies": {"missing_users": "ignore", "missing_users_scope": "linked"},
        "target": {"kind": "embedded", "url": shared_lms_url},
    }
    syncs = {"employees": demo}
    for name in ("alpha", "beta"):
        syncs[name] = {**shared, "sources": {"users": {"kind": "file", "path": str(folder / f"{name}.csv")}}}
    raw = {"state": {"url": state_url, "plans_dir": str(folder / "plans")}, "syncs": syncs}
    path = folder / "rostersync.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


class Deployment:
    def __init__(self, folder, home, shared, env, cluster, lms_url, shared_lms_url):
        self.folder, self.home, self.shared, self.env = folder, home, shared, env
        self.cluster, self.lms_url, self.shared_lms_url = cluster, lms_url, shared_lms_url

    def execute(self, job: str) -> subprocess.Popen:
        """`dagster job execute` as an operator runs it, in its own process group."""
        command = [
            str(BIN / "dagster"),
            "job",
            "execute",
            "-m",
            "rostersync_pipelines.definitions",
            "-j",
            job,
        ]
        log = open(self.folder / f"{job}-{uuid.uuid4().hex[:6]}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            command, env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        process.log = log
        return process

    def wait(self, process: subprocess.Popen) -> str:
        try:
            process.wait(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)
        finally:
            process.log.close()
        output = Path(process.log.name).read_text(encoding="utf-8", errors="replace")
        assert process.returncode == 0, output[-4000:]
        return output

    def instance(self):
        import dagster as dg
        from dagster._core.instance.ref import InstanceRef

        return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(self.home)))


def _latest_run(instance, job: str):
    import dagster as dg

    runs = instance.get_runs(filters=dg.RunsFilter(job_name=job), limit=1)
    assert runs, f"no run of {job} in the instance"
    return runs[0]


def _where_steps_ran(instance, run_id: str) -> dict[str, int]:
    """step key -> pid of the process that ran it, from the engine events the dask steps record."""
    found = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if (
            event
            and event.is_engine_event
            and event.step_key
            and WORKER_PID in event.engine_event_data.metadata
        ):
            found[event.step_key] = event.engine_event_data.metadata[WORKER_PID].value
    return found


def _started_steps(instance, run_id: str) -> set[str]:
    return {
        entry.dagster_event.step_key
        for entry in instance.all_logs(run_id)
        if entry.dagster_event and entry.dagster_event.event_type_value == "STEP_START"
    }


def test_a_whole_sync_runs_on_the_workers(deployment):
    submitted = deployment.execute("employees_sync_job")
    deployment.wait(submitted)
    with deployment.instance() as instance:
        run = _latest_run(instance, "employees_sync_job")
        assert run.status.value == "SUCCESS"
        steps = _started_steps(instance, run.run_id)
        where = _where_steps_ran(instance, run.run_id)
    print(f"steps by worker pid: {where}; workers {deployment.cluster.worker_pids}; cli pid {submitted.pid}")
    assert "employees__applied_lms_state" in steps and len(steps) >= 4
    assert set(where) == steps, "every step that started reported the worker that ran it"
    assert set(where.values()) <= deployment.cluster.worker_pids, "no step ran outside the two workers"
    assert submitted.pid not in where.values()
    assert len(set(where.values())) == 2, f"both workers ran steps: {where}"

    run_folder = deployment.shared / "rostersync_runs" / run.run_id / "employees"
    stored = {path.name for path in run_folder.glob("*.pickle")}
    assert {"source_users.pickle", "users.pickle", "sync_plan.pickle", "applied_lms_state.pickle"} <= stored
    assert not (deployment.home / "storage" / "rostersync_runs").exists(), "nothing went to DAGSTER_HOME"
    planned_users = columnar.load(run_folder / "users.pickle")
    applied = columnar.load(run_folder / "applied_lms_state.pickle")

    lms = EmbeddedLms(deployment.lms_url)
    try:
        users = lms.read_state().users
    finally:
        lms.dispose()
    assert applied["failed"] == []
    assert len(users) == applied["applied"]["users create"] > 200, "the LMS has the people the plan created"
    assert set(users["login"]) <= set(planned_users["login"])


def _write_people(folder: Path, sync: str, round_name: str) -> None:
    rows = [
        f"{sync}-{round_name}-{n},{sync}{round_name}{n},{sync}{round_name}{n}@corp.example,P{n}"
        for n in range(PEOPLE)
    ]
    (folder / f"{sync}.csv").write_text(
        "PersonId,Login,Email,FirstName\n" + "\n".join(rows) + "\n", encoding="utf-8"
    )


def _write_windows(url: str, round_name: str) -> dict[str, tuple[float, float, int]]:
    """sync -> (first insert, last insert, inserts) of this round, as the LMS's trigger logged them."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text("select login, extract(epoch from at) from write_log")).all()
    finally:
        engine.dispose()
    windows = {}
    for sync in ("alpha", "beta"):
        times = [float(at) for login, at in rows if login.startswith(f"{sync}{round_name}")]
        windows[sync] = (min(times), max(times), len(times)) if times else (0.0, 0.0, 0)
    return windows


def _step_window(instance, run_id: str, step_key: str) -> tuple[float, float]:
    times = {
        entry.dagster_event.event_type_value: entry.timestamp
        for entry in instance.all_logs(run_id)
        if entry.dagster_event and entry.step_key == step_key
    }
    return times["STEP_START"], times["STEP_SUCCESS"]


def _apart(first: tuple, second: tuple) -> bool:
    return first[1] < second[0] or second[1] < first[0]


@pytest.mark.parametrize("limit", [None, 2], ids=["default-limit-1", "limit-2"])
def test_two_syncs_into_one_lms_apply_one_at_a_time(deployment, limit):
    """Two syncs into one LMS started together on the cluster: with the pool's limit at 1 (the instance's
    default_limit) their applies never overlap and one waits; at 2 they do overlap, so the check would see it."""
    from rostersync_pipelines.config import load_config

    round_name = "r1" if limit is None else f"r{limit}"
    pool = target_pool(load_config(deployment.env["ROSTERSYNC_CONFIG"]).syncs["alpha"].target)
    assert pool == f"lms/embedded/127.0.0.1:5432/{sa.make_url(deployment.shared_lms_url).database}"
    if limit is not None:
        with deployment.instance() as instance:
            instance.event_log_storage.set_concurrency_slots(pool, limit)
    for sync in ("alpha", "beta"):
        _write_people(deployment.folder, sync, round_name)

    started = [deployment.execute(f"{sync}_sync_job") for sync in ("alpha", "beta")]
    for process in started:
        deployment.wait(process)

    applies, waited, where = {}, [], set()
    with deployment.instance() as instance:
        for sync in ("alpha", "beta"):
            run = _latest_run(instance, f"{sync}_sync_job")
            assert run.status.value == "SUCCESS"
            applies[sync] = _step_window(instance, run.run_id, f"{sync}__applied_lms_state")
            where |= set(_where_steps_ran(instance, run.run_id).values())
            messages = [entry.message for entry in instance.all_logs(run.run_id)]
            if any(f"waits for a slot of pool {pool}" in message for message in messages):
                waited.append(sync)
        assert instance.event_log_storage.get_concurrency_info(pool).claimed_slots == [], "slots released"
    writes = _write_windows(deployment.shared_lms_url, round_name)
    print(f"limit {limit or 'default 1'}: LMS writes {writes}; apply steps {applies}; waited {waited}")
    assert where == deployment.cluster.worker_pids, "both workers ran steps, nothing else did"
    assert writes["alpha"][2] == writes["beta"][2] == PEOPLE

    if limit is None:
        assert _apart(writes["alpha"], writes["beta"]), f"the LMS was written by both at once: {writes}"
        assert _apart(applies["alpha"], applies["beta"]), f"both apply steps ran at once: {applies}"
        assert len(waited) == 1, f"exactly one apply waited for the other's slot: {waited}"
    else:
        assert not _apart(writes["alpha"], writes["beta"]), (
            f"with two slots both applies ran at once: {writes}"
        )
        assert waited == []
