"""Race: N writers increment one key at once; a lane per writer; the verdict at the end.

Example (in a notebook cell)::

    race = kvnb.Race(kv, "counter", writers=4, increments=25)            # get + update(last=), retries
    race
    result = await race.run()           # or press Run; result.ok is True: nothing lost
    lost = kvnb.Race(kv, "counter2", cas=False)                          # get + put: updates get lost
    likes = await kvnb.open_counter("likes")
    server_side = kvnb.Race(likes, "hits", writers=4, increments=25)      # a server-side counter: "+1"
    await asyncio.gather(race.run(), server_side.run())                 # side by side, live

Each writer has its own connection (like separate programs). Lanes show ``+`` for a stored
increment, ``×`` for a write refused because another writer got there first (the writer reads the
key again and retries), ``!`` for an error.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import traitlets as t

from ..counter import Counter
from ..model.race import RaceResult, RaceStats, WriterStats
from ..scenarios.race import check_race_args, run_counter_race, run_race
from . import _html
from ._base import KvnbWidget, esm, require_kv

if TYPE_CHECKING:
    from ..bucket import KV

__all__ = ["Race"]


class Race(KvnbWidget):
    """Racing writers on ``key``: ``writers`` clients × ``increments`` increments each.

    ``cas=True``: get + ``update(last=)`` with retries on :class:`kvnb.Conflict`; ``cas=False``:
    get + ``put``, which loses updates. Given a :class:`kvnb.Counter` instead of a bucket, the
    writers add to a server-side counter (``mode == "counter"``). ``await race.run()`` returns a
    :class:`~kvnb.model.RaceResult` (with ``seconds`` and ``rate``).
    """

    _esm = esm("race.js")
    _kind = "race"
    key = t.Unicode("", help="the counter key").tag(sync=True)
    writers = t.Int(4, help="number of racing clients").tag(sync=True)
    increments = t.Int(25, help="increments each writer makes").tag(sync=True)
    cas = t.Bool(True, help="update(last=) with retries (True) or plain put (False)").tag(sync=True)
    mode = t.Unicode("cas", help="how writers increment: cas, put or counter").tag(sync=True)
    running = t.Bool(False, help="a race is running").tag(sync=True)
    state = t.Dict(help="lanes and totals (from RaceStats.to_json)").tag(sync=True)

    def __init__(self, kv: KV | Counter, key: str, *, writers: int = 4, increments: int = 25, cas: bool = True,
                 separate_connections: bool = True) -> None:
        check_race_args(key, writers, increments)
        self.counter = kv if isinstance(kv, Counter) else None
        mode = "counter" if self.counter is not None else "cas" if cas else "put"
        bucket = None if self.counter is not None else require_kv(kv, "Race")
        name = self.counter.name if self.counter is not None else bucket.name  # type: ignore[union-attr]
        self.stats = RaceStats(writers, increments, cas=cas, mode=mode)
        self.result: RaceResult | None = None
        self.separate_connections = separate_connections
        self._run_task: asyncio.Future[RaceResult] | None = None
        super().__init__(bucket, registry_key=("Race", mode == "counter", name, key), key=key, writers=writers,
                         increments=increments, cas=cas, mode=mode, state=self.stats.to_json())
        self.bucket = name
        self._ready.set()

    async def run(self) -> RaceResult:
        """Reset the key to 0, run the race, check the final value; returns the result.

        Errors (the server went away...) show in the widget and are raised here too.
        """
        if self._run_task is None or self._run_task.done():
            task = self._spawn(self._run())
            assert isinstance(task, asyncio.Task), "Race.run() must be awaited on the loop the widget was made on"
            self._run_task = task
        return await self._run_task

    async def _run(self) -> RaceResult:
        if self.counter is None:
            self.mode = "cas" if self.cas else "put"
        self.stats = RaceStats(self.writers, self.increments, cas=self.cas, mode=self.mode)
        self.result = None
        self.error = ""
        self.running = True
        self._throttle.kick()
        try:
            if self.counter is not None:
                self.result = await run_counter_race(
                    self.counter, self.key, writers=self.writers, increments=self.increments,
                    separate_connections=self.separate_connections, stats=self.stats, on_change=self._throttle.kick)
            else:
                assert self.kv is not None
                self.result = await run_race(self.kv, self.key, writers=self.writers, increments=self.increments,
                                             cas=self.cas, separate_connections=self.separate_connections,
                                             stats=self.stats, on_change=self._throttle.kick)
            return self.result
        except Exception as err:
            self._set_error(err)
            raise
        finally:
            self.running = False
            if not self._closed:
                self._throttle.flush()

    async def _run_quietly(self) -> None:
        try:
            await self.run()
        except Exception:
            pass  # already shown in the widget's error line

    def _action(self, name: str, content: dict[str, Any]) -> None:
        if name == "run" and not self.running:
            self._spawn(self._run_quietly())

    def _refresh(self) -> None:
        self.state = self.stats.to_json()

    # --- reprs --------------------------------------------------------------------------------
    def _title(self) -> str:
        how = {"cas": "update(last=)", "put": "plain put", "counter": "server-side counter"}[self.mode]
        on = f"counter {self.bucket!r}" if self.mode == "counter" else repr(self.bucket)
        return f"Race({self.key!r} on {on}): {self.writers} writers × {self.increments} increments, {how}"

    def _text_lines(self) -> list[str]:
        lines = [self._title()]
        if self.result is None:
            lines.append("  running…" if self.running else "  not run yet: await race.run() or press Run")
            return lines
        lines.append("  " + self.result.summary())
        if self.result.speed():
            lines.append("  " + self.result.speed())
        for w in self.stats.writers:
            lines.append(f"  writer {w.index}: {_lane_words(w, self.cas, self.mode)}")
        return lines

    def _static_html(self) -> str:
        """Lanes (counts in words and the outcome strip) and the verdict with its arithmetic."""
        colours = {"+": _html.GOOD, "×": _html.WARN, "!": _html.BAD}
        lanes = []
        for w in self.stats.writers:
            strip = "".join(f'<span style="{colours.get(c, "")};font-weight:bold">{_html.esc(c)}</span>'
                            for c in w.recent)
            lanes.append(f'<tr class="kvnb-race-lane" data-writer="{w.index}">'
                         f'<td style="{_html.TD}">writer {w.index}</td>'
                         f'<td style="{_html.TD};{_html.MUTED}">{_html.esc(_lane_words(w, self.cas, self.mode))}</td>'
                         f'<td style="{_html.TD};letter-spacing:1px;width:100%">{strip}</td></tr>')
        legend = (f'<div style="{_html.MUTED};margin-bottom:4px"><b style="{_html.GOOD}">+</b> increment stored '
                  f'&nbsp; <b style="{_html.WARN}">×</b> refused: another writer got there first, so read again '
                  f'and retry &nbsp; <b style="{_html.BAD}">!</b> error</div>')
        table = (f'<table style="{_html.TABLE}">{"".join(lanes)}</table>')
        verdict = ""
        if self.result is not None:
            r = self.result
            colour = _html.GOOD if r.ok else _html.BAD
            verdict = (f'<div class="kvnb-verdict {"kvnb-good" if r.ok else "kvnb-bad"}" style="margin-top:4px;'
                       f'font-weight:bold;{colour}">{_html.esc(r.verdict())}</div>'
                       f'<div class="kvnb-arithmetic" style="{_html.MUTED}">{_html.esc(r.arithmetic())}</div>')
            if r.speed():
                verdict += f'<div class="kvnb-race-speed" style="{_html.MUTED}">{_html.esc(r.speed())}</div>'
        status = "running…" if self.running else ("" if self.result is not None else "not run yet")
        how = {"cas": "get + update(last=), retry when refused", "put": "get + plain put (no revision check)",
               "counter": "a server-side counter: each writer sends +1, the server adds"}[self.mode]
        title = (f"race on {self.key}: {self.writers} writer{'s' if self.writers != 1 else ''} × "
                 f"{self.increments} increments, {how}")
        return _html.root("race", title, legend + table + verdict, status=status, error=self.error)


def _lane_words(w: WriterStats, cas: bool, mode: str = "cas") -> str:
    """One writer's counts in words that add up: ``25 stored + 20 refused (retried) = 45 attempts``."""
    if mode == "counter":
        text = f"{w.successes} increment{'s' if w.successes != 1 else ''} added by the server"
    elif not cas:
        text = f"{w.successes} put{'s' if w.successes != 1 else ''} stored"
    else:
        attempts = w.successes + w.conflicts + w.errors
        text = f"{w.successes} stored + {w.conflicts} refused (retried)"
        if w.errors:
            text += f" + {w.errors} error{'s' if w.errors != 1 else ''}"
        text += f" = {attempts} attempt{'s' if attempts != 1 else ''}"
    return text + (", done" if w.done else "")
