"""The measuring half of ``bench/bench_browser.py``: a pytest module run with the browser tests' fixtures.

It is not a test (no assertion on speed): ``bench_browser`` runs it in a subprocess as
``pytest -p tests.browser.conftest bench/browser_probe.py`` so JupyterLab, chromium and the
nats-server start exactly as in the real-browser tests, and reads the figures it writes as JSON to
``$KVNB_BROWSER_BENCH_OUT``.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import kvnb

if TYPE_CHECKING:
    from tests.browser.conftest import LabPage, LabServer, OpenNotebook

RENDER_TIMEOUT = 60.0
TL_KEYS, TL_REVS = 50, 64
PUTS = 200
PUT_EVERY = 0.05  # s between two puts of the latency probe
BURST, BURST_KEYS, BATCH = 20_000, 400, 500

_DRAWN = "(name) => performance.getEntriesByName(name).map(e => e.duration)"
# Rows of the feed: the moment each was painted (the frame after it was added), in epoch ms.
_WATCH_ROWS = """() => {
  window.__kvnbSeen = {};
  const list = document.querySelector('.kvnb-watchfeed .kvnb-feed-rows');
  new MutationObserver((muts) => {
    const revs = [];
    for (const m of muts) for (const n of m.addedNodes) {
      if (n.classList && n.classList.contains('kvnb-feed-row')) revs.push(n.dataset.revision);
    }
    if (revs.length) requestAnimationFrame(() => setTimeout(() => {
      const t = performance.timeOrigin + performance.now();
      for (const r of revs) if (!(r in window.__kvnbSeen)) window.__kvnbSeen[r] = t;
    }, 0));
  }).observe(list, { childList: true });
}"""
_LONG_TASKS = """() => {
  window.__kvnbLong = [];
  new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__kvnbLong.push([e.startTime, e.duration]); })
    .observe({ type: 'longtask', buffered: true });
  // where a long frame's time went: its scripts (by source and entry point) and its rendering (style, layout, paint)
  window.__kvnbFrames = [];
  new PerformanceObserver((l) => {
    for (const e of l.getEntries()) window.__kvnbFrames.push({
      start: e.startTime, duration: e.duration,
      layout: e.renderStart ? e.startTime + e.duration - e.styleAndLayoutStart : 0,
      scripts: e.scripts.map((s) => ({ duration: s.duration, invoker: s.invoker,
        source: (s.sourceURL || '').split('/').pop() + ':' + (s.sourceFunctionName || '') })),
    });
  }).observe({ type: 'long-animation-frame', buffered: true });
}"""


def _out() -> Path:
    return Path(os.environ["KVNB_BROWSER_BENCH_OUT"])


def _bursts() -> int:
    return max(1, int(os.environ.get("KVNB_BROWSER_BENCH_BURSTS", "3")))


def _rounds() -> int:
    return max(1, int(os.environ.get("KVNB_BROWSER_BENCH_ROUNDS", "5")))


async def _timeline_draw(open_notebook: OpenNotebook) -> dict[str, Any]:
    nb: LabPage = await open_notebook([
        "import kvnb\nfrom datetime import UTC, datetime\nfrom kvnb.model import event\n"
        f"tl = kvnb.Timeline(history={TL_REVS}, max_revisions={TL_REVS})\nnow = datetime.now(UTC)\n"
        f"tl.feed(event(f'sensor{{r % {TL_KEYS}:02d}}.temp', r, f'{{20 + r % 7}}.{{r % 10}}', created=now)\n"
        f"        for r in range(1, {TL_KEYS * TL_REVS + 1}))",
        "tl",
    ])
    name = "kvnb:timeline:snapshot-drawn"
    await nb.run_all()
    await nb.wait_for(f"() => performance.getEntriesByName('{name}').length >= 1", timeout=RENDER_TIMEOUT,
                      what="the Timeline's first snapshot drawn")
    for i in range(_rounds()):  # re-run the display cell: a new view, a new snapshot, a new draw
        await nb.page.evaluate("() => { const nb = window.jupyterapp.shell.currentWidget.content;"
                               " nb.activeCellIndex = 1; window.jupyterapp.commands.execute('notebook:run-cell'); }")
        await nb.wait_for(f"() => performance.getEntriesByName('{name}').length >= {i + 2}", timeout=RENDER_TIMEOUT,
                          what=f"the Timeline redrawn ({i + 1})")
    durations = await nb.page.evaluate(_DRAWN, name)
    built = await nb.page.evaluate(_DRAWN, "kvnb:timeline:snapshot-built")
    marks = await nb.page.locator(".kvnb-timeline .kvnb-mark[data-revision]").count()
    return {"timeline_drawn_ms": durations, "timeline_built_ms": built, "timeline_marks": marks}


async def _burst_page(open_notebook: OpenNotebook) -> tuple[LabPage, str]:
    """A new notebook with a WatchFeed, a Timeline and a BucketTable live on a new, empty bucket."""
    bucket = f"bench_browser_{secrets.token_hex(3)}"
    # the WatchFeed always (the burst's end is its last row); $KVNB_BROWSER_BENCH_WITH narrows the others
    # while tuning ("timeline", "table", "none"; default both)
    others = os.environ.get("KVNB_BROWSER_BENCH_WITH", "timeline,table")
    cells = [f"import kvnb\nkv = await kvnb.open_bucket({bucket!r}, history=64, storage='memory', fresh=True)",
             "feed = kvnb.WatchFeed(kv)\nfeed"]
    ready = "!!document.querySelector('.kvnb-watchfeed .kvnb-caught-up')"
    if "timeline" in others:
        cells.append("tl = kvnb.Timeline(kv)\ntl")
        ready += " && !!document.querySelector('.kvnb-timeline')"
    if "table" in others:
        cells.append("table = kvnb.BucketTable(kv)\ntable")
        ready += " && !!document.querySelector('.kvnb-buckettable')"
    nb: LabPage = await open_notebook(cells)
    await nb.page.evaluate(_LONG_TASKS)
    await nb.run_all()
    await nb.wait_for(f"() => {ready}", timeout=RENDER_TIMEOUT, what="the widgets drawn, the WatchFeed caught up")
    return nb, bucket


async def _quiet(nb: LabPage) -> None:
    """Wait until the page has had no task over 50 ms for 2 s (JupyterLab settles after opening a notebook)."""
    await nb.wait_for("() => { const l = window.__kvnbLong, last = l[l.length - 1];"
                      " return performance.now() - (last ? last[0] + last[1] : 0) > 2000; }",
                      timeout=30.0, what="the page quiet for 2 s")


async def _burst(nb: LabPage, kv: kvnb.Bucket) -> dict[str, Any]:
    """20,000 puts (500 in flight, 400 keys new to the page): the main-thread tasks over 50 ms meanwhile."""
    await _quiet(nb)
    t0 = await nb.page.evaluate("() => performance.now()")
    started = time.perf_counter()
    value = b"v" * 32
    last = 0
    for start in range(0, BURST, BATCH):
        revs = await asyncio.gather(*(kv.put(f"k{i % BURST_KEYS}", value)
                                      for i in range(start, min(BURST, start + BATCH))))
        last = max(last, *revs)
    burst_s = time.perf_counter() - started
    await nb.wait_for(f"() => !!document.querySelector('.kvnb-watchfeed .kvnb-feed-row[data-revision=\"{last}\"]')",
                      timeout=60.0, what="the burst's last put in the feed")
    shown_s = time.perf_counter() - started
    await nb.page.wait_for_timeout(1000)  # the last refreshes of the three widgets
    t1 = await nb.page.evaluate("() => performance.now()")
    tasks = [d for s, d in await nb.page.evaluate("() => window.__kvnbLong") if t0 <= s <= t1]
    frames = [f for f in await nb.page.evaluate("() => window.__kvnbFrames") if t0 <= f["start"] <= t1]
    return {"tasks": tasks, "longest_frame": max(frames, key=lambda f: f["duration"], default=None),
            "burst_s": burst_s, "shown_s": shown_s, "load": os.getloadavg()[0]}


async def _feed_and_burst(open_notebook: OpenNotebook, lab: LabServer) -> dict[str, Any]:
    nb, bucket = await _burst_page(open_notebook)
    await nb.page.evaluate(_WATCH_ROWS)
    nc = await kvnb.connect(lab.nats_url)
    try:
        kv = await kvnb.open_bucket(bucket, nc=nc)
        # put -> row painted, one put every PUT_EVERY seconds
        put_at: dict[int, float] = {}
        for i in range(PUTS):
            t = time.time() * 1000
            rev = await kv.put(f"probe.{i % 10}", f"value {i}")
            put_at[rev] = t
            await asyncio.sleep(PUT_EVERY)
        await nb.wait_for(f"() => Object.keys(window.__kvnbSeen).length >= {PUTS}", timeout=30.0,
                          what=f"{PUTS} feed rows painted")
        seen = await nb.page.evaluate("() => window.__kvnbSeen")
        latencies = sorted(seen[str(rev)] - t for rev, t in put_at.items() if str(rev) in seen)

        # the bursts: the first on this page, each other one on a page and bucket of its own
        bursts = [await _burst(nb, kv)]

        # the cost of the gone-state poll on this bucket: a plain STREAM.INFO and one with per-key counts
        stream = f"KV_{bucket}"
        plain, counts = [], []
        for _ in range(20):
            c0 = time.perf_counter()
            await kv.js.stream_info(stream)
            plain.append(time.perf_counter() - c0)
            c0 = time.perf_counter()
            info = await kv.js.stream_info(stream, subjects_filter=f"$KV.{bucket}.>")
            counts.append(time.perf_counter() - c0)
        subjects = len(info.state.subjects or {})
        await kvnb.delete_bucket(bucket, nc=nc)
        for _ in range(1, _bursts()):
            other, other_bucket = await _burst_page(open_notebook)
            bursts.append(await _burst(other, await kvnb.open_bucket(other_bucket, nc=nc)))
            await kvnb.delete_bucket(other_bucket, nc=nc)
    finally:
        await nc.close()
    return {"put_to_row_ms": latencies, "bursts": bursts,
            "info_plain_ms": statistics.median(plain) * 1000, "info_counts_ms": statistics.median(counts) * 1000,
            "info_subjects": subjects}


async def test_browser_figures(open_notebook: OpenNotebook, lab_server: LabServer) -> None:
    figures: dict[str, Any] = {}
    only = os.environ.get("KVNB_BROWSER_BENCH_ONLY", "")  # "timeline" or "feed": one part (while tuning)
    if only in ("", "timeline"):
        figures.update(await _timeline_draw(open_notebook))
    if only in ("", "feed"):
        figures.update(await _feed_and_burst(open_notebook, lab_server))
    _out().write_text(json.dumps(figures))
