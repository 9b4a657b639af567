"""Timeline: one lane per key on the shared revision axis; revisions the history dropped drawn as gone.

Example (in a notebook cell)::

    tl = kvnb.Timeline(kv)        # every key; kvnb.Timeline(kv, "sensors.>") for some
    tl

It watches with ``include_history=True``, so it starts with every revision the bucket still
keeps and then follows new ones. The picture is sent to the browser once and then as deltas
(new marks, marks now gone, marks a full lane let go), at most 20 times a second. What the
server removes without telling a watch (``purge_deletes``, expiry, a smaller history) is learned
from the stream's per-key message counts (:class:`~._kept.KeptPoller`, about one request a second).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import traitlets as t

from .. import validation as v
from ..errors import InvalidOption
from ..model.events import OP_WORDS
from ..model.timeline import TimelineModel
from ..watch import CAUGHT_UP
from . import _html
from ._base import WatchWidget, as_kv, esm
from ._kept import KeptPoller

if TYPE_CHECKING:
    from ..bucket import KV
    from ..watch import Watch

__all__ = ["Timeline"]

_HTML_COLUMNS = 48  # newest revisions drawn in the static picture (each is one column)
_HTML_LANES = 40
_GONE_WORDS = {
    "history": "no longer kept: the bucket keeps only the newest revisions of each key",
    "purge": "no longer kept: a later purge of this key removed it",
    "removed": "no longer kept: the server removed it (purge_deletes, expired, or a smaller history)",
}


class Timeline(WatchWidget):
    """Lanes of marks (P put, D delete, X purge) for the keys matching ``keys``.

    ``max_revisions`` marks are kept per lane and ``max_keys`` lanes at most (further keys are
    counted, not drawn). ``history`` overrides the bucket's history depth (it decides which
    marks are gone); ``kv=None`` makes an offline timeline that :meth:`feed` fills by hand.
    """

    _esm = esm("timeline.js")
    _kind = "timeline"
    pattern = t.Unicode(">", help="the key pattern shown").tag(sync=True)
    caught_up = t.Bool(False, help="every kept revision has been read").tag(sync=True)

    def __init__(self, kv: KV | None = None, keys: str = ">", *, max_revisions: int = 64, max_keys: int = 100,
                 history: int | None = None) -> None:
        kv = as_kv(kv)
        v.check_pattern(keys)
        for name, value in (("max_revisions", max_revisions), ("max_keys", max_keys)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidOption(f"{name} must be a positive int, got {value!r}. Example: {name}=64")
        depth = history if history is not None else (kv.history_depth if kv is not None else None)
        self.model = TimelineModel(history=depth, max_revisions=max_revisions, max_keys=max_keys,
                                   track_gaps=keys == ">")
        self.kept: KeptPoller | None = None  # what the stream still holds (live timelines)
        key = ("Timeline", kv.name, keys) if kv is not None else None
        super().__init__(kv, registry_key=key, pattern=keys)
        # 10 pictures a second are plenty for marks; a burst's deltas then come in half as many messages
        self._throttle.interval = 0.1

    def _open_watch(self) -> Watch:
        assert self.kv is not None
        return self.kv.watch(self.pattern, include_history=True)

    def _on_caught_up(self) -> None:
        self.caught_up = True
        super()._on_caught_up()

    def _watch_started(self, watch: Watch) -> None:
        super()._watch_started(watch)
        assert self.kv is not None
        self.kept = KeptPoller(self.kv, self.pattern, self._on_counts)
        self._spawn(self.kept.run(lambda: not self.stopped and not watch.stopped))

    def _on_counts(self, counts: dict[str, int], upto: int) -> None:
        """The stream's per-key message counts: marks of what it no longer holds turn gone."""
        if self.model.apply_counts(counts, upto=upto):
            self._throttle.kick()

    def feed(self, events: Iterable[Any]) -> None:
        """Add events by hand (offline timeline, tests)."""
        for item in events:
            if item is CAUGHT_UP:
                self.caught_up = True
            else:
                self.model.add(item)
        self._throttle.kick()

    # --- what the view gets -------------------------------------------------------------------
    def _snapshot(self) -> dict[str, Any]:
        return self.model.snapshot()

    def _refresh(self) -> None:
        delta = self.model.take_delta()
        if delta is None:
            return
        if delta.pop("full", False):
            self._post("snapshot", delta)
        else:
            self._post("delta", delta)

    def _last_revision(self) -> int | None:
        return self.model.last_revision or None

    # --- reprs --------------------------------------------------------------------------------
    def _title(self) -> str:
        where = f"on {self.bucket!r}" if self.bucket else "(offline)"
        return f"Timeline({self.pattern!r} {where})"

    def _summary(self) -> str:
        m = self.model
        s = m.status()
        parts = [f"{s['keys']} key{'s' if s['keys'] != 1 else ''}"]
        if m.last_revision:
            parts.append(f"revisions {m.first_revision()}..{m.last_revision}")
        if m.history is not None:
            parts.append(f"history {m.history}")
        if s["gone"]:
            parts.append(f"{s['gone']} no longer kept")
        if s["gap_revisions"]:
            parts.append(f"{s['gap_revisions']} never seen")
        if s["hidden_keys"]:
            parts.append(f"{s['hidden_keys']} more keys not shown")
        return ", ".join(parts)

    def _text_lines(self) -> list[str]:
        return [f"{self._title()}: {self._summary()}"] + ["  " + line for line in self.model.to_text()]

    def _static_html(self) -> str:
        """A grid like the live view: a row per key (natural order), a column per revision (the newest
        48), the operation's letter where the key was written; hover a mark for its details."""
        m = self.model
        columns: list[tuple[int, str, Any]] = []  # (revision, kind, mark or gap) newest last
        for lane in m.lanes.values():
            columns += [(mark.revision, "mark", mark) for mark in lane.marks]
        columns += [(a, "gap", (a, b)) for a, b in m.gaps]
        columns.sort(key=lambda c: c[0])
        older = max(0, len(columns) - _HTML_COLUMNS)
        columns = columns[older:]
        index = {rev: i for i, (rev, _kind, _item) in enumerate(columns)}
        lanes = m.sorted_lanes()
        shown_lanes = lanes[:_HTML_LANES]
        step = 1 if len(columns) <= 24 else 5
        td = (f"border:none;border-left:1px dotted {_html.LINE};padding:1px 0;text-align:center;min-width:16px;"
              "line-height:1.4;vertical-align:middle")
        first = "border:none;padding:1px 8px 1px 0;text-align:left;white-space:nowrap;line-height:1.4"
        axis = [f'<td style="{first};{_html.MUTED}">revision</td>']
        for i, (rev, kind, item) in enumerate(columns):
            if kind == "gap":
                a, b = item
                span = f"revision {a}" if a == b else f"revisions {a}–{b}"
                axis.append(f'<td class="kvnb-tl-gap" data-first="{a}" data-last="{b}" title="{span} never seen: '
                            f'removed before anyone read them" style="{td};border:1px dashed '
                            f'var(--jp-warn-color1,#e65100);{_html.WARN};font-size:10px">…</td>')
            else:
                label = str(rev) if i % step == 0 else ""
                axis.append(f'<td style="{td};border-left:none;{_html.MUTED};font-size:10px;{_html.NUM};'
                            f'text-align:center">{label}</td>')
        rows = [f'<tr style="border-bottom:1px solid {_html.LINE}">{"".join(axis)}</tr>']
        for lane in shown_lanes:
            cells = [""] * len(columns)
            key = _html.esc(lane.key)
            for mark in lane.marks:
                i = index.get(mark.revision)
                if i is None:
                    continue
                tip = [f"key {lane.key}, revision {mark.revision}", OP_WORDS.get(mark.operation, mark.operation)]
                if mark.operation == "PUT":
                    tip.append(f"value: {mark.value}")
                if mark.created:
                    tip.append(f"written {_html.when(mark.created)}")
                if mark.gone:
                    tip.append(_GONE_WORDS.get(mark.gone, "no longer kept"))
                gone = f' data-gone="{mark.gone}"' if mark.gone else ""
                badge = _html.op_badge(mark.operation, gone=bool(mark.gone), title=chr(10).join(tip))
                cells[i] = (f'<span class="kvnb-mark" data-key="{key}" data-revision="{mark.revision}" '
                            f'data-op="{mark.operation}"{gone}>{badge}</span>')
            tds = "".join(f'<td style="{td}">{c}</td>' if c else f'<td style="{td}"></td>' for c in cells)
            rows.append(f'<tr style="border-bottom:1px dotted {_html.LINE}"><td style="{first}">{key}</td>{tds}</tr>')
        notes = []
        if older:
            notes.append(f"{older} older revisions not drawn (the live view scrolls back to them)")
        if len(lanes) > _HTML_LANES:
            notes.append(f"{len(lanes) - _HTML_LANES} more keys not drawn")
        legend = "".join([
            _html.legend_item(_html.op_badge("PUT"), "put"), _html.legend_item(_html.op_badge("DEL"), "delete"),
            _html.legend_item(_html.op_badge("PURGE"), "purge"),
            _html.legend_item(_html.op_badge("PUT", gone=True), "no longer kept by the bucket"),
            '<span>revision: the bucket\'s write counter, shared by all keys</span>'])
        body = (f'<div class="kvnb-legend" style="{_html.MUTED};margin-bottom:4px">{legend}</div>'
                + (f'<table style="{_html.TABLE}">{"".join(rows)}</table>' if m.lanes
                   else f'<div style="{_html.MUTED}">no revisions yet</div>')
                + (f'<div style="{_html.MUTED}">{_html.esc("; ".join(notes))}</div>' if notes else ""))
        title = f"timeline of {self.pattern} on {self.bucket}" if self.bucket else f"timeline of {self.pattern}"
        return _html.root("timeline", title, body, status=self._summary(), error=self.error)
