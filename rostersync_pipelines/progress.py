"""Progress of a long apply: a line in the run log now and then, and a bar on a terminal.

A first load of a million people runs for minutes; a person watching the Dagster run log or the terminal
should see it move rather than wonder whether it hangs.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

LOG_EVERY_SECONDS = 10.0


def reporter(log: Callable[[str], None], stream=None) -> Callable[[int, int], None]:
    stream = stream if stream is not None else sys.stderr
    bar = stream.isatty() if hasattr(stream, "isatty") else False
    started = time.monotonic()
    last = [started]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if bar and total:
            width = 30
            filled = int(width * done / total)
            stream.write(f"\r  applying [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,}")
            stream.write("\n" if done >= total else "")
            stream.flush()
        if now - last[0] >= LOG_EVERY_SECONDS or (done >= total and now - started >= LOG_EVERY_SECONDS):
            rate = done / max(now - started, 1e-9)
            log(f"applied {done:,} of {total:,} changes ({rate:,.0f} per second)")
            last[0] = now

    return report
