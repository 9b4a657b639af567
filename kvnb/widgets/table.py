"""BucketTable: the bucket's current keys with value, revision and age, updating live.

Example (in a notebook cell)::

    table = kvnb.BucketTable(kv)
    table                         # tick "show deleted" to see tombstones greyed out

Deleted (DEL) and purged (PURGE) keys vanish, or with ``show_deleted`` stay greyed with the
revision of their tombstone. Keys the server no longer holds anything of (tombstones removed by
``purge_deletes``, values expired) leave the table: the stream's per-key message counts say so
(:class:`~._kept.KeptPoller`, about one request a second).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import traitlets as t

from ..model.table import TableModel
from ..watch import CAUGHT_UP
from . import _html
from ._base import WatchWidget, as_kv, esm
from ._kept import KeptPoller

if TYPE_CHECKING:
    from ..bucket import KV
    from ..watch import Watch

__all__ = ["BucketTable"]

_HTML_ROWS = 100


class BucketTable(WatchWidget):
    """Current keys of a bucket (at most ``max_rows`` shown, in natural key order: k2 before k10)."""

    _esm = esm("table.js")
    _kind = "buckettable"
    show_deleted = t.Bool(False, help="show deleted keys greyed out with their tombstone revision").tag(sync=True)
    rows = t.List(help="the rows shown: key, value, shown, rev, op, l, t, deleted").tag(sync=True)
    summary = t.Unicode("", help="the status line").tag(sync=True)
    caught_up = t.Bool(False).tag(sync=True)

    def __init__(self, kv: KV | None = None, *, show_deleted: bool = False, max_rows: int = 500) -> None:
        kv = as_kv(kv)
        self.model = TableModel()
        self.max_rows = max_rows
        self.kept: KeptPoller | None = None  # what the stream still holds (live tables)
        key = ("BucketTable", kv.name, ">") if kv is not None else None
        super().__init__(kv, registry_key=key, show_deleted=show_deleted)  # starts reading (on the next loop turn)
        self.observe(lambda _change: self._throttle.kick(), names="show_deleted")
        # the whole row list goes out on each refresh: 5 a second (the first change still shows at once)
        self._throttle.interval = 0.2

    def _open_watch(self) -> Watch:
        assert self.kv is not None
        return self.kv.watch(">")

    def _on_caught_up(self) -> None:
        self.model.caught_up = True
        self.caught_up = True
        self._throttle.flush()
        super()._on_caught_up()

    def _watch_started(self, watch: Watch) -> None:
        super()._watch_started(watch)
        assert self.kv is not None
        self.kept = KeptPoller(self.kv, ">", self._on_counts)
        self._spawn(self.kept.run(lambda: not self.stopped and not watch.stopped))

    def _on_counts(self, counts: dict[str, int], upto: int) -> None:
        """The stream's per-key message counts: keys it holds nothing of leave the table."""
        if self.model.apply_counts(counts, upto=upto):
            self._throttle.kick()

    def feed(self, events: Iterable[Any]) -> None:
        """Add events by hand (offline table, tests)."""
        for item in events:
            if item is not CAUGHT_UP:
                self.model.add(item)
        self._throttle.flush()

    def _refresh(self) -> None:
        self.rows = self.model.rows(show_deleted=self.show_deleted, limit=self.max_rows)
        self.summary = self._summary()

    def _last_revision(self) -> int | None:
        return self.model.last_revision or None

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
        """The table as the live view shows it: op, key, value, revision, written."""
        rows = []
        for r in self.model.rows(show_deleted=self.show_deleted, limit=_HTML_ROWS):
            key = _html.esc(r["key"])
            if r["deleted"]:
                what = "deleted" if r["op"] == "DEL" else "purged"
                value = f'<i style="{_html.MUTED}">({what} at revision {r["rev"]})</i>'
                style = f' style="{_html.MUTED};text-decoration:line-through"'
                cls = "kvnb-row kvnb-deleted"
            else:
                value, style, cls = _html.esc(r["shown"]), "", "kvnb-row"
            rows.append(f'<tr class="{cls}" data-key="{key}" data-op="{r["op"]}" data-revision="{r["rev"]}"{style}>'
                        f'<td style="{_html.TD};width:2.2em;text-align:center">{_html.op_badge(r["op"])}</td>'
                        f'<td style="{_html.TD}">{key}</td>'
                        f'<td style="{_html.TD};white-space:normal;word-break:break-all">{value}</td>'
                        f'<td style="{_html.TD};{_html.NUM}">{r["rev"]}</td>'
                        f'<td style="{_html.TD};{_html.MUTED}">{_html.when(r["t"])}</td></tr>')
        shown = len(self.model.rows(show_deleted=self.show_deleted))
        if shown > _HTML_ROWS:
            rows.append(f'<tr><td colspan="5" style="{_html.MUTED}">… {shown - _HTML_ROWS} more keys</td></tr>')
        head = [("", ""), ("key", ""), ("value", "width:100%"), ("revision", _html.NUM), ("written", "")]
        body = _html.table(head, rows) if rows else f'<div style="{_html.MUTED}">no keys</div>'
        title = f"bucket {self.bucket}" if self.bucket else "bucket (offline)"
        return _html.root("buckettable", title, body, status=self._summary(), error=self.error)
