"""kvnb's live widgets: Timeline, WatchFeed, BucketTable, Race, TimeTravel, Playground.

Each is an anywidget (an ipywidgets ``DOMWidget`` with an ES module, no build step) that renders
the pure model in :mod:`kvnb.model`; live sources read kvnb's own :class:`~kvnb.Watch`.
"""

# DOM contract (the real-browser test relies on it; keep these names exactly):
#
#   every widget      root element has classes  kvnb-widget  kvnb-<lowercase type>  (a live view also kvnb-live:
#                     kvnb.css applies only under it; the static text/html picture has inline styles only)
#                     (kvnb-timeline, kvnb-watchfeed, kvnb-buckettable, kvnb-race, kvnb-timetravel,
#                     kvnb-playground); an error line  .kvnb-error  (empty when there is none)
#   WatchFeed         event rows  .kvnb-feed-row  with  data-key, data-revision, data-op (PUT|DEL|PURGE);
#                     the caught-up marker row  .kvnb-caught-up  (data-revision); revision gaps  .kvnb-gap
#                     (data-first, data-last). Gap and caught-up rows are not .kvnb-feed-row.
#                     Buttons  .kvnb-pause  (text Pause / Resume) and  .kvnb-clear  (text Clear).
#   Timeline          marks  .kvnb-mark  with  data-key, data-revision, data-op; gone marks also
#                     .kvnb-gone  (data-gone = history|purge); never-delivered revisions  .kvnb-tl-gap
#   BucketTable       rows  tr.kvnb-row  with  data-key, data-revision, data-op; deleted ones  .kvnb-deleted;
#                     the toggle  input.kvnb-show-deleted
#   Race              lanes  .kvnb-race-lane[data-writer]; verdict  .kvnb-verdict (.kvnb-good | .kvnb-bad);
#                     button  .kvnb-run  (text Run)
#   CounterBoard      rows  tr.kvnb-row  with  data-key, data-revision; bars  .kvnb-counter-bar
#   TimeTravel        slider  input.kvnb-tt-slider; rows  tr.kvnb-row[data-key][data-status=value|deleted|unknowable]
#   Playground        key input inside  .kvnb-pg-key, value input inside  .kvnb-pg-value, last-revision
#                     input inside  .kvnb-pg-last; buttons with visible text exactly
#                     Put, Get, Create, Update, Delete, Purge; the result area  .kvnb-pg-result
#                     (.kvnb-good | .kvnb-bad)
#
# Operations are told apart by letter and shape as well as colour: P square (put), D circle (delete),
# X crossed out (purge); gone marks are dashed outlines. Colours are JupyterLab CSS variables.

from __future__ import annotations

import importlib
from typing import Any

from ._registry import live_widgets, stop_widgets

# Each widget loads on first use (with ipywidgets and anywidget behind it), so a module that only
# needs the registry or the frozen-picture mixin (the classroom boards) stays light.
_WHERE = {"BucketTable": "table", "ClusterView": "cluster_view", "CounterBoard": "counter_board",
          "Playground": "playground", "Race": "race", "TimeTravel": "timetravel", "Timeline": "timeline",
          "WatchFeed": "feed"}

__all__ = ["BucketTable", "ClusterView", "CounterBoard", "Playground", "Race", "TimeTravel", "Timeline", "WatchFeed",
           "live_widgets", "stop_widgets"]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module 'kvnb.widgets' has no attribute {name!r}")
