"""Timeline: one lane per key on the shared revision axis; revisions the history dropped drawn as gone.

Example (in a notebook cell)::

    tl = kvnb.Timeline(kv)        # every key; kvnb.Timeline(kv, "sensors.>") for some
    tl

It watches with ``include_history=True``, so it starts with every revision the bucket still
keeps and then follows new ones. The picture is sent to the browser once and then as deltas
(new marks, marks now gone, marks a full lane let go), at most 20 times a second.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import traitlets as t

from .. import validation as v
from ..errors import InvalidOption
from ..model.timeline import TimelineModel
from ..watch import CAUGHT_UP
from . import _html
from ._base import WatchWidget, as_kv, esm

if TYPE_CHECKING:
    from ..bucket import KV
    from ..watch import Watch

__all__ = ["Timeline"]

_HTML_MARKS = 32  # marks per lane in the static picture


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
        key = ("Timeline", kv.name, keys) if kv is not None else None
        super().__init__(kv, registry_key=key, pattern=keys)

    def _open_watch(self) -> Watch:
        assert self.kv is not None
        return self.kv.watch(self.pattern, include_history=True)

    def _on_caught_up(self) -> None:
        self.caught_up = True
        super()._on_caught_up()

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
            parts.append(f"{s['gone']} gone")
        if s["gap_revisions"]:
            parts.append(f"{s['gap_revisions']} never delivered")
        if s["hidden_keys"]:
            parts.append(f"{s['hidden_keys']} more keys not shown")
        return ", ".join(parts)

    def _text_lines(self) -> list[str]:
        return [f"{self._title()}: {self._summary()}"] + ["  " + line for line in self.model.to_text()]

    def _static_html(self) -> str:
        rows = []
        for lane in self.model.lanes.values():
            marks = list(lane.marks)[-_HTML_MARKS:]
            cells = "".join(
                f'<span class="kvnb-mark" data-key="{_html.esc(lane.key)}" data-revision="{m.revision}" '
                f'data-op="{m.operation}" title="revision {m.revision}{" (gone)" if m.gone else ""}: '
                f'{_html.esc(m.value)}">{_html.op_badge(m.operation, gone=bool(m.gone))}'
                f'<sub style="{_html.MUTED}">{m.revision}</sub></span> '
                for m in marks)
            rows.append(f'<tr><td style="padding-right:8px">{_html.esc(lane.key)}</td><td>{cells}</td></tr>')
        legend = (f'<div style="{_html.MUTED}">{_html.op_badge("PUT")} put {_html.op_badge("DEL")} delete '
                  f'{_html.op_badge("PURGE")} purge {_html.op_badge("PUT", gone=True)} gone (dropped by history); '
                  'the number is the bucket revision, one counter shared by all keys</div>')
        gaps = ""
        if self.model.gaps:
            spans = ", ".join(f"{a}" if a == b else f"{a}–{b}" for a, b in list(self.model.gaps)[-8:])
            gaps = f'<div style="color:var(--jp-warn-color1,#f57c00)">never delivered: revisions {spans}</div>'
        body = f'{legend}<table style="border-collapse:collapse">{"".join(rows)}</table>{gaps}'
        return _html.root("timeline", self._title(), body, status=self._summary(), error=self.error)
