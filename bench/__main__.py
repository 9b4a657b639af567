"""``python -m bench``: run every benchmark, print the table, write docs/benchmarks.md.

Options: ``--only kv,startup`` runs some of them (``--only browser``: the widgets in chromium; a partial
run replaces only its own sections of docs/benchmarks.md); ``--rounds N`` (default 5, or
``$KVNB_BENCH_ROUNDS``); ``--no-write`` leaves docs/benchmarks.md alone. ``--only classroom`` runs the
classroom load test alone (1 participant as a baseline, then 50 and 200 for 60 s each:
``$KVNB_BENCH_CLASSROOM_SIZES``, ``$KVNB_BENCH_CLASSROOM_SECONDS``).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from ._harness import ROUNDS
from .report import markdown, merge, normalise, text_table

# In the order they run; "widgets" is bench/bench_widgets.py, "browser" bench/bench_browser.py (chromium).
BENCHMARKS = ("kv", "beyond", "startup", "widgets", "browser", "resume", "notebooks", "classroom")
DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def _run_one(name: str, rounds: int) -> list[dict[str, Any]]:
    module_name = f"bench.bench_{name}"
    if importlib.util.find_spec(module_name) is None:
        print(f"[bench] {name}: bench/bench_{name}.py not found, skipped", file=sys.stderr)
        return []
    started = time.perf_counter()
    print(f"[bench] {name} ...", file=sys.stderr, flush=True)
    try:
        module = importlib.import_module(module_name)
        run = module.run
        rows = run(rounds=rounds) if "rounds" in inspect.signature(run).parameters else run()
    except Exception as err:  # one broken benchmark must not hide the others' figures
        traceback.print_exc()
        rows = [{"group": name, "name": f"bench_{name} failed", "ok": False, "note": f"{type(err).__name__}: {err}"}]
    print(f"[bench] {name} done in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return [normalise(r, default_group=name) for r in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(BENCHMARKS),
                        help=f"comma-separated subset of {', '.join(BENCHMARKS)}")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="rounds per benchmark (median taken)")
    parser.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    args = parser.parse_args(argv)
    chosen = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    os.environ.pop("NATS_URL", None)  # benchmarks start their own servers
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for name in BENCHMARKS:
        if name in chosen:
            rows += _run_one(name, args.rounds)
    elapsed = time.perf_counter() - started
    print()
    print(text_table(rows))
    print(f"\n{len(rows)} figures in {elapsed:.0f} s")
    if not args.no_write:
        command = "make bench" if chosen == list(BENCHMARKS) else f"python -m bench --only {','.join(chosen)}"
        DOC.parent.mkdir(exist_ok=True)
        if chosen != list(BENCHMARKS) and DOC.is_file():  # a partial run: keep the other sections' figures
            DOC.write_text(merge(DOC.read_text(), rows, seconds=elapsed, command=command))
        else:
            DOC.write_text(markdown(rows, seconds=elapsed, command=command))
        print(f"wrote {DOC.relative_to(Path.cwd()) if DOC.is_relative_to(Path.cwd()) else DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
