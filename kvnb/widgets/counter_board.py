"""CounterBoard: server-side counters (``kvnb.open_counter``) as a live board of totals.

Example (in a notebook cell)::

    likes = await kvnb.open_counter("likes")
    board = kvnb.CounterBoard(likes, "post.>")
    board                       # one row per key: total, a bar, the last increment
    ...
    await board.stop()          # stops its watch, keeps the last picture

Rows are sorted by total, largest first (``by="key"`` sorts by key).
"""

from __future__ import annotations

import asyncio
from typing import Any

import traitlets as t

from ..counter import Counter, CounterEntry
from ..model.counters import CounterBoardModel
from ..validation import check_choice, check_pattern
from ..watch import CAUGHT_UP
from . import _html
from ._base import KvnbWidget, esm

__all__ = ["CounterBoard"]


class CounterBoard(KvnbWidget):
    """The totals of the counters matching ``pattern``, live (at most ``max_rows`` shown)."""

    _esm = esm("counter_board.js")
    _kind = "counterboard"
    pattern = t.Unicode(">", help="the keys shown").tag(sync=True)
    rows = t.List(help="the rows shown: key, value, delta, rev, share").tag(sync=True)
    summary = t.Unicode("", help="the status line").tag(sync=True)

    def __init__(self, counter: Counter, pattern: str = ">", *, by: str = "value", max_rows: int = 50) -> None:
        if not isinstance(counter, Counter):
            from ..errors import InvalidInput

            raise InvalidInput(
                f"CounterBoard needs counters from `await kvnb.open_counter(...)`, got {type(counter).__name__}. "
                "Example: kvnb.CounterBoard(await kvnb.open_counter('likes'))")
        check_pattern(pattern)
        self.by = check_choice(by, what="by", choices=("value", "key"))
        self.counter = counter
        self.model = CounterBoardModel()
        self.max_rows = max_rows
        self._watch: Any = None
        super().__init__(None, registry_key=("CounterBoard", counter.name, pattern), pattern=pattern)
        self.bucket = counter.name
        self._spawn(self._consume())

    async def _consume(self) -> None:
        try:
            self._watch = watch = self.counter.watch(self.pattern)
            await watch.start()
            async for item in watch.events():
                if item is CAUGHT_UP:
                    self._mark_ready()
                    continue
                self.model.add(item)  # type: ignore[arg-type]
                self._throttle.kick()
        except asyncio.CancelledError:
            raise
        except Exception as err:
            self._set_error(err)
        finally:
            self._ready.set()

    def feed(self, entries: list[CounterEntry]) -> None:
        """Add entries by hand (tests)."""
        for entry in entries:
            self.model.add(entry)
        self._throttle.flush()

    async def _stop_sources(self) -> None:
        if self._watch is not None:
            await self._watch.stop()

    def _last_revision(self) -> int | None:
        return self.model.last_revision or None

    def _refresh(self) -> None:
        self.rows = self.model.rows(by=self.by, limit=self.max_rows)
        self.summary = self._summary()

    # --- reprs --------------------------------------------------------------------------------
    def _summary(self) -> str:
        n = len(self.model.latest)
        parts = [f"{n} counter{'s' if n != 1 else ''}", f"sum {self.model.total}"]
        if self.model.last_revision:
            parts.append(f"last revision {self.model.last_revision}")
        return ", ".join(parts)

    def _title(self) -> str:
        return f"CounterBoard({self.bucket!r}, {self.pattern!r})"

    def _text_lines(self) -> list[str]:
        return [f"{self._title()}: {self._summary()}"] + ["  " + line for line in self.model.to_text(self.max_rows)]

    def _static_html(self) -> str:
        # Inline styles only (a rendered-HTML page right-aligns and stretches tables otherwise).
        cell = "padding:1px 10px 1px 0;border:none;text-align:left"
        right = "padding:1px 10px 1px 0;border:none;text-align:right"
        rows = []
        for r in self.model.rows(by=self.by, limit=self.max_rows):
            bar = (f'<span class="kvnb-counter-bar" style="display:inline-block;height:0.8em;'
                   f'width:{max(1, round(160 * r["share"]))}px;background:var(--jp-brand-color1,#1976d2)"></span>')
            delta = f"{r['delta']:+d}" if r["delta"] is not None else ""
            rows.append(f'<tr class="kvnb-row" data-key="{_html.esc(r["key"])}" data-revision="{r["rev"]}">'
                        f'<td style="{cell}">{_html.esc(r["key"])}</td><td style="{right}">{_html.esc(r["value"])}</td>'
                        f'<td style="{cell}">{bar}</td><td style="{cell};{_html.MUTED}">{delta}</td></tr>')
        head = (f'<tr style="{_html.MUTED}"><th style="{cell}">key</th><th style="{right}">total</th>'
                f'<th style="{cell}"></th><th style="{cell}">last</th></tr>')
        body = (f'<table class="kvnb-table" style="border-collapse:collapse;width:auto;margin:0">{head}'
                f'{"".join(rows)}</table>')
        return _html.root("counterboard", self._title(), body, status=self._summary(), error=self.error)
