"""The results as a Markdown table, the linearity check and the goal lines, plus the same numbers as JSON.

Goals (from the issue): the plan within 2x a bare pandas outer merge of the same user tables, peak memory
under 2.5 GB at a million users, and time growing linearly with the number of users.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
from pathlib import Path

import numpy as np
import pandas as pd

MERGE_FACTOR = 2.0
PEAK_LIMIT_MB = 2.5 * 1024
LINEAR_SLACK = 1.2  # ten times the users may take at most twelve times as long


def _ratios(result: dict) -> tuple[float, float]:
    merge = result["merge_s"]
    return result["total_s"] / merge, (result["normalize_s"] + result["plan_s"]) / merge


def table(results: list[dict]) -> str:
    lines = [
        "| N | reps | read s | normalize s | plan s | total s | merge s | total/merge "
        "| (normalize+plan)/merge | peak RSS MB | peak over imports MB |",
        "|" + "---|" * 11,
    ]
    for r in results:
        total_ratio, work_ratio = _ratios(r)
        lines.append(
            f"| {r['n']:,} | {r['reps']} | {r['read_s']:.3f} | {r['normalize_s']:.3f} | {r['plan_s']:.3f} "
            f"| {r['total_s']:.3f} | {r['merge_s']:.3f} | {total_ratio:.1f} | {work_ratio:.1f} "
            f"| {r['memory']['peak_mb']:,.0f} | {r['memory']['peak_over_imports_mb']:,.0f} |"
        )
    return "\n".join(lines)


def linearity(results: list[dict]) -> dict:
    per_thousand = {r["n"]: r["total_s"] / (r["n"] / 1000) for r in results}
    steps = {
        f"{b['n']}/{a['n']}": {"users": b["n"] / a["n"], "time": b["total_s"] / a["total_s"]}
        for a, b in zip(results, results[1:], strict=False)
    }
    return {"ms_per_1k_users": {n: s * 1000 for n, s in per_thousand.items()}, "growth": steps}


def goals(results: list[dict], growth: dict) -> list[tuple[str, bool]]:
    lines = []
    for r in results:
        total_ratio, work_ratio = _ratios(r)
        lines.append(
            (
                f"N={r['n']:,}: plan {total_ratio:.1f}x merge (normalize+plan {work_ratio:.1f}x) "
                f"<= {MERGE_FACTOR:g}x",
                total_ratio <= MERGE_FACTOR,
            )
        )
    largest = results[-1]
    lines.append(
        (
            f"N={largest['n']:,}: peak RSS {largest['memory']['peak_mb']:,.0f} MB < {PEAK_LIMIT_MB:,.0f} MB",
            largest["memory"]["peak_mb"] < PEAK_LIMIT_MB,
        )
    )
    for step, g in growth.items():
        limit = g["users"] * LINEAR_SLACK
        lines.append(
            (f"{step}: time x{g['time']:.1f} for users x{g['users']:g} (<= x{limit:g})", g["time"] <= limit)
        )
    return lines


def render(results: list[dict], note: str) -> tuple[str, dict]:
    """(Markdown to print, the JSON document)."""
    shape = linearity(results)
    checks = goals(results, shape["growth"])
    text = [f"# Plan benchmark ({note})", "", table(results), "", "## Linearity", ""]
    text += [f"- N={n:,}: {ms:.2f} ms per 1k users" for n, ms in shape["ms_per_1k_users"].items()]
    text += [
        f"- {step}: users x{g['users']:g}, time x{g['time']:.2f} (ideal ~x{g['users']:g})"
        for step, g in shape["growth"].items()
    ]
    text += [
        "",
        "## Memory (MB; high-water RSS after each step of the first run, LMS state = current RSS)",
        "",
    ]
    text += [
        f"- N={r['n']:,}: imports {m['after_imports_mb']:,.0f}, with LMS state {m['with_lms_state_mb']:,.0f}, "
        f"read {m['after_read_mb']:,.0f}, normalize {m['after_normalize_mb']:,.0f}, plan {m['after_plan_mb']:,.0f}"
        for r in results
        for m in [r["memory"]]
    ]
    text += ["", "## Goals", ""] + [f"- [{'PASS' if ok else 'FAIL'}] {line}" for line, ok in checks]
    loads = ", ".join(f"N={r['n']:,}: {r['load_average_1min']:.1f}" for r in results)
    text += ["", f"Load average (1 min) at the end of each N: {loads} (about 1.0 = this benchmark alone)"]
    digests = sorted({r["product_digest"] for r in results})
    text += ["", f"Product sources digest: {', '.join(digests)}"]
    if len(digests) > 1:
        text.append("WARNING: the product code changed during the run; the sizes measured different code.")
    document = {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "note": note,
        "python": platform.python_version(),
        "pandas": pd.__version__,
        "numpy": np.__version__,
        "results": results,
        "linearity": shape,
        "goals": [{"goal": line, "met": ok} for line, ok in checks],
    }
    return "\n".join(text), document


def write(document: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
