"""The widgets in a real browser: JupyterLab + Debian's chromium + Playwright, as the browser tests run them.

- **Timeline first draw**: an offline Timeline of 50 keys × 64 revisions (3,200 marks) is shown;
  the figure is the Performance API measure ``kvnb:timeline:snapshot-drawn`` that the view records
  itself: from the snapshot message's arrival to the frame after the picture was painted
  (``requestAnimationFrame`` then a zero timeout). The cell is re-run for more rounds; the median
  is the figure (goal ≤ 50 ms), the first (cold) draw is in the note.
- **put → row painted**: a WatchFeed (beside a live Timeline and BucketTable) on a bucket another
  connection writes to, one put every 50 ms; a MutationObserver notes when each row was painted
  (epoch ms in the page vs. just before the put in Python, same machine clock). p95 of 200 puts,
  goal ≤ 75 ms.
- **longest task during a burst**: the same page while 20,000 puts (500 in flight, 400 keys) arrive;
  a ``PerformanceObserver('longtask')`` records every main-thread task over 50 ms from the burst's
  start until one second after its last put is in the feed. Goal: none longer than 100 ms. Three bursts
  (``$KVNB_BROWSER_BENCH_BURSTS``), each on a new page and bucket: the figure is the median burst's
  longest task, every burst's is in the note (this machine's other work shows as outliers). The note
  says where the longest frame's time went (Long Animation Frame entries: its scripts by entry point,
  and its rendering: style, layout, paint, commit). ``$KVNB_BROWSER_BENCH_WITH`` (``timeline``, ``table``
  or ``none``) narrows the widgets beside the WatchFeed, to find which one a long frame comes from.
- **the gone-state poll**: the cost of the request a Timeline/BucketTable/TimeTravel makes about
  once a second (STREAM.INFO), and of the per-key count it asks for only after the stream removed
  something (``subjects_filter``), on that 20,000-message, 400-key bucket.

The measuring half is ``bench/browser_probe.py``, run by pytest with the fixtures of
``tests/browser/conftest.py`` (``-p tests.browser.conftest``), in a subprocess.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from ._harness import ROUNDS, Row, print_rows, row

GROUP = "Widgets in the browser (chromium)"
ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 900
BURST_MESSAGES = 20_200  # the probe's 200 single puts and its 20,000-put burst


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _skipped(why: str) -> list[Row]:
    return [row(GROUP, "browser benchmarks", kvnb=None, raw=None, unit="", note=f"skipped: {why}")]


def run(rounds: int = ROUNDS) -> list[Row]:
    """Run the probe in a subprocess and turn its figures into table rows."""
    if importlib.util.find_spec("playwright") is None:
        return _skipped("Playwright for Python is not installed (pip install -e '.[dev]')")
    if shutil.which("chromium") is None:
        return _skipped("Debian's chromium is not installed (make system-deps)")
    with tempfile.TemporaryDirectory(prefix="kvnb-bench-browser-") as tmp:
        out = Path(tmp) / "figures.json"
        env = {k: v for k, v in os.environ.items() if k != "NATS_URL"}
        env.update({"KVNB_BROWSER_BENCH_OUT": str(out), "KVNB_BROWSER_BENCH_ROUNDS": str(rounds)})
        argv = [sys.executable, "-m", "pytest", "-p", "tests.browser.conftest", "bench/browser_probe.py",
                "-q", "-p", "no:cacheprovider", "-o", "addopts=", "-o", "timeout=" + str(TIMEOUT),
                "--basetemp", str(Path(tmp) / "pytest")]
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT + 60)
        if done.returncode != 0 or not out.is_file():
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            print(tail, file=sys.stderr)
            failed = row(GROUP, "browser benchmarks failed", kvnb=None, raw=None, unit="",
                         note=f"pytest exit {done.returncode}: {tail.splitlines()[-1] if tail else '?'}")
            failed["ok"] = False
            return [failed]
        figures = json.loads(out.read_text())
    load = f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end"
    drawn = [d / 1000 for d in figures["timeline_drawn_ms"]]
    again = drawn[1:] or drawn
    latencies = [t / 1000 for t in figures["put_to_row_ms"]]
    # Each burst's longest task (the Long Tasks API reports only tasks over 50 ms: with none, 50 ms is the
    # bound it can give); the figure is the median burst's, every burst is in the note.
    bursts = figures["bursts"]
    longest_each = [max(b["tasks"], default=50.0) / 1000 for b in bursts]
    longest = statistics.median(longest_each)
    worst = max(bursts, key=lambda b: max(b["tasks"], default=0.0))
    frame = worst.get("longest_frame")
    where = ""
    if frame:  # Long Animation Frame attribution: the scripts that ran in it, then its rendering
        scripts = sorted(frame["scripts"], key=lambda s: -s["duration"])[:3]
        where = (f"; the slowest burst's longest frame ({frame['duration']:.0f} ms): rendering (style, "
                 f"layout, paint) {frame['layout']:.0f} ms, "
                 + (", ".join(f"{s['source']} {s['invoker']} {s['duration']:.0f} ms" for s in scripts)
                    or "no script attributed"))
    each = ", ".join(f"{t * 1000:.0f}" if t > 0.05 else "≤ 50" for t in longest_each)
    return [
        row(GROUP, "Timeline 50 keys × 64 revisions: snapshot message → painted", kvnb=statistics.median(again),
            raw=None, unit="s", max_abs=0.050,
            note=f"median of {len(again)} redraws; first (cold) draw {drawn[0] * 1000:.0f} ms; all: "
                 f"{', '.join(f'{d * 1000:.0f}' for d in drawn)} ms; {figures['timeline_marks']} of the 3,200 marks "
                 "in the DOM (the columns in view and a screen either side)"),
        row(GROUP, f"WatchFeed: put → row painted, p95 of {len(latencies)} puts", kvnb=_p95(latencies), raw=None,
            unit="s", max_abs=0.075,
            note=f"median {statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms; one put "
                 f"every 50 ms; a live Timeline and BucketTable on the same page; {load}"),
        row(GROUP, "20,000-put burst: longest main-thread task in the page", kvnb=longest, raw=None, unit="s",
            max_abs=0.100,
            note=f"median of {len(bursts)} bursts, each on a new page and bucket; each burst's longest task: "
                 f"{each} ms (≤ 50: none over the Long Tasks API's 50 ms threshold); WatchFeed + Timeline + "
                 f"BucketTable live; the puts took {statistics.median(b['burst_s'] for b in bursts):.1f} s, the last "
                 f"was in the feed after {statistics.median(b['shown_s'] for b in bursts):.1f} s (medians); the "
                 f"writer, nats-server, the kernel and chromium share the machine{where}"),
        row(GROUP, "gone-state poll: STREAM.INFO (about once a second per widget)",
            kvnb=figures["info_plain_ms"] / 1000, raw=None, unit="s",
            note=f"with per-key counts (asked only after the stream removed something): "
                 f"{figures['info_counts_ms']:.1f} ms for {figures['info_subjects']} keys, "
                 f"{BURST_MESSAGES:,} messages"),
    ]


if __name__ == "__main__":
    print_rows(run())
