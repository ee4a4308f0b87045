"""`make bench`: how long a plan takes at 10k / 100k / 1M users, against a bare pandas merge of the same data.

    python -m benchmarks.plan_benchmark            # 10k, 100k (best of 3) and 1M (1 run); several minutes
    python -m benchmarks.plan_benchmark --quick    # 10k and 100k only, a sanity run
    python -m benchmarks.plan_benchmark --profile 100000   # cProfile of one plan, product functions only

Each N is generated in one child process and measured in another (see measure.py for why), all from the
same seed, so numbers compare across runs and machines. A full run writes results/plan_benchmark.json; a
quick run writes results/plan_benchmark_quick.json so it never overwrites the full numbers.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.dataset import Files, generate
from benchmarks.measure import measure, profile
from benchmarks.report import render, write

SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000, 100_000)
SINGLE_RUN_FROM = 1_000_000  # a million users run once: three runs would triple a multi-minute benchmark
RESULTS = Path(__file__).resolve().parent / "results"


def reps_for(n: int) -> int:
    return 1 if n >= SINGLE_RUN_FROM else 3


def _child(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "benchmarks.plan_benchmark", *args], check=True)


def run(sizes: tuple[int, ...], out: Path) -> None:
    results = []
    with tempfile.TemporaryDirectory(prefix="rostersync-bench-") as tmp:
        for n in sizes:
            data = Path(tmp) / str(n)
            data.mkdir()
            print(f"N={n:,}: generating ...", flush=True)
            _child("--generate", str(n), "--data", str(data))
            print(f"N={n:,}: measuring ({reps_for(n)} run(s)) ...", flush=True)
            _child("--measure", str(n), "--data", str(data), "--reps", str(reps_for(n)))
            results.append(json.loads((data / "result.json").read_text()))
            for file in data.iterdir():  # a million users is ~150 MB of CSV: do not keep it for the next N
                file.unlink()
    runs = ", ".join(
        f"{r['n']:,}: best of {r['reps']}" if r["reps"] > 1 else f"{r['n']:,}: 1 run" for r in results
    )
    text, document = render(results, runs)
    print(text)
    write(document, out)
    print(f"\nwritten to {out}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k and 100k users only")
    parser.add_argument("--profile", type=int, metavar="N", help="cProfile one plan of N users")
    parser.add_argument("--generate", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--reps", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.generate:
        generate(args.generate, Files(args.data))
    elif args.measure:
        result = measure(args.measure, Files(args.data), args.reps)
        (args.data / "result.json").write_text(json.dumps(result))
    elif args.profile:
        with tempfile.TemporaryDirectory(prefix="rostersync-profile-") as tmp:
            _child("--generate", str(args.profile), "--data", tmp)
            RESULTS.mkdir(exist_ok=True)
            profile(Files(Path(tmp)), RESULTS / f"plan_profile_{args.profile}.prof")
    elif args.quick:
        run(QUICK_SIZES, RESULTS / "plan_benchmark_quick.json")
    else:
        run(SIZES, RESULTS / "plan_benchmark.json")


if __name__ == "__main__":
    main()
