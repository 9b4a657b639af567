"""TimeTravel: a slider over revisions showing the bucket exactly as it was, rebuilt from history.

Example (in a notebook cell)::

    tt = kvnb.TimeTravel(kv)
    tt                        # drag the slider; or tt.revision = 5
    tt.state_at(5)            # {'a': '1', ...}: the same thing as a dict (pure, from the model)

Where the history the bucket keeps no longer reaches back, it says so: those keys are
*unknowable* at that revision, not silently missing. ``await tt.load()`` reads history again; it
also reloads on its own when the server removes revisions (``purge_deletes``, expiry), which it
learns from about one small stream-info request a second (:class:`~._kept.KeptPoller`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import traitlets as t

from ..model.state import BucketHistory, BucketState
from . import _html
from ._base import KvnbWidget, as_kv, esm
from ._kept import KeptPoller

if TYPE_CHECKING:
    from ..bucket import KV

__all__ = ["TimeTravel"]


class TimeTravel(KvnbWidget):
    """The bucket at ``revision`` (a slider from ``min_revision`` to ``max_revision``)."""

    _esm = esm("timetravel.js")
    _kind = "timetravel"
    revision = t.Int(0, help="the revision shown (0 before the history is loaded)").tag(sync=True)
    min_revision = t.Int(0).tag(sync=True)
    max_revision = t.Int(0).tag(sync=True)
    view = t.Dict(help="rows and note for the revision shown").tag(sync=True)
    loaded = t.Bool(False).tag(sync=True)

    def __init__(self, kv: KV | None = None, *, entries: Iterable[Any] | None = None,
                 history: int | None = None) -> None:
        kv = as_kv(kv)
        self.history_model: BucketHistory | None = None
        self.kept: KeptPoller | None = None
        key = ("TimeTravel", kv.name, ">") if kv is not None else None
        super().__init__(kv, registry_key=key)
        self.observe(self._on_revision, names="revision")
        if entries is not None:
            depth = history if history is not None else (kv.history_depth if kv is not None else 64)
            self._use(BucketHistory(list(entries), history=depth))
            self._ready.set()
        elif kv is not None:
            self._spawn(self._load_quietly())
        else:
            self._ready.set()

    async def load(self) -> TimeTravel:
        """(Re)read every kept revision from the server; the slider then spans them."""
        if self.kv is None:
            from ..errors import InvalidInput

            raise InvalidInput("this TimeTravel was made from a list of entries: it has no bucket to load from. "
                               "Example: tt = kvnb.TimeTravel(kv); await tt.load()")
        try:
            entries = await self.kv.entries(">", include_history=True, include_markers=True)
            info = await self.kv.info()
        except Exception as err:
            self._set_error(err)
            raise
        finally:
            self._ready.set()
        self.error = ""
        self._use(BucketHistory(entries, history=info.history, ttl=info.ttl, first_revision=info.first_revision,
                                last_revision=info.last_revision))
        if self.kept is None and not self.stopped:
            self.kept = KeptPoller(self.kv, ">", self._on_counts)
            self.kept.baseline(info.values, info.last_revision)
            self._spawn(self.kept.run(lambda: not self.stopped))
        return self

    def _on_counts(self, counts: dict[str, int], upto: int) -> None:
        """The server removed revisions (purge_deletes, expiry): read the history again."""
        self._spawn(self._load_quietly())

    async def _load_quietly(self) -> None:
        try:
            await self.load()
        except Exception:
            pass  # shown in the widget

    def _use(self, model: BucketHistory) -> None:
        self.history_model = model
        with self.hold_sync():
            self.min_revision = 1 if model.last_revision else 0
            self.max_revision = model.last_revision
            self.loaded = True
            if self.revision == 0 or self.revision > model.last_revision:
                self.revision = model.last_revision  # the observer renders the view
            else:
                self._render()

    def state_at(self, revision: int) -> BucketState:
        """The bucket at ``revision`` as ``{key: value}`` (with ``.unknowable``, ``.deleted``); pure."""
        if self.history_model is None:
            raise RuntimeError("history not loaded yet: await tt.ready() or await tt.load() first")
        return self.history_model.state_at(revision)

    def _on_revision(self, _change: Any) -> None:
        self._call_on_loop(self._render)  # a slider moved in the browser: render on the main loop

    def _render(self) -> None:
        model = self.history_model
        if model is None or self.revision < 1:
            self.view = {}
            return
        self.view = model.describe(self.revision)

    def _action(self, name: str, content: dict[str, Any]) -> None:
        if name == "load" and self.kv is not None:
            self._spawn(self._load_quietly())

    def _last_revision(self) -> int | None:
        return self.max_revision or None

    # --- reprs --------------------------------------------------------------------------------
    def _title(self) -> str:
        return f"TimeTravel({self.bucket!r})" if self.bucket else "TimeTravel(offline)"

    def _text_lines(self) -> list[str]:
        if self.history_model is None:
            return [f"{self._title()}: history not loaded"]
        if self.revision < 1:
            return [f"{self._title()}: the bucket is empty"]
        view = self.history_model.describe(self.revision)
        lines = [f"{self._title()}: revision {self.revision} of {self.min_revision}..{self.max_revision}"]
        width = min(24, max((len(r["key"]) for r in view["rows"]), default=0))
        for r in view["rows"]:
            if r["status"] == "value":
                what = f"{r['value']!r}  (rev {r['rev']})"
            elif r["status"] == "deleted":
                what = f"({r['op']} tombstone, rev {r['rev']})"
            else:
                what = "? unknowable"
            lines.append(f"  {r['key']:<{width}}  {what}")
        if view["note"]:
            lines.append(f"  note: {view['note']}")
        return lines

    def _static_html(self) -> str:
        """The slider's position and the bucket at that revision, as the live view shows them."""
        if self.history_model is None or self.revision < 1:
            status = "history not loaded" if self.history_model is None else "the bucket is empty"
            return _html.root("timetravel", self._title(), "", status=status, error=self.error)
        view = self.history_model.describe(self.revision)
        rows = []
        for r in view["rows"]:
            key = _html.esc(r["key"])
            if r["status"] == "value":
                cells = (f'<td style="{_html.TD};white-space:normal;word-break:break-all">{_html.esc(r["shown"])}</td>'
                         f'<td style="{_html.TD};{_html.NUM}">{r["rev"]}</td>')
            elif r["status"] == "deleted":
                what = "deleted" if r["op"] == "DEL" else "purged"
                cells = (f'<td style="{_html.TD};{_html.MUTED};font-style:italic">({what})</td>'
                         f'<td style="{_html.TD};{_html.NUM}">{r["rev"]}</td>')
            else:
                cells = (f'<td style="{_html.TD};{_html.WARN};font-style:italic;white-space:normal" '
                         f'title="{_html.esc(r["reason"])}">cannot be known: {_html.esc(r["reason"])}</td>'
                         f'<td style="{_html.TD}"></td>')
            rows.append(f'<tr class="kvnb-row kvnb-{r["status"]}" data-key="{key}" data-status="{r["status"]}">'
                        f'<td style="{_html.TD}">{key}</td>{cells}</tr>')
        lo, hi = self.min_revision, self.max_revision
        pos = 100.0 if hi <= lo else (self.revision - lo) * 100 / (hi - lo)
        slider = (f'<div class="kvnb-tt-slider" title="revision {self.revision} of {lo}..{hi}" style="display:flex;'
                  'align-items:center;gap:8px;margin:4px 0">'
                  f'<span style="{_html.MUTED}">{lo}</span><span style="position:relative;flex:1;height:4px;'
                  f'border-radius:2px;background:{_html.LINE}"><span style="position:absolute;left:0;top:0;height:4px;'
                  f'width:{pos:.1f}%;border-radius:2px;background:var(--jp-brand-color1,#1976d2)"></span>'
                  f'<span style="position:absolute;left:calc({pos:.1f}% - 6px);top:-4px;width:12px;height:12px;'
                  'border-radius:50%;background:var(--jp-brand-color1,#1976d2)"></span></span>'
                  f'<span style="{_html.MUTED}">{hi}</span><b>revision {self.revision}</b></div>')
        note = (f'<div class="kvnb-note" style="{_html.WARN};margin-top:4px">{_html.esc(view["note"])}</div>'
                if view["note"] else "")
        head = [("key", ""), ("value then", "width:100%"), ("written at revision", _html.NUM)]
        body = slider + _html.table(head, rows) + note
        status = f"the bucket as it was at revision {self.revision} (kept: {lo}..{hi})"
        title = f"bucket {self.bucket} at revision {self.revision}" if self.bucket else f"at revision {self.revision}"
        return _html.root("timetravel", title, body, status=status, error=self.error)
