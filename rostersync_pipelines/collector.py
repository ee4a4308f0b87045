"""Python's cycle collector, set for processes that hold millions of small objects.

By default the collector runs after every 700 new containers, and every few runs it walks every object
the process holds. A sync of a million people holds tens of millions (a dict per planned change, a string
per cell), so the collector walked them over and over: a sixth of a first load's CPU at 100k people,
for almost no garbage, since nearly all of it is freed by reference counting as it goes. Collecting the
young generation every 100,000 containers keeps the walks rare; cycles are still collected, in larger
batches. The CLI also freezes what the imports made (Dagster and its libraries live for the whole process),
so the collector's full walks skip them.
"""

from __future__ import annotations

import gc

YOUNG, MIDDLE, OLD = 100_000, 50, 100


def collect_in_bulk() -> None:
    """Rare collections, for the steps of a run (they hold the sync's tables and plan)."""
    if gc.get_threshold()[0] < YOUNG:
        gc.set_threshold(YOUNG, MIDDLE, OLD)


def freeze_imports() -> None:
    """Move everything alive now out of the collector's walks: called once the CLI has loaded Dagster
    and built the definitions, whose objects live as long as the process does."""
    gc.collect()
    gc.freeze()
