"""Values between assets, stored per run: a run reads back what it wrote itself, never another run's.

Dagster's default IO manager keeps one file per asset for everyone, so two runs of a sync (a scheduled sync
and a preview from the UI) could apply each other's plans. Here each run writes under its own folder; a
step that did not compute its input in this run (an asset materialized alone in the UI) reads the latest
materialization's own run folder. These files are full copies of sources and plans, i.e. personal data:
`prune` deletes run folders older than `state.retention_days`. Frames go to Parquet where that is exact
(defs/columnar.py): a million-row table is written and read at disk speed, not one Python object per cell.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import dagster as dg

from rostersync_pipelines.defs import columnar

RUNS_FOLDER = "rostersync_runs"
IO_PATH_ENV = "ROSTERSYNC_IO_PATH"  # a folder every process of a run can read: shared storage on a cluster


def storage_root() -> Path:
    """ROSTERSYNC_IO_PATH when set (steps on dask workers write where the next step, elsewhere, reads),
    else DAGSTER_HOME/storage."""
    shared = os.environ.get(IO_PATH_ENV, "").strip()
    base = Path(shared) if shared else Path(os.environ.get("DAGSTER_HOME") or ".dagster_home") / "storage"
    return base / RUNS_FOLDER


class RunScopedIOManager(dg.IOManager):
    def __init__(self, root: Path | None = None):
        self.root = root

    def _path(self, run_id: str, key: dg.AssetKey) -> Path:
        return (self.root or storage_root()) / run_id / Path(*key.path).with_suffix(".pickle")

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        path = self._path(context.run_id, context.asset_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        columnar.dump(obj, partial, path.name)  # the pickle, renamed once its Parquet files are written
        os.replace(partial, path)

    def load_input(self, context: dg.InputContext):
        key = context.asset_key
        path = self._path(context.upstream_output.run_id, key) if context.upstream_output else None
        if path is None or not path.exists():
            event = context.instance.get_latest_materialization_event(key)
            if event is None:
                raise dg.Failure(f"{key.to_user_string()} has never been materialized; materialize it first")
            path = self._path(event.run_id, key)
            if not path.exists():
                raise dg.Failure(
                    f"the stored value of {key.to_user_string()} (run {event.run_id}) was pruned after the "
                    "retention period; materialize it again"
                )
        return columnar.load(path)


def prune(retention_days: float, root: Path | None = None) -> int:
    """Delete run folders older than the retention period; returns how many went."""
    root = root or storage_root()
    if not root.is_dir():
        return 0
    cutoff = time.time() - retention_days * 86400
    removed = 0
    for folder in root.iterdir():
        if folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


@dg.io_manager
def run_scoped_io_manager(_init_context) -> RunScopedIOManager:
    return RunScopedIOManager()
