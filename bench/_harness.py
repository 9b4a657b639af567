"""What every benchmark shares: result rows, medians, and interleaved timing against a baseline.

This machine is noisy (2 shared cores), so a benchmark never compares two runs made minutes
apart: kvnb and raw nats-py run in alternating chunks inside each round, each round gives one
ratio, and the table shows the median of the rounds' ratios beside the absolute medians.
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypedDict

ROUNDS = int(os.environ.get("KVNB_BENCH_ROUNDS", "5"))


class Row(TypedDict, total=False):
    """One line of the benchmark table."""

    group: str
    name: str
    kvnb: float | None  # kvnb's median, in ``unit``
    raw: float | None  # raw nats-py's median, in ``unit``
    unit: str
    ratio: float | None  # kvnb ÷ raw of the per-round figures (median over rounds)
    goal: str
    ok: bool | None
    note: str


def run_async(measure: Callable[[int], Coroutine[Any, Any, list[Row]]], rounds: int) -> list[Row]:
    """Run a benchmark's ``measure(rounds)`` in a new event loop; it starts its own servers, so NATS_URL is dropped."""
    os.environ.pop("NATS_URL", None)
    return asyncio.run(measure(rounds))


def print_rows(rows: list[Row]) -> None:
    """What ``python -m bench.bench_NAME`` prints: one row a line."""
    for r in rows:
        print(r)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def row(group: str, name: str, *, kvnb: float | None, raw: float | None, unit: str,
        ratio: float | None = None, min_ratio: float | None = None, max_ratio: float | None = None,
        max_abs: float | None = None, note: str = "") -> Row:
    """A table row; ``ok`` says whether every goal given (ratio bounds, kvnb's absolute bound) is met."""
    if ratio is None and kvnb is not None and raw:
        ratio = kvnb / raw
    goals: list[str] = []
    ok: bool | None = None
    if min_ratio is not None:
        goals.append(f"ratio ≥ {min_ratio:g}")
        ok = ratio is not None and ratio >= min_ratio
    if max_ratio is not None:
        goals.append(f"ratio ≤ {max_ratio:g}")
        ok = (ok is not False) and ratio is not None and ratio <= max_ratio
    if max_abs is not None:
        goals.append(f"kvnb ≤ {fmt(max_abs, unit)}")
        ok = (ok is not False) and kvnb is not None and kvnb <= max_abs
    return Row(group=group, name=name, kvnb=kvnb, raw=raw, unit=unit, ratio=ratio,
               goal=", ".join(goals), ok=ok, note=note)


def fmt(value: Any, unit: str = "") -> str:
    """A number for humans: 3 significant digits, seconds shown as ms below 1 s."""
    if value is None:
        return "—"
    if not isinstance(value, (int, float)):
        return str(value)
    if value != value:  # NaN
        return "—"
    if unit == "s":
        return f"{value * 1000:.1f} ms" if abs(value) < 1 else f"{value:.2f} s"
    if abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip()


Chunk = Callable[[], Awaitable[Any]]
PAIRS_PER_ROUND = 8


class Timing(TypedDict):
    """Per-pair measurements of each variant: wall seconds and this process's CPU seconds."""

    wall: dict[str, list[float]]
    cpu: dict[str, list[float]]


async def interleaved(variants: dict[str, Chunk], *, rounds: int = ROUNDS,
                      pairs_per_round: int = PAIRS_PER_ROUND) -> Timing:
    """Time each variant's chunk ``rounds × pairs_per_round`` times, alternating who goes first.

    Each pair runs the variants back to back, so both see the same load on the machine; the
    ratio of a pair is therefore fair even when the absolute numbers wander, and the median of
    many pair ratios shrugs off the bursts of other processes.
    """
    names = list(variants)
    timing = Timing(wall={n: [] for n in names}, cpu={n: [] for n in names})
    # Collect once, then warm both sides untimed: a collection inside the loop would always land
    # before the same side (freed memory is paid back in page faults by whoever allocates next).
    gc.collect()
    for name in names:
        await variants[name]()
    for r in range(rounds):
        for p in range(pairs_per_round):
            for name in names if (r * pairs_per_round + p) % 2 == 0 else reversed(names):
                c0, t0 = time.process_time(), time.perf_counter()
                await variants[name]()
                timing["wall"][name].append(time.perf_counter() - t0)
                timing["cpu"][name].append(time.process_time() - c0)
    return timing


def quartiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 4:
        return min(values), max(values)
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def throughput_row(group: str, name: str, timing: Timing, ops: int, *, min_ratio: float | None = 0.95) -> Row:
    """A throughput row (ops/s) from :func:`interleaved` timings of ``kvnb`` and ``raw`` doing ``ops`` each."""
    wall, cpu = timing["wall"], timing["cpu"]
    ratios = [r / k for k, r in zip(wall["kvnb"], wall["raw"], strict=True)]  # = kvnb ops/s ÷ raw ops/s
    lo, hi = quartiles(ratios)
    cpu_k, cpu_r = (median(cpu[s]) / ops * 1e6 for s in ("kvnb", "raw"))
    note = (f"{len(ratios)} alternating pairs, middle half of ratios {lo:.2f}–{hi:.2f}; "
            f"client CPU per op: kvnb {cpu_k:.1f} µs, raw {cpu_r:.1f} µs")
    return row(group, name, kvnb=ops / median(wall["kvnb"]), raw=ops / median(wall["raw"]), unit="ops/s",
               ratio=median(ratios), min_ratio=min_ratio, note=note)
