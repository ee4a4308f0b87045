"""For the browser test: a demo sync that held changes and met a conflict, and a real dagster-webserver.

The webserver is started from the repo as `make ui` starts Dagster (pyproject's code location `rostersync`),
on 127.0.0.1 and a free port, against the test's own DAGSTER_HOME and config, and stopped by its process id.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
DEMO_USERS = REPO / "data" / "demo" / "users.csv"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTANCE_YAML = """telemetry:
  enabled: false
run_coordinator:
  module: dagster.core.run_coordinator
  class: DefaultRunCoordinator
"""
LEAVERS = 41  # people gone from the export: more than max_deactivations (10 %), so deactivations are held


def chromium_missing() -> str | None:
    """Why the browser test cannot run here, or None."""
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is not installed (Debian package chromium; `make test` installs it as root)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the python package playwright is not installed (pip install -e '.[test]')"
    return None


def write_users_with_leavers_and_a_conflict(path: Path) -> dict:
    """The demo export after some people left, one title changed, one person moved, and a newcomer who
    carries a leaver's email under another employee id: a conflict, never a guess."""
    users = pd.read_csv(DEMO_USERS, dtype=str, keep_default_na=False)
    active = users[(users["Status"] == "Active") & (users["TerminationDate"] == "") & (users["Login"] != "")]
    active = active[active["Company"] == "Northwind"]
    managers = set(users["ManagerLogin"]) | set(users["FunctionalManagerLogin"])
    leavers = active[~active["Login"].isin(managers)].tail(LEAVERS)
    users = users.drop(leavers.index)
    users.loc[users["Login"] == "zpatel", "Title"] = "Senior Sales Engineer"
    users.loc[users["Login"] == "nmuller", "DepartmentCode"] = "SALES-EMEA"
    newcomer = leavers.head(1).assign(EmployeeId="E09999", Login="zed.newcomer", FirstName="Zed")
    pd.concat([users, newcomer]).to_csv(path, index=False)
    return {"newcomer": "zed.newcomer", "taken_email": newcomer["WorkEmail"].iloc[0]}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def webserver(dagster_home: Path, config: Path, log: Path):
    """dagster-webserver serving the project; yields its base URL once the code location has loaded."""
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home), "ROSTERSYNC_CONFIG": str(config)}
    binary = shutil.which("dagster-webserver", path=str(Path(sys.executable).parent))
    with log.open("w") as out:
        process = subprocess.Popen(
            [binary, "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_loaded(base, process, log)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_loaded(base: str, process: subprocess.Popen, log: Path, seconds: float = 180) -> None:
    query = json.dumps(
        {
            "query": "{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }"
        }
    ).encode()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dagster-webserver exited: {log.read_text()[-2000:]}")
        try:
            request = urllib.request.Request(
                f"{base}/graphql", data=query, headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=5) as answer:
                nodes = json.loads(answer.read())["data"]["repositoriesOrError"].get("nodes") or []
            if any(node["location"]["name"] == "rostersync" for node in nodes):
                return
        except OSError:
            pass
        time.sleep(1)
    raise RuntimeError(
        f"dagster-webserver did not load the code location in {seconds:.0f} s: {log.read_text()[-2000:]}"
    )
