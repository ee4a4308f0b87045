"""Reading the deployment files the way Docker and the Dagster Helm chart read them, for the tests.

No Docker engine or `helm` runs in the suite, so the few rules of theirs that matter are restated here, each
with where it comes from: a Dockerfile's instructions after line continuations, the container args the
chart's dagster-user-deployments template gives the code server, and the `run_coordinator` and
`concurrency` sections its instance template writes into dagster.yaml (chart 1.13: templates
helpers/instance/_run-coordinator.tpl and _concurrency.tpl). Keeping the restatement small keeps it honest:
it maps names, it decides nothing.
"""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

ENV_REFERENCE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
PLACEHOLDER_NAMES = {"ENV", "ENV_NAME"}  # the docs' way of writing "some variable"


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined and comments dropped."""
    instructions, pending = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    starts = [index for index, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    return instructions[starts[-1] :]


def exec_form(arguments: str) -> list[str]:
    """CMD/ENTRYPOINT in JSON (exec) form: the shell form would put /bin/sh -c before the chart's args."""
    parsed = json.loads(arguments)
    assert isinstance(parsed, list), f"not the exec form: {arguments}"
    return parsed


def env_assignments(instructions: list[tuple[str, str]]) -> dict[str, str]:
    found = {}
    for keyword, arguments in instructions:
        if keyword == "ENV":
            found.update(dict(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\S+)", arguments)))
    return found


def dockerignored(patterns: list[str], path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent folders decides."""
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: length + 1]) for length in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.lstrip("!").strip("/").replace("**/", "*")
        if any(fnmatch.fnmatchcase(candidate, glob) for candidate in candidates):
            ignored = not negated
    return ignored


def dockerignore_patterns(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def chart_code_server_args(deployment: dict) -> list[str] | None:
    """The container args of deployment-user.yaml: `dagster api grpc` or `dagster code-server start`."""
    port = str(deployment["port"])
    if deployment.get("dagsterApiGrpcArgs"):
        return ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", port, *deployment["dagsterApiGrpcArgs"]]
    if deployment.get("codeServerArgs"):
        return ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", port, *deployment["codeServerArgs"]]
    return None


_QUEUED_KEYS = {
    "maxConcurrentRuns": "max_concurrent_runs",
    "tagConcurrencyLimits": "tag_concurrency_limits",
    "dequeueIntervalSeconds": "dequeue_interval_seconds",
    "dequeueUseThreads": "dequeue_use_threads",
    "dequeueNumWorkers": "dequeue_num_workers",
}
_POOL_KEYS = {
    "defaultLimit": "default_limit",
    "granularity": "granularity",
    "opGranularityRunBuffer": "op_granularity_run_buffer",
}


def chart_instance_sections(values: dict) -> dict:
    """`run_coordinator` and `concurrency` of the dagster.yaml the chart renders from these values."""
    sections: dict = {}
    coordinator = values.get("dagsterDaemon", {}).get("runCoordinator", {})
    concurrency = values.get("concurrency") or {}
    if coordinator.get("enabled"):
        assert coordinator.get("type") == "QueuedRunCoordinator", "only the queued coordinator is restated"
        queued = (coordinator.get("config") or {}).get("queuedRunCoordinator") or {}
        config = {_QUEUED_KEYS[key]: value for key, value in queued.items() if value not in (None, [], {})}
        if not concurrency.get("enabled") and queued:
            config.setdefault("max_concurrent_runs", -1)  # the chart's "no limit" when none is given
        blocking = queued.get("blockOpConcurrencyLimitedRuns")
        if blocking:
            config["block_op_concurrency_limited_runs"] = {
                "enabled": blocking["enabled"],
                "op_concurrency_slot_buffer": blocking["opConcurrencySlotBuffer"],
            }
        sections["run_coordinator"] = {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
        }
        if config:
            sections["run_coordinator"]["config"] = config
    if concurrency.get("enabled"):
        pools = concurrency.get("pools") or {}
        runs = concurrency.get("runs") or {}
        rendered: dict = {}
        pool_config = {_POOL_KEYS[key]: value for key, value in pools.items() if value is not None}
        if pool_config:
            rendered["pools"] = pool_config
        run_config = {}
        if runs.get("maxConcurrentRuns") is not None:
            run_config["max_concurrent_runs"] = runs["maxConcurrentRuns"]
        if runs.get("tagConcurrencyLimits"):
            run_config["tag_concurrency_limits"] = runs["tagConcurrencyLimits"]
        if run_config:
            rendered["runs"] = run_config
        sections["concurrency"] = rendered
    return sections


def env_names_documented(*files: Path) -> set[str]:
    """Every ${NAME} the config files and docs tell a person to use."""
    names: set[str] = set()
    for file in files:
        names |= set(ENV_REFERENCE.findall(file.read_text(encoding="utf-8")))
    return names - PLACEHOLDER_NAMES
