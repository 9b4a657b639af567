"""Per-key timelines on one shared revision axis, with revisions the history dropped marked as gone.

A bucket's revisions are one stream sequence shared by all its keys: revision 7 belongs to
exactly one key. A :class:`TimelineModel` keeps one lane per key (at most ``max_revisions``
marks each, at most ``max_keys`` lanes) and knows the bucket's history depth, so it can tell
which marks the server no longer keeps:

- a key keeps only its newest ``history`` revisions (markers included): older marks turn *gone*;
- a PURGE removes every earlier revision of its key: they turn *gone* too;
- revisions never delivered at all (dropped before anyone read them) are *axis gaps*: with a
  watch of ``">"`` every revision number is accounted for, so a missing one is shown, not hidden;
- what the stream removes without a word to the watch (``purge_deletes``, values expiring by age, a
  smaller history set later) is learned from the stream's per-key message counts
  (:meth:`TimelineModel.apply_counts`): a key keeps its newest ``count`` revisions, older marks turn
  *gone* (``"removed"``).

Views get either the whole picture (:meth:`snapshot`) or only what changed since the last call
(:meth:`take_delta`), so a 50 × 64 picture is sent once and then a few marks at a time.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from .events import OP_LETTERS, EventLike, natural_key, op_letter, preview, shown_value

__all__ = ["KeyLane", "Mark", "TimelineModel"]


@dataclass(slots=True)
class Mark:
    """One revision of one key."""

    key: str
    revision: int
    operation: str
    value: str  # the value as views show it: "text" in quotes or <N bytes: ...> ("" for markers)
    created: int | None  # epoch ms
    gone: str = ""  # "" kept; gone: "history" (history depth), "purge" (a later purge), "removed" (the stream
    # no longer holds it: purge_deletes, expired, or a smaller history set later)

    def to_text(self) -> str:
        text = f"{op_letter(self.operation)}{self.revision}"
        return f"({text})" if self.gone else text


class KeyLane:
    """The marks of one key, oldest first; the gone ones are always a prefix."""

    __slots__ = ("index", "key", "marks", "n_gone")

    def __init__(self, key: str, index: int) -> None:
        self.key = key
        self.index = index
        self.marks: deque[Mark] = deque()  # at most max_revisions, trimmed by the model
        self.n_gone = 0  # marks[:n_gone] are gone

    @property
    def kept(self) -> int:
        return len(self.marks) - self.n_gone


class TimelineModel:
    """Lanes of marks for the keys of one bucket.

    ``history`` is the bucket's history depth (None: unknown, nothing is marked gone by depth).
    ``track_gaps`` should be true only when the model sees every key (``">"``).
    """

    def __init__(self, *, history: int | None = None, max_revisions: int = 64, max_keys: int = 100,
                 track_gaps: bool = True, max_gaps: int = 256) -> None:
        self.history = history
        self.max_revisions = max_revisions
        self.max_keys = max_keys
        self.track_gaps = track_gaps
        self.lanes: dict[str, KeyLane] = {}
        self.gaps: deque[tuple[int, int]] = deque(maxlen=max_gaps)
        self.last_revision = 0
        self.events = 0
        self.hidden_events = 0  # events of keys beyond max_keys
        self.hidden_keys: set[str] = set()
        # what changed since the last take_delta()
        self._sent = 0  # marks with a revision <= _sent were already sent
        self._new: list[Mark] = []
        self._gone: list[tuple[int, str]] = []
        self._evicted: list[int] = []
        self._new_keys: list[str] = []
        self._new_gaps: list[tuple[int, int]] = []
        self._resync = False
        self._change_cap = max(1024, max_keys * max_revisions)

    # --- ingest -----------------------------------------------------------------------------
    def add(self, entry: EventLike) -> None:
        """Take one event (in revision order; an old or repeated revision is ignored)."""
        revision = entry.revision
        last = self.last_revision
        if revision <= last:
            return
        if self.track_gaps and revision != last + 1:
            gap = (last + 1, revision - 1)
            self.gaps.append(gap)
            self._new_gaps.append(gap)
        self.last_revision = revision
        self.events += 1
        key = entry.key
        lane = self.lanes.get(key)
        if lane is None:
            if len(self.lanes) >= self.max_keys:
                self.hidden_events += 1
                if len(self.hidden_keys) < 10_000:  # bounded: only a count is shown
                    self.hidden_keys.add(key)
                return
            lane = self.lanes[key] = KeyLane(key, len(self.lanes))
            self._new_keys.append(key)
        op = entry.operation
        created = entry.created
        mark = Mark(key, revision, op, shown_value(preview(entry.value, 60)) if op == "PUT" else "",
                    None if created is None else int(created.timestamp() * 1000))
        marks = lane.marks
        if len(marks) == self.max_revisions:  # the lane is full: drop its oldest mark
            old = marks.popleft()
            if lane.n_gone:
                lane.n_gone -= 1  # gone marks are a prefix, so the oldest was one of them
            if old.revision <= self._sent:
                self._evicted.append(old.revision)
        if op == "PURGE":  # a purge removes every earlier revision of the key
            for i in range(lane.n_gone, len(marks)):
                self._set_gone(marks[i], "purge")
            lane.n_gone = len(marks)
        marks.append(mark)
        self._new.append(mark)
        history = self.history
        if history is not None and len(marks) - lane.n_gone > history:
            self._set_gone(marks[lane.n_gone], "history")
            lane.n_gone += 1
        if len(self._new) > self._change_cap:  # (_gone and _evicted grow no faster than _new)
            self._resync = True  # too much changed for a delta: the next one is a full snapshot
            self._new.clear()
            self._gone.clear()
            self._evicted.clear()

    def extend(self, entries: object) -> None:
        add = self.add
        for entry in entries:  # type: ignore[attr-defined]
            add(entry)

    def _set_gone(self, mark: Mark, why: str) -> None:
        mark.gone = why
        if mark.revision <= self._sent:  # a view has it: tell it (unsent marks carry the flag themselves)
            self._gone.append((mark.revision, why))

    def apply_counts(self, counts: dict[str, int], *, upto: int | None = None, keys: object = None) -> int:
        """What the stream still holds: ``{key: messages}`` (from STREAM.INFO with ``subjects_filter``).

        Removals always take a key's *oldest* revisions, so of its revisions up to ``upto`` (the
        stream's last revision when it counted) a key keeps the newest ``count``; older marks turn
        gone (``"removed"``). ``keys`` limits which lanes the counts speak for (default: every lane;
        a key missing from ``counts`` holds nothing). Returns how many marks turned gone. Marks only
        ever turn gone, never back, and a mark newer than ``upto`` is never touched.
        """
        changed = 0
        scope = list(self.lanes) if keys is None else keys
        for key in scope:  # type: ignore[attr-defined]
            lane = self.lanes.get(key)
            if lane is None:
                continue
            keep = max(0, counts.get(key, 0))
            marks = lane.marks
            counted = len(marks)
            if upto is not None:
                while counted and marks[counted - 1].revision > upto:
                    counted -= 1
            while counted - lane.n_gone > keep:
                self._set_gone(marks[lane.n_gone], "removed")
                lane.n_gone += 1
                changed += 1
        return changed

    def kept_total(self) -> int:
        """Marks not gone, over every lane (what the stream should hold when the model sees everything)."""
        return sum(lane.kept for lane in self.lanes.values())

    @property
    def complete(self) -> bool:
        """Every kept revision of the bucket has a mark: every key watched, no lane or mark trimmed."""
        return self.track_gaps and not self.hidden_keys and all(
            len(lane.marks) < self.max_revisions for lane in self.lanes.values())

    # --- reading ----------------------------------------------------------------------------
    def lane(self, key: str) -> KeyLane:
        return self.lanes[key]

    def sorted_lanes(self) -> list[KeyLane]:
        """The lanes in natural key order (k2 before k10), as views draw them."""
        return sorted(self.lanes.values(), key=lambda lane: natural_key(lane.key))

    def marks(self) -> list[Mark]:
        """Every mark, in revision order."""
        return sorted((m for lane in self.lanes.values() for m in lane.marks), key=lambda m: m.revision)

    def gone_revisions(self) -> list[int]:
        return sorted(m.revision for lane in self.lanes.values() for m in lane.marks if m.gone)

    def first_revision(self) -> int:
        firsts = [lane.marks[0].revision for lane in self.lanes.values() if lane.marks]
        return min(firsts) if firsts else 0

    def status(self) -> dict[str, Any]:
        return {"keys": len(self.lanes), "events": self.events, "last_revision": self.last_revision,
                "history": self.history, "hidden_keys": len(self.hidden_keys), "hidden_events": self.hidden_events,
                "gone": sum(lane.n_gone for lane in self.lanes.values()),
                "gap_revisions": sum(b - a + 1 for a, b in self.gaps)}

    # --- what views get ---------------------------------------------------------------------
    @staticmethod
    def _mark_row(lane_index: int, m: Mark) -> list[Any]:
        return [lane_index, m.revision, OP_LETTERS[m.operation], m.value, m.created, m.gone]

    def snapshot(self) -> dict[str, Any]:
        """The whole picture (and the delta bookkeeping restarts from here).

        ``keys``: lane names in lane order (a view sorts them naturally); ``marks``: ``[lane, revision,
        letter, shown value, created_ms, gone]`` rows; ``gaps``: ``[first, last]`` revision ranges never
        delivered.
        """
        letters = OP_LETTERS
        rows = [[lane.index, m.revision, letters[m.operation], m.value, m.created, m.gone]
                for lane in self.lanes.values() for m in lane.marks]
        self._forget_changes()
        return {"keys": list(self.lanes), "marks": rows, "gaps": [list(g) for g in self.gaps],
                "status": self.status()}

    def take_delta(self) -> dict[str, Any] | None:
        """What changed since the last snapshot or delta, or None; a full snapshot when too much changed.

        A delta has ``keys`` (new lanes, appended in order), ``marks`` (new marks), ``gone``
        (``[revision, why]`` of marks already sent that are now gone), ``evicted`` (revisions no longer kept by the
        view's lane) and ``gaps``; a snapshot has ``"full": True``.
        """
        if self._resync:
            return {**self.snapshot(), "full": True}
        if not (self._new or self._gone or self._evicted or self._new_gaps or self._new_keys):
            return None
        lanes = self.lanes
        # a new mark that its lane already dropped again is not sent at all
        marks = [self._mark_row(lane.index, m) for m in self._new
                 if m.revision >= (lane := lanes[m.key]).marks[0].revision]
        delta = {"keys": self._new_keys, "marks": marks, "gone": [list(g) for g in self._gone],
                 "evicted": self._evicted, "gaps": [list(g) for g in self._new_gaps], "status": self.status()}
        self._forget_changes()
        return delta

    def _forget_changes(self) -> None:
        self._sent = self.last_revision
        self._new = []
        self._gone = []
        self._evicted = []
        self._new_keys = []
        self._new_gaps = []
        self._resync = False

    def to_text(self, *, max_lanes: int = 20, max_marks: int = 16) -> list[str]:
        """Deterministic lines, one per lane: ``a  P1 (P3) D5`` (gone marks in parentheses)."""
        if not self.lanes:
            return []
        width = min(24, max(len(k) for k in self.lanes))
        lines = []
        for i, lane in enumerate(self.sorted_lanes()):
            if i == max_lanes:
                lines.append(f"… {len(self.lanes) - max_lanes} more keys")
                break
            marks = list(lane.marks)
            shown = " ".join(m.to_text() for m in marks[-max_marks:])
            more = f"… {len(marks) - max_marks} older " if len(marks) > max_marks else ""
            lines.append(f"{lane.key:<{width}}  {more}{shown}")
        if self.gaps:
            spans = ", ".join(f"{a}" if a == b else f"{a}–{b}" for a, b in list(self.gaps)[-5:])
            lines.append(f"never delivered (gone before anyone read them): revisions {spans}")
        return lines
