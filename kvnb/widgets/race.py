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
increment, ``×`` for a conflict (another writer came first: read again, retry), ``!`` for an error.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import traitlets as t

from ..counter import Counter
from ..model.race import RaceResult, RaceStats
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
            lines.append(f"  writer {w.index}: {w.successes} stored, {w.conflicts} conflicts, {w.retries} retried"
                         + (f", {w.errors} errors" if w.errors else ""))
        return lines

    def _static_html(self) -> str:
        lanes = "".join(
            f'<div class="kvnb-race-lane" data-writer="{w.index}">writer {w.index}: {w.successes} stored, '
            f'{w.conflicts} conflicts, {w.retries} retried '
            f'<span style="letter-spacing:1px">{_html.esc("".join(w.recent))}</span></div>' for w in self.stats.writers)
        verdict = ""
        if self.result is not None:
            colour = "var(--jp-success-color1,#388e3c)" if self.result.ok else "var(--jp-error-color1,#d32f2f)"
            mark = "✔" if self.result.ok else "✘"
            speed = f' <span class="kvnb-race-speed">({_html.esc(self.result.speed())})</span>' \
                if self.result.speed() else ""
            verdict = (f'<div class="kvnb-verdict" style="font-weight:bold;color:{colour}">{mark} '
                       f'{_html.esc(self.result.summary())}{speed}</div>')
        return _html.root("race", self._title(), lanes + verdict, error=self.error)
