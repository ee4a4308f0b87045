"""Personal data kept on purpose only: stored copies of sources and plans go after `state.retention_days`.

Dagster's run storage holds full copies of each source and plan (names, emails), and so do the plan files a
person opens; both are pruned after the retention period. The state database keeps no source copies: plans'
changes and the journal are the audit trail.
"""

from __future__ import annotations

import time
from pathlib import Path

from rostersync_pipelines.config import Config
from rostersync_pipelines.defs.io_manager import prune


def prune_personal_data(config: Config) -> int:
    removed = prune(config.state.retention_days)
    folder = Path(config.resolve_path(config.state.plans_dir))
    if folder.is_dir():
        cutoff = time.time() - config.state.retention_days * 86400
        for file in (*folder.glob("*.csv"), *folder.glob("*.parquet"), *folder.glob("*.partial")):
            if file.stat().st_mtime < cutoff:
                file.unlink(missing_ok=True)
                removed += 1
    return removed
