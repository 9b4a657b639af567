"""Feed rows for a watch: a bounded ring buffer, revision gaps, the caught-up moment, a rate meter.

The ring keeps the newest ``max_rows`` rows and counts what fell out (``dropped``), so a burst
of a million events costs the same memory as a burst of two hundred. Events are stored as they
arrive (no per-event copy); rows are rendered only for what a view shows.

Gaps: revisions are one counter shared by every key of a bucket, so a watch of ``">"`` sees
every revision unless some were removed before it read them (a shallow history drops a value
as soon as a newer one of the same key arrives). A jump from revision 7 to 10 is shown as a
gap row "revisions 8–9 not seen", never hidden. A watch of a narrower pattern cannot tell a
skipped revision from one of another key, so gap detection is for ``">"`` only.

Example::

    feed = FeedModel(max_rows=3)
    for e in [event("a", 1, "x"), event("b", 2, "y")]:
        feed.add(e)
    feed.mark_caught_up()
    feed.add(event("a", 5, "z"))          # 3 and 4 were never delivered
    [r.kind for r in feed.rows()]          # ['event', 'gap', 'caught_up'] (newest first; 'a'@1 dropped)
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from itertools import islice
from typing import Any, Literal

from .events import BytesPreview, EventLike, created_ms, op_letter, preview, shown_value

__all__ = ["CaughtUpMark", "FeedModel", "FeedRow", "Gap", "RateMeter"]

GapReason = Literal["superseded", "not kept"]
_GAP_TEXT = {
    "superseded": "superseded or removed before the watch read them",
    "not kept": "no longer kept in the bucket's history",
}


@dataclass(frozen=True, slots=True)
class Gap:
    """Revisions ``first``..``last`` that the watch never delivered."""

    first: int
    last: int
    reason: GapReason = "superseded"

    @property
    def count(self) -> int:
        return self.last - self.first + 1

    def describe(self) -> str:
        span = f"revision {self.first}" if self.first == self.last else f"revisions {self.first}–{self.last}"
        return f"{span} not seen ({self.count}): {_GAP_TEXT[self.reason]}"


@dataclass(frozen=True, slots=True)
class CaughtUpMark:
    """The moment the initial values were all in: ``initial`` events, up to ``revision``."""

    revision: int
    initial: int

    def describe(self) -> str:
        if self.initial == 0:
            return "caught up: nothing to read yet; live from here"
        values = "value" if self.initial == 1 else "values"
        return f"caught up: {self.initial} initial {values}, up to revision {self.revision}; live from here"


@dataclass(frozen=True, slots=True)
class FeedRow:
    """One rendered row: ``kind`` is ``"event"``, ``"gap"`` or ``"caught_up"``."""

    kind: str
    key: str = ""
    revision: int = 0
    operation: str = ""
    value: str = ""
    created: int | None = None  # epoch ms
    delta: int | None = None
    text: str = ""  # the description of a gap or caught-up row
    first: int = 0
    last: int = 0

    def to_json(self) -> dict[str, Any]:
        """A compact dict for the front end."""
        if self.kind == "event":
            # "v" is ready to show: text in quotes, a binary value as <N bytes: ...>
            return {"k": "e", "key": self.key, "rev": self.revision, "op": self.operation,
                    "l": op_letter(self.operation), "v": shown_value(self.value) if self.operation == "PUT" else "",
                    "t": self.created}
        if self.kind == "gap":
            return {"k": "g", "first": self.first, "last": self.last, "text": self.text}
        return {"k": "c", "rev": self.revision, "text": self.text}

    def to_text(self, key_width: int = 0) -> str:
        """One deterministic line (no times), for ``text/plain`` reprs."""
        if self.kind == "event":
            if self.operation != "PUT":
                shown = "(tombstone)"
            else:
                shown = self.value if isinstance(self.value, BytesPreview) else repr(self.value)
            return f"{self.operation:<5} {self.key:<{key_width}}  rev {self.revision:<6} {shown}"
        if self.kind == "gap":
            return f"~ {self.text}"
        return f"= {self.text}"


class RateMeter:
    """Events per second over a sliding window, from (time, total) samples taken by the caller.

    Sampling at each display refresh instead of timing every event keeps the hot path free.
    """

    def __init__(self, window: float = 2.0) -> None:
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()

    def sample(self, now: float, total: int) -> None:
        samples = self._samples
        samples.append((now, total))
        # keep one sample older than the window as the baseline
        while len(samples) > 2 and samples[1][0] <= now - self.window:
            samples.popleft()

    def rate(self) -> float:
        if len(self._samples) < 2:
            return 0.0
        (t0, n0), (t1, n1) = self._samples[0], self._samples[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0

    def reset(self) -> None:
        self._samples.clear()


class FeedModel:
    """The rows of a watch feed, newest first, in a ring of ``max_rows``.

    ``detect_gaps`` should be true only for a watch of every key (``">"``). With
    ``include_history`` gaps count from the first event (revisions the history no longer keeps);
    otherwise from the caught-up moment, because the initial values skip superseded revisions
    by design. ``ignore_deletes`` hides DEL/PURGE markers but still counts their revisions, so
    hiding them never looks like a gap.
    """

    def __init__(self, max_rows: int = 200, *, detect_gaps: bool = True, include_history: bool = False,
                 ignore_deletes: bool = False) -> None:
        if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
            from ..errors import InvalidOption

            raise InvalidOption(f"max_rows must be a positive int, got {max_rows!r}. Example: max_rows=200")
        self.max_rows = max_rows
        self.detect_gaps = detect_gaps
        self.include_history = include_history
        self.ignore_deletes = ignore_deletes
        self._ring: deque[object] = deque(maxlen=max_rows)
        self._tracking = detect_gaps and include_history
        self.events = 0  # every event received (shown or hidden)
        self.pushed = 0  # rows ever put in the ring (a view's cursor)
        self.dropped = 0  # rows that fell out of the ring
        self.hidden = 0  # markers hidden by ignore_deletes
        self.gaps = 0
        self.skipped = 0  # revisions inside gaps
        self.last_revision = 0
        self.caught_up = False
        self.paused = False
        self._frozen: list[object] | None = None
        self._events_at_pause = 0
        self.rate = RateMeter()

    # --- the hot path -----------------------------------------------------------------------
    def add(self, entry: EventLike) -> None:
        """Take one event (in revision order; an old or repeated revision is ignored)."""
        revision = entry.revision
        last = self.last_revision
        if revision <= last:
            return
        ring = self._ring
        # before the first event only a history replay can tell that early revisions are gone
        if self._tracking and (last or self.include_history) and revision != last + 1:
            self.gaps += 1
            self.skipped += revision - last - 1
            reason: GapReason = "superseded" if self.caught_up else "not kept"
            if len(ring) == self.max_rows:
                self.dropped += 1
            ring.append(Gap(last + 1, revision - 1, reason))
            self.pushed += 1
        self.last_revision = revision
        self.events += 1
        if self.ignore_deletes and entry.operation != "PUT":
            self.hidden += 1
            return
        if len(ring) == self.max_rows:
            self.dropped += 1
        ring.append(entry)
        self.pushed += 1

    def extend(self, entries: object) -> None:
        """Take many events."""
        add = self.add
        for entry in entries:  # type: ignore[attr-defined]
            add(entry)

    def mark_caught_up(self) -> None:
        """Record the caught-up moment (once); gap detection starts here unless it already has."""
        if self.caught_up:
            return
        self.caught_up = True
        if len(self._ring) == self.max_rows:
            self.dropped += 1
        self._ring.append(CaughtUpMark(self.last_revision, self.events))
        self.pushed += 1
        self._tracking = self.detect_gaps

    # --- controls ---------------------------------------------------------------------------
    def pause(self) -> None:
        """Freeze what :meth:`rows` shows; events keep being counted and kept in the ring."""
        if not self.paused:
            self.paused = True
            self._frozen = list(self._ring)
            self._events_at_pause = self.events

    def resume(self) -> None:
        self.paused = False
        self._frozen = None

    @property
    def new_while_paused(self) -> int:
        return self.events - self._events_at_pause if self.paused else 0

    def clear(self) -> None:
        """Empty the rows (counters and gap tracking go on)."""
        self._ring.clear()
        if self.paused:
            self._frozen = []
            self._events_at_pause = self.events

    # --- reading ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._frozen if self._frozen is not None else self._ring)

    def items(self, limit: int | None = None) -> list[object]:
        """The raw ring items (events, :class:`Gap`, :class:`CaughtUpMark`), newest first."""
        source = self._frozen if self._frozen is not None else self._ring
        n = len(source) if limit is None else max(0, min(limit, len(source)))
        return list(islice(reversed(source), n))

    def rows(self, limit: int | None = None) -> list[FeedRow]:
        """What a view shows, newest first."""
        return [render_row(item) for item in self.items(limit)]

    def status(self) -> dict[str, Any]:
        """Counters for a header line."""
        return {"events": self.events, "shown": len(self), "dropped": self.dropped, "hidden": self.hidden,
                "gaps": self.gaps, "skipped": self.skipped, "caught_up": self.caught_up,
                "paused": self.paused, "new_while_paused": self.new_while_paused,
                "last_revision": self.last_revision, "rate": round(self.rate.rate(), 1)}

    def summary(self) -> str:
        """A deterministic one-line summary (no rate, no times)."""
        parts = [f"{self.events} event{'s' if self.events != 1 else ''}"]
        parts.append("caught up" if self.caught_up else "catching up")
        if self.gaps:
            parts.append(f"{self.gaps} gap{'s' if self.gaps != 1 else ''} ({self.skipped} revisions not seen)")
        if self.hidden:
            parts.append(f"{self.hidden} deletes hidden")
        if self.dropped:
            parts.append(f"{self.dropped} older rows dropped")
        if self.paused:
            parts.append(f"paused ({self.new_while_paused} new)")
        return ", ".join(parts)


def render_row(item: object) -> FeedRow:
    """A ring item as a :class:`FeedRow`."""
    if isinstance(item, Gap):
        return FeedRow("gap", text=item.describe(), first=item.first, last=item.last)
    if isinstance(item, CaughtUpMark):
        return FeedRow("caught_up", revision=item.revision, text=item.describe())
    e: EventLike = item  # type: ignore[assignment]
    return FeedRow("event", key=e.key, revision=e.revision, operation=e.operation,
                   value=preview(e.value) if e.operation == "PUT" else "",
                   created=created_ms(e.created), delta=e.delta)
