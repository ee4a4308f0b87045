"""`dagster-daemon run` for real (issue 12): the changes sensor ticks under the daemon, its runs are queued,
dequeued one per sync by the run queue of the repo's dagster.yaml, launched in the code location of the
repo's workspace.yaml, and they sync the embedded LMS; a SIGTERM then stops the daemon and all it started.

The daemon, its code server and its runs are real processes in their own process group, on a copy of the
demo data in a temporary folder. What they did is read back from the instance of the temporary DAGSTER_HOME,
as the UI reads it. Everything waits on one deadline, and every failure shows the daemon's log.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import dagster as dg
import psutil
import sqlalchemy as sa
import yaml
from dagster._core.scheduler.instigation import InstigatorStatus, InstigatorType, TickStatus

from rostersync_pipelines.defs.sensors import sensor_name
from rostersync_pipelines_tests.cli_processes import BIN
from rostersync_pipelines_tests.conftest import REPO

SYNC = "employees"
SENSOR = sensor_name(SYNC)
# The whole test, from starting the daemon: two runs one after the other take 60 s on a quiet machine and
# 170 s on one with a load of 10 on 2 cores.
TIMEOUT_SECONDS = 360
# The sensor daemon looks at its sensors every 5 s at most, so a shorter `watch:` would tick no sooner.
WATCH = "5s"
NEW_YEAR = "0 0 1 1 *"  # a schedule the daemon runs that fires no run during the test
FINISHED_TICK = (TickStatus.SUCCESS, TickStatus.SKIPPED, TickStatus.FAILURE)
FINISHED_RUN = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


class Daemon:
    """`dagster-daemon run` as a service manager starts it: its own session, its log in a file."""

    def __init__(self, folder: Path, home: Path, config: Path):
        self.log_file = folder / "daemon.log"
        self.deadline = time.monotonic() + TIMEOUT_SECONDS
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "ROSTERSYNC_CONFIG": str(config),
            "PYTHONUNBUFFERED": "1",
        }
        with self.log_file.open("wb") as log:
            self.process = subprocess.Popen(
                [str(BIN / "dagster-daemon"), "run", "-w", str(REPO / "workspace.yaml")],
                cwd=folder,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, whose pgid is its pid
            )

    def log(self, last: int = 150) -> str:
        lines = self.log_file.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(lines[-last:])

    def fail(self, why: str) -> AssertionError:
        return AssertionError(f"{why}\n--- the last lines of the daemon's log ---\n{self.log()}")

    def wait_for(self, what: str, found, running: bool = True):
        """found() until it returns something; the deadline passing (or the daemon dying) fails the test."""
        while time.monotonic() < self.deadline:
            value = found()
            if value:
                return value
            if running and self.process.poll() is not None:
                raise self.fail(f"the daemon exited with {self.process.returncode} while waiting for {what}")
            time.sleep(1)
        raise self.fail(f"no {what} within {TIMEOUT_SECONDS} s of starting the daemon")

    def children(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)

    def left(self, seen: list[psutil.Process]) -> list[str]:
        """What still lives of the daemon's group and of the children seen before (a zombie has exited)."""
        alive = []
        for process in [*psutil.process_iter(), *seen]:
            try:
                if process.status() == psutil.STATUS_ZOMBIE or not process.is_running():
                    continue
                if process in seen or os.getpgid(process.pid) == self.process.pid:
                    alive.append(f"{process.pid} {' '.join(process.cmdline())[:200]}")
            except (ProcessLookupError, psutil.NoSuchProcess):
                continue
        return sorted(set(alive))

    def kill(self) -> None:
        """Whatever a failed test left running."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)


def demo_workspace(folder: Path) -> Path:
    """The repo's demo config on a copy of the demo data, the state and the embedded LMS in SQLite files."""
    data = folder / "data"
    data.mkdir()
    for name in ("users.csv", "departments.xlsx"):
        shutil.copy(REPO / "data" / "demo" / name, data / name)
    raw = yaml.safe_load((REPO / "rostersync.yaml").read_text(encoding="utf-8"))
    raw["state"] = {"url": f"sqlite:///{folder / 'state.db'}", "plans_dir": str(folder / "plans")}
    sync = raw["syncs"][SYNC]
    sync["sources"]["users"]["path"] = str(data / "users.csv")
    sync["sources"]["departments"]["path"] = str(data / "departments.xlsx")
    sync["target"] = {"kind": "embedded", "url": f"sqlite:///{folder / 'lms.db'}"}
    sync["watch"] = WATCH
    sync["schedule"] = [NEW_YEAR]
    config = folder / "rostersync.yaml"
    config.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return config


def ticks(instance: dg.DagsterInstance, sensor: str = SENSOR) -> list:
    """The sensor's finished ticks, oldest first (its state exists from the daemon's first look at it)."""
    states = [
        state
        for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
        if state.instigator_name == sensor
    ]
    if not states:
        return []
    [state] = states
    found = instance.get_ticks(state.instigator_origin_id, state.selector_id, statuses=list(FINISHED_TICK))
    return sorted(found, key=lambda tick: tick.timestamp)


def status_of(instance: dg.DagsterInstance, run_id: str, wanted: tuple):
    def status():
        run = instance.get_run_by_id(run_id)
        return run.status if run.status in wanted else None

    return status


