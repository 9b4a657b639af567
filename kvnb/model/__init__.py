"""kvnb's pure model: what the widgets show, as plain data. No I/O; imports neither nats nor ipywidgets.

- :mod:`.events` — KV events (:class:`kvnb.Entry`) and text helpers (operation letters, previews);
- :mod:`.timeline` — per-key lanes on the shared revision axis, with revisions the history dropped marked gone;
- :mod:`.state` — the bucket at revision N, or "unknowable" when the history kept is too shallow;
- :mod:`.feed` — feed rows in a bounded ring buffer with a dropped count, gaps, a rate meter;
- :mod:`.table` — the newest entry per key;
- :mod:`.race` — racing-writer statistics and the verdict;
- :mod:`.counters` — server-side counters on a board: the latest total per key.

Widgets render these; tests feed them lists of events with no server at all.
"""

from __future__ import annotations

from .counters import CounterBoardModel
from .events import (
    OP_LETTERS,
    OP_WORDS,
    BytesPreview,
    Event,
    EventLike,
    created_ms,
    event,
    natural_key,
    natural_sorted,
    op_letter,
    preview,
    shown_value,
)
from .feed import CaughtUpMark, FeedModel, FeedRow, Gap, RateMeter
from .race import OUTCOME_LETTERS, RaceResult, RaceStats, WriterStats
from .state import BucketHistory, BucketState, KeyAt
from .table import TableModel
from .timeline import KeyLane, Mark, TimelineModel

__all__ = [
    "OP_LETTERS",
    "OP_WORDS",
    "OUTCOME_LETTERS",
    "BucketHistory",
    "BucketState",
    "BytesPreview",
    "CaughtUpMark",
    "CounterBoardModel",
    "Event",
    "EventLike",
    "FeedModel",
    "FeedRow",
    "Gap",
    "KeyAt",
    "KeyLane",
    "Mark",
    "RaceResult",
    "RaceStats",
    "RateMeter",
    "TableModel",
    "TimelineModel",
    "WriterStats",
    "created_ms",
    "event",
    "natural_key",
    "natural_sorted",
    "op_letter",
    "preview",
    "shown_value",
]
