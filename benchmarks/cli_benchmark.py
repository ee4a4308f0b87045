"""`make bench`, whole processes: the `rostersync` command as a user runs it, at 10k / 100k / 1M users.

    python -m benchmarks.cli_benchmark                 # 10k, 100k, 1M
    python -m benchmarks.cli_benchmark --sizes 10000   # any sizes

For each N, in a fresh folder: the first `rostersync sync` into an empty embedded LMS, a no-op `sync`
right after it, and `rostersync plan --json` against an LMS that differs by 1% (benchmarks/dataset.py).
Every command is its own process under `/usr/bin/time -v`, so its wall time and peak RSS are what a user
sees, start-up included. The baseline (benchmarks/cli_baseline.py: read the CSV and the LMS `users`
table with pandas, outer-merge them) runs in the same conditions in the same run, and figures are
reported as ratios against it: the machine is shared, so only ratios compare across runs. CPU seconds
(user + system) are recorded too: on a busy machine they move much less than wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.cli_workspace import load_lms, write_config
from benchmarks.dataset import Files
from benchmarks.measure import DIGEST

SIZES = (10_000, 100_000, 1_000_000)
RESULTS = Path(__file__).resolve().parent / "results"
REPO = RESULTS.parent.parent
BIN = Path(sys.executable).parent
STEPS = ("first sync", "plan --json", "no-op sync")


def timed(command: list[str], env: dict, cwd: Path) -> dict:
    """Wall seconds and peak RSS (MB) of one child process; its stdout, for checks."""
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", *command], env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
    cpu = sum(
        float(re.search(rf"{kind} time \(seconds\): ([\d.]+)", done.stderr).group(1))
        for kind in ("User", "System")
    )
    return {
        "s": round(seconds, 2),
        "cpu_s": round(cpu, 2),
        "rss_mb": round(peak / 1024),
        "stdout": done.stdout,
    }


def measure(n: int, folder: Path, first_sync_only: bool = False) -> dict:
    files = Files(folder)
    for stale in folder.glob("*.db*"):  # a kept folder from an earlier run: start from empty databases
        stale.unlink()
    subprocess.run([sys.executable, "-c", f"import benchmarks.dataset as d, pathlib; "
                    f"d.generate({n}, d.Files(pathlib.Path({str(folder)!r})))"], check=True)  # fmt: skip
    expected = json.loads(files.expected.read_text())
    loaded = folder / "loaded.db"
    load_lms(files, loaded)
    env = os.environ | {"DAGSTER_HOME": str(folder / "dagster_home"), "PYTHONPATH": str(REPO)}
    subprocess.run(
        [sys.executable, "-c", "from rostersync_pipelines.dagster_home import prepare_home; prepare_home()"],
        env=env,
        check=True,
    )  # fmt: skip  (a fresh home, once, untimed)
    first = write_config(files, folder, folder / "first.db", folder / "first-state.db")
    plan = write_config(files, folder, loaded, folder / "loaded-state.db")
    rostersync = str(BIN / "rostersync")
    row = {"n": n}
    row["baseline"] = min(
        (timed([sys.executable, "-m", "benchmarks.cli_baseline", str(files.users), str(loaded)], env, folder)
         for _ in range(2)), key=lambda r: r["s"])  # fmt: skip
    if not first_sync_only:
        row["plan --json"] = timed([rostersync, "plan", "--config", str(plan), "--json"], env, folder)
        summary = json.loads(row["plan --json"]["stdout"])
        check(summary["users"] == expected["counts"]["users"], f"plan: {summary['users']}")
        _progress(n, row, "plan --json")
    row["first sync"] = timed([rostersync, "sync", "--config", str(first), "--json"], env, folder)
    summary = json.loads(row["first sync"]["stdout"])
    check(summary["status"] == "applied" and not summary["failed"], f"first sync: {summary}")
    _progress(n, row, "first sync")
    if not first_sync_only:
        row["no-op sync"] = timed([rostersync, "sync", "--config", str(first), "--json"], env, folder)
        summary = json.loads(row["no-op sync"]["stdout"])
        check(summary["status"] == "applied" and not summary["applied"], f"no-op sync: {summary}")
    for key in ("baseline", *STEPS):
        if key in row:
            row[key].pop("stdout")
    return row


def _progress(n: int, row: dict, step: str) -> None:
    ratio = row[step]["s"] / row["baseline"]["s"]
    print(f"  {n:,} {step}: {row[step]['s']:.1f} s ({ratio:.1f}x baseline {row['baseline']['s']:.2f} s), "
          f"CPU {row[step]['cpu_s']:.1f} s, peak RSS {row[step]['rss_mb']:,} MB", flush=True)  # fmt: skip


def check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def render(rows: list[dict]) -> str:
    lines = [
        "| users | baseline s (CPU s) | "
        + " | ".join(f"{step} s (x baseline) | CPU s | RSS MB" for step in STEPS)
        + " |",
        "|---|---|" + "---|---|---|" * len(STEPS),
    ]
    for row in rows:
        base = row["baseline"]["s"]
        cells = [
            f"{row[s]['s']:.1f} ({row[s]['s'] / base:.1f}x) | {row[s].get('cpu_s', 0):.1f} | {row[s]['rss_mb']:,}"
            if s in row
            else "- | - | -"
            for s in STEPS
        ]
        base_cpu = row["baseline"].get("cpu_s", 0)
        lines.append(f"| {row['n']:,} | {base:.2f} ({base_cpu:.1f}) | " + " | ".join(cells) + " |")
    by_n = {row["n"]: row for row in rows}
    if 100_000 in by_n and 1_000_000 in by_n and all(s in by_n[1_000_000] for s in STEPS):
        small, big = by_n[100_000], by_n[1_000_000]
        growth = ", ".join(f"{s} {big[s]['s'] / small[s]['s']:.1f}x" for s in ("baseline", *STEPS))
        lines.append(f"\nGrowth 100k -> 1M (10x the users): {growth}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--keep", type=Path, help="generate under this folder and keep it")
    parser.add_argument(
        "--first-sync-only", action="store_true", help="time the first sync alone (1M: minutes)"
    )
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="rostersync-cli-bench-") as tmp:
        for n in args.sizes:
            folder = (args.keep or Path(tmp)) / str(n)
            folder.mkdir(parents=True, exist_ok=True)
            print(f"N={n:,}: generating, then timing the CLI ...", flush=True)
            rows.append(measure(n, folder, args.first_sync_only))
            print(render(rows[-1:]), flush=True)
    text = render(rows)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / (
        "cli_benchmark.json" if list(args.sizes) == list(SIZES) else "cli_benchmark_partial.json"
    )
    out.write_text(json.dumps({"code": DIGEST, "rows": rows, "table": text}, indent=2))
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