def run_errors(instance: dg.DagsterInstance, run_id: str) -> str:
    """What a failed run says about why: a run that cannot load its job prints nothing to the daemon's log."""
    said = []
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        error = getattr(event.event_specific_data, "error", None) if event else None
        if entry.level >= logging.ERROR or error is not None:
            said.append(entry.message + (f"\n{error.to_string()}" if error is not None else ""))
    return "\n".join(said)[-6000:]


def schedule_status(instance: dg.DagsterInstance):
    return [
        state.status
        for state in instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE)
        if state.instigator_name == f"{SYNC}_schedule"
    ]


def lms_user(folder: Path, login: str) -> tuple:
    engine = sa.create_engine(f"sqlite:///{folder / 'lms.db'}")
    try:
        with engine.connect() as connection:
            return tuple(
                connection.execute(
                    sa.text("select first_name, last_name, status from users where login = :login"),
                    {"login": login},
                ).one()
            )
    finally:
        engine.dispose()


def test_the_daemon_syncs_a_changed_file_and_stops_cleanly(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    config = demo_workspace(tmp_path)
    users = tmp_path / "data" / "users.csv"
    # the storage is created here, before the daemon and its code server open the same home at once
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_runs_count() == 0
        daemon = Daemon(tmp_path, home, config)
        try:
            # 1. The first tick has no cursor to compare with: it is a "first look", which syncs.
            [first] = daemon.wait_for(f"first tick of {SENSOR}", lambda: ticks(instance)[:1])
            if first.status != TickStatus.SUCCESS or len(first.run_ids) != 1:
                raise daemon.fail(f"the first tick should request one run: {first.status} {first.tick_data}")
            first_run = instance.get_run_by_id(first.run_ids[0])
            assert first_run.job_name == f"{SYNC}_sync_job"
            assert first_run.tags["rostersync/sync"] == SYNC  # what the queue's one-run-per-sync limit counts
            assert "first look" in first_run.tags["rostersync/changed"]

            # 2. A person is renamed in the HR export, while that first run is likely still queued or running.
            text = users.read_text(encoding="utf-8")
            assert text.count(",Sofia,Lindqvist,") == 1
            renamed = users.with_suffix(".new")
            renamed.write_text(text.replace(",Sofia,Lindqvist,", ",Sofia Maria,Lindqvist,"), encoding="utf-8")
            os.replace(renamed, users)  # as an export lands: the sensor never sees half a file

            def changed_tick():
                return [
                    tick
                    for tick in ticks(instance)
                    if tick.run_ids
                    and "users.csv changed"
                    in instance.get_run_by_id(tick.run_ids[0]).tags.get("rostersync/changed", "")
                ][:1]

            [change] = daemon.wait_for("tick that requests a run for the changed users.csv", changed_tick)
            assert change.tick_id != first.tick_id and len(change.run_ids) == 1
            one_id, two_id = first.run_ids[0], change.run_ids[0]
            status = daemon.wait_for(
                f"end of the first run {one_id}", status_of(instance, one_id, FINISHED_RUN)
            )
            if status != dg.DagsterRunStatus.SUCCESS:
                raise daemon.fail(f"run {one_id} ended {status}:\n{run_errors(instance, one_id)}")
            started = (dg.DagsterRunStatus.STARTED, *FINISHED_RUN)
            daemon.wait_for(f"start of the second run {two_id}", status_of(instance, two_id, started))

            # 3. SIGTERM, as systemd or `docker stop` sends it, while the second run is likely still going:
            # the daemon exits at once, its code server lets that run finish, then exits too.
            seen = daemon.children()
            assert any("api grpc" in " ".join(child.cmdline()) for child in seen), "no code server child"
            daemon.process.send_signal(signal.SIGTERM)
            try:
                code = daemon.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                raise daemon.fail("the daemon did not exit within 60 s of SIGTERM") from None
            if code != 0:
                raise daemon.fail(f"the daemon exited with {code} on SIGTERM")
            assert "Daemon threads shut down" in daemon.log()
            status = daemon.wait_for(
                f"end of the second run {two_id}", status_of(instance, two_id, FINISHED_RUN), running=False
            )
            if status != dg.DagsterRunStatus.SUCCESS:
                raise daemon.fail(f"run {two_id} ended {status}:\n{run_errors(instance, two_id)}")
            daemon.wait_for("end of every process the daemon started", lambda: not daemon.left(seen), False)

            # 4. The LMS has the new name, and the queue never ran the two runs of the sync at once.
            assert lms_user(tmp_path, "slindqvist") == ("Sofia Maria", "Lindqvist", "active")
            one, two = (instance.get_run_record_by_id(run_id) for run_id in (one_id, two_id))
            assert two.start_time >= one.end_time, "the second run of a sync started before the first ended"
            later = [tick for tick in ticks(instance) if tick.timestamp > change.timestamp]
            assert all(not tick.run_ids for tick in later), "a change should start one run, not one per tick"
            assert not [tick for tick in ticks(instance) if tick.status == TickStatus.FAILURE]
            # the schedule ran too, as declared in code: nobody turned it on
            assert schedule_status(instance) == [InstigatorStatus.DECLARED_IN_CODE]
        finally:
            if daemon.process.poll() is None or daemon.left([]):
                daemon.kill()
