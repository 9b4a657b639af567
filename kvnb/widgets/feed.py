"""WatchFeed: a live feed of a watch, newest first, with gaps, the caught-up moment and a rate meter.

Example (in a notebook cell)::

    feed = kvnb.WatchFeed(kv, "orders.>")
    feed                      # the live view; await feed.ready() to wait for the initial values

The feed reads kvnb's own :class:`~kvnb.Watch` (``watch.events()``) on the kernel's main loop.
Events go into a bounded ring (:class:`~kvnb.model.FeedModel`); the view gets only new rows, at
most 20 times a second, so a burst of a million events costs neither memory nor a frozen page.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import traitlets as t

from .. import validation as v
from ..model.events import OP_WORDS, shown_value
from ..model.feed import FeedModel
from ..watch import CAUGHT_UP
from . import _html
from ._base import WatchWidget, as_kv, esm

if TYPE_CHECKING:
    from ..bucket import KV
    from ..watch import Watch

__all__ = ["WatchFeed"]

_TEXT_ROWS = 20
_HTML_ROWS = 50


class WatchFeed(WatchWidget):
    """A live feed of the keys matching ``pattern``: operation, key, revision, value, age.

    ``include_history`` first shows every revision still kept (not only the latest per key);
    ``ignore_deletes`` hides DEL/PURGE markers; ``max_rows`` bounds the rows kept. Gaps in the
    revisions (values superseded before the watch read them, under a shallow history) appear
    as rows of their own when the pattern is ``">"``. ``kv=None`` makes an offline feed that
    :meth:`feed` fills by hand.
    """

    _esm = esm("feed.js")
    _kind = "watchfeed"
    pattern = t.Unicode(">", help="the key pattern watched").tag(sync=True)
    max_rows = t.Int(200, help="rows kept (older ones are dropped and counted)").tag(sync=True)
    paused = t.Bool(False, help="the view is frozen (events are still counted)").tag(sync=True)
    caught_up = t.Bool(False, help="the initial values are all in").tag(sync=True)

    def __init__(self, kv: KV | None = None, pattern: str = ">", *, include_history: bool = False,
                 ignore_deletes: bool = False, max_rows: int = 200) -> None:
        kv = as_kv(kv)
        v.check_pattern(pattern)
        self.model = FeedModel(max_rows, detect_gaps=pattern == ">", include_history=include_history,
                               ignore_deletes=ignore_deletes)
        self.include_history = include_history
        self.ignore_deletes = ignore_deletes
        self._sent = 0  # model.pushed when the view last got rows
        self._last_rate_sample = 0.0
        key = ("WatchFeed", kv.name, pattern) if kv is not None else None
        super().__init__(kv, registry_key=key, pattern=pattern, max_rows=max_rows)

    # --- the source ---------------------------------------------------------------------------
    def _open_watch(self) -> Watch:
        assert self.kv is not None
        # deletes are filtered by the model, not the watch: a hidden marker must not look like a gap
        return self.kv.watch(self.pattern, include_history=self.include_history)

    def _on_caught_up(self) -> None:
        self.model.mark_caught_up()
        self.caught_up = True
        super()._on_caught_up()

    def feed(self, events: Iterable[Any]) -> None:
        """Add events by hand (an offline feed, or a test); :data:`kvnb.CAUGHT_UP` marks the caught-up moment."""
        model = self.model
        for item in events:
            if item is CAUGHT_UP:
                model.mark_caught_up()
                self.caught_up = True
            else:
                model.add(item)
        self._throttle.kick()

    # --- controls -----------------------------------------------------------------------------
    def pause(self) -> None:
        """Freeze the view; events are still counted (and kept in the ring)."""
        self.model.pause()
        self.paused = True
        self._throttle.kick()

    def resume(self) -> None:
        """Unfreeze the view: it jumps to the newest rows."""
        self.model.resume()
        self.paused = False
        self._send_snapshot()

    def clear(self) -> None:
        """Empty the rows (counters go on)."""
        self.model.clear()
        self._send_snapshot()

    def _action(self, name: str, content: dict[str, Any]) -> None:
        {"pause": self.pause, "resume": self.resume, "clear": self.clear}[name]()

    # --- what the view gets -------------------------------------------------------------------
    @property
    def rows(self) -> list[dict[str, Any]]:
        """The rows the view shows, newest first, as dicts (``k``: ``"e"`` event, ``"g"`` gap, ``"c"`` caught up)."""
        return [r.to_json() for r in self.model.rows()]

    def status(self) -> dict[str, Any]:
        status = self.model.status()
        watch = self._watch
        status["watch_error"] = watch.error if watch is not None and watch.error else ""
        return status

    def _sample_rate(self) -> None:
        now = time.monotonic()
        self.model.rate.sample(now, self.model.events)
        self._last_rate_sample = now

    def _snapshot(self) -> dict[str, Any]:
        self._sample_rate()
        self._sent = self.model.pushed
        return {"rows": self.rows, "status": self.status(), "max_rows": self.model.max_rows}

    def _refresh(self) -> None:
        model = self.model
        self._sample_rate()
        new = 0 if model.paused else min(model.pushed - self._sent, model.max_rows)
        rows = [r.to_json() for r in model.rows(new)] if new > 0 else []
        if not model.paused:
            self._sent = model.pushed
        self._post("delta", {"rows": rows, "status": self.status()})
        if model.rate.rate() > 0:
            self._throttle.kick_later(1.0)  # let the meter fall back to 0 when the events stop

    def _last_revision(self) -> int | None:
        return self.model.last_revision or None

    # --- reprs --------------------------------------------------------------------------------
    def _title(self) -> str:
        where = f"on {self.bucket!r}" if self.bucket else "(offline)"
        return f"WatchFeed({self.pattern!r} {where})"

    def _text_lines(self) -> list[str]:
        lines = [f"{self._title()}: {self.model.summary()}"]
        rows = self.model.rows(_TEXT_ROWS)
        width = min(24, max((len(r.key) for r in rows), default=0))
        lines += ["  " + r.to_text(width) for r in rows]
        if len(self.model) > _TEXT_ROWS:
            lines.append(f"  … {len(self.model) - _TEXT_ROWS} more rows")
        return lines

    def _static_html(self) -> str:
        """The feed's rows as a table (op, key, revision, value, written), newest first, like the live view."""
        rows = []
        span = 'colspan="5"'
        for r in self.model.rows(_HTML_ROWS):
            if r.kind == "event":
                if r.operation == "PUT":
                    value = _html.esc(shown_value(r.value))
                else:
                    value = f'<i style="{_html.MUTED}">({"deleted" if r.operation == "DEL" else "purged"})</i>'
                title = f"key {r.key}, revision {r.revision}: {OP_WORDS.get(r.operation, r.operation)}"
                rows.append(
                    f'<tr class="kvnb-feed-row" data-key="{_html.esc(r.key)}" data-revision="{r.revision}" '
                    f'data-op="{r.operation}" title="{_html.esc(title)}">'
                    f'<td style="{_html.TD};width:2.2em;text-align:center">{_html.op_badge(r.operation)}</td>'
                    f'<td style="{_html.TD}">{_html.esc(r.key)}</td>'
                    f'<td style="{_html.TD};{_html.NUM};{_html.MUTED};width:8ch">{r.revision}</td>'
                    f'<td style="{_html.TD};white-space:normal;word-break:break-all">{value}</td>'
                    f'<td style="{_html.TD};{_html.MUTED}">{_html.when(r.created)}</td></tr>')
            elif r.kind == "gap":
                rows.append(f'<tr class="kvnb-gap" data-first="{r.first}" data-last="{r.last}"><td {span} style="'
                            f'{_html.TD};{_html.WARN};font-style:italic;border-left:4px dashed currentColor;'
                            f'padding-left:6px">{_html.esc(r.text)}</td></tr>')
            else:
                rows.append(f'<tr class="kvnb-caught-up" data-revision="{r.revision}"><td {span} style="{_html.TD};'
                            f'{_html.GOOD};font-weight:bold;border-left:4px solid currentColor;padding-left:6px">'
                            f'{_html.esc(r.text)}</td></tr>')
        if len(self.model) > _HTML_ROWS:
            rows.append(f'<tr><td {span} style="{_html.MUTED}">… {len(self.model) - _HTML_ROWS} older rows</td></tr>')
        head = [("op", "text-align:center"), ("key", ""), ("revision", _html.NUM), ("value", "width:100%"),
                ("written", "")]
        body = _html.table(head, rows) if rows else f'<div style="{_html.MUTED}">no events yet</div>'
        title = f"watch {self.pattern} on {self.bucket}" if self.bucket else f"watch {self.pattern}"
        return _html.root("watchfeed", title, body, status=self.model.summary(), error=self.error)
