"""BucketTable: the bucket's current keys with value, revision and age, updating live.

Example (in a notebook cell)::

    table = kvnb.BucketTable(kv)
    table                         # tick "show deleted" to see tombstones greyed out

Deleted (DEL) and purged (PURGE) keys vanish, or with ``show_deleted`` stay greyed with the
revision of their tombstone.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import traitlets as t

from ..model.table import TableModel
from ..watch import CAUGHT_UP
from . import _html
from ._base import WatchWidget, as_kv, esm

if TYPE_CHECKING:
    from ..bucket import KV
    from ..watch import Watch

__all__ = ["BucketTable"]


class BucketTable(WatchWidget):
    """Current keys of a bucket (at most ``max_rows`` shown, sorted by key)."""

    _esm = esm("table.js")
    _kind = "buckettable"
    show_deleted = t.Bool(False, help="show deleted keys greyed out with their tombstone revision").tag(sync=True)
    rows = t.List(help="the rows shown: key, value, rev, op, l, t, deleted").tag(sync=True)
    summary = t.Unicode("", help="the status line").tag(sync=True)
    caught_up = t.Bool(False).tag(sync=True)

    def __init__(self, kv: KV | None = None, *, show_deleted: bool = False, max_rows: int = 500) -> None:
        kv = as_kv(kv)
        self.model = TableModel()
        self.max_rows = max_rows
        key = ("BucketTable", kv.name, ">") if kv is not None else None
        super().__init__(kv, registry_key=key, show_deleted=show_deleted)  # starts reading (on the next loop turn)
        self.observe(lambda _change: self._throttle.kick(), names="show_deleted")

    def _open_watch(self) -> Watch:
        assert self.kv is not None
        return self.kv.watch(">")

    def _on_caught_up(self) -> None:
        self.model.caught_up = True
        self.caught_up = True
        self._throttle.flush()
        super()._on_caught_up()

    def feed(self, events: Iterable[Any]) -> None:
        """Add events by hand (offline table, tests)."""
        for item in events:
            if item is not CAUGHT_UP:
                self.model.add(item)
        self._throttle.flush()

    def _refresh(self) -> None:
        self.rows = self.model.rows(show_deleted=self.show_deleted, limit=self.max_rows)
        self.summary = self._summary()

    # --- reprs --------------------------------------------------------------------------------
    def _summary(self) -> str:
        live, deleted = len(self.model.live_keys), len(self.model.deleted_keys)
        parts = [f"{live} key{'s' if live != 1 else ''}"]
        if deleted:
            parts.append(f"{deleted} deleted ({'shown greyed' if self.show_deleted else 'hidden'})")
        if self.model.last_revision:
            parts.append(f"last revision {self.model.last_revision}")
        shown = live + (deleted if self.show_deleted else 0)
        if shown > self.max_rows:
            parts.append(f"showing the first {self.max_rows}")
        return ", ".join(parts)

    def _title(self) -> str:
        return f"BucketTable({self.bucket!r})" if self.bucket else "BucketTable(offline)"

    def _text_lines(self) -> list[str]:
        lines = [f"{self._title()}: {self._summary()}"]
        return lines + ["  " + line for line in self.model.to_text(show_deleted=self.show_deleted)]

    def _static_html(self) -> str:
        rows = []
        for r in self.model.rows(show_deleted=self.show_deleted, limit=100):
            style = ' style="color:var(--jp-ui-font-color2,#757575);text-decoration:line-through"' \
                if r["deleted"] else ""
            value = f"({r['op']} tombstone)" if r["deleted"] else r["value"]
            cls = "kvnb-row kvnb-deleted" if r["deleted"] else "kvnb-row"
            rows.append(f'<tr class="{cls}" data-key="{_html.esc(r["key"])}" data-op="{r["op"]}"'
                        f' data-revision="{r["rev"]}"{style}><td>{_html.op_badge(r["op"])} {_html.esc(r["key"])}</td>'
                        f'<td>{_html.esc(value)}</td><td>{r["rev"]}</td></tr>')
        head = (f'<tr style="{_html.MUTED}"><th align="left">key</th><th align="left">value</th>'
                '<th align="left">revision</th></tr>')
        body = f'<table class="kvnb-table" style="border-collapse:collapse">{head}{"".join(rows)}</table>'
        return _html.root("buckettable", self._title(), body, status=self._summary(), error=self.error)
