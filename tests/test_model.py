"""The pure model: no server, no widgets; lists of events in, rows / marks / states out."""

from __future__ import annotations

import ast
import itertools
import tracemalloc
from pathlib import Path

import pytest

import kvnb
from kvnb.model import (
    BucketHistory,
    FeedModel,
    Gap,
    RaceStats,
    RateMeter,
    TableModel,
    TimelineModel,
    event,
    op_letter,
    preview,
)

MODEL_DIR = Path(kvnb.__file__).parent / "model"


def test_model_imports_neither_nats_nor_widgets() -> None:
    for path in MODEL_DIR.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
                if node.level:  # relative: only the model itself, entry (pure data) and errors
                    allowed = ("", "counters", "events", "feed", "race", "state", "table", "timeline", "entry",
                               "errors")
                    assert (node.module or "").split(".")[0] in allowed, (path, node.module)
            for name in names:
                root = name.split(".")[0]
                assert root not in ("nats", "ipywidgets", "anywidget", "traitlets", "asyncio"), (path.name, name)


# --- text helpers ----------------------------------------------------------------------------

def test_letters_and_previews() -> None:
    assert [op_letter(op) for op in ("PUT", "DEL", "PURGE")] == ["P", "D", "X"]
    assert preview(b"line1\nline2") == "line1⏎line2"
    assert preview(b"x" * 50, 10) == "x" * 9 + "…"
    assert preview(b"\xff") == "\ufffd"


# --- feed --------------------------------------------------------------------------------------

def test_feed_ring_is_bounded_and_counts_what_it_dropped() -> None:
    feed = FeedModel(max_rows=3, detect_gaps=False)
    feed.extend(event("k", r, str(r)) for r in range(1, 11))
    assert [r.revision for r in feed.rows()] == [10, 9, 8]
    assert feed.events == 10 and feed.dropped == 7 and len(feed) == 3


def test_feed_shows_gaps_only_after_caught_up_without_history() -> None:
    feed = FeedModel()
    feed.extend([event("a", 2), event("b", 7)])  # latest per key: skipping 3..6 is by design
    feed.mark_caught_up()
    feed.extend([event("a", 8), event("a", 11)])  # 9 and 10 were superseded before delivery
    kinds = [(r.kind, r.revision or (r.first, r.last)) for r in feed.rows()]
    assert kinds == [("event", 11), ("gap", (9, 10)), ("event", 8), ("caught_up", 7), ("event", 7), ("event", 2)]
    assert feed.gaps == 1 and feed.skipped == 2
    gap = feed.items()[1]
    assert isinstance(gap, Gap) and gap.reason == "superseded"
    assert "revisions 9–10 not seen (2)" in feed.rows()[1].text


def test_feed_with_history_marks_revisions_no_longer_kept_from_the_start() -> None:
    feed = FeedModel(include_history=True)
    feed.extend([event("a", 4), event("a", 5), event("b", 8)])
    feed.mark_caught_up()
    gaps = [(g.first, g.last, g.reason) for g in feed.items() if isinstance(g, Gap)]
    assert gaps == [(6, 7, "not kept"), (1, 3, "not kept")]


def test_feed_without_gap_detection_for_narrow_patterns() -> None:
    feed = FeedModel(detect_gaps=False)
    feed.mark_caught_up()
    feed.extend([event("a", 1), event("a", 9)])
    assert feed.gaps == 0 and [r.kind for r in feed.rows()] == ["event", "event", "caught_up"]


def test_feed_ignore_deletes_hides_markers_without_making_gaps() -> None:
    feed = FeedModel(ignore_deletes=True)
    feed.mark_caught_up()
    feed.extend([event("a", 1), event("a", 2, operation="DEL"), event("a", 3, operation="PURGE"), event("a", 4)])
    assert [r.revision for r in feed.rows() if r.kind == "event"] == [4, 1]
    assert feed.gaps == 0 and feed.hidden == 2 and feed.events == 4


def test_feed_ignores_repeated_and_older_revisions() -> None:
    feed = FeedModel()
    feed.extend([event("a", 5), event("a", 5), event("a", 3)])
    assert feed.events == 1


def test_feed_pause_freezes_rows_and_counts_new_events() -> None:
    feed = FeedModel(max_rows=2, detect_gaps=False)
    feed.extend([event("a", 1), event("a", 2)])
    feed.pause()
    feed.extend([event("a", 3), event("a", 4), event("a", 5)])
    assert [r.revision for r in feed.rows()] == [2, 1]
    assert feed.new_while_paused == 3 and "paused (3 new)" in feed.summary()
    feed.resume()
    assert [r.revision for r in feed.rows()] == [5, 4]


def test_feed_clear_keeps_counters_and_gap_tracking() -> None:
    feed = FeedModel()
    feed.mark_caught_up()
    feed.extend([event("a", 1), event("a", 2)])
    feed.clear()
    assert feed.rows() == [] and feed.events == 2
    feed.add(event("a", 4))
    assert [r.kind for r in feed.rows()] == ["event", "gap"]


def test_feed_memory_stays_bounded_for_a_big_burst() -> None:
    feed = FeedModel(max_rows=200, detect_gaps=False)
    events = (event("k", r, "v") for r in itertools.count(1))
    feed.extend(itertools.islice(events, 5_000))  # warm up: the ring is full
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        feed.extend(itertools.islice(events, 200_000))
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert len(feed) == 200 and feed.dropped == 205_000 - 200
    assert peak < 1_000_000, f"a 200k burst grew memory by {peak} bytes"


def test_rate_meter() -> None:
    meter = RateMeter(window=2.0)
    assert meter.rate() == 0.0
    meter.sample(0.0, 0)
    meter.sample(1.0, 100)
    assert meter.rate() == pytest.approx(100.0)
    meter.sample(2.0, 300)
    meter.sample(4.0, 300)  # nothing for 2 s: the window keeps only (2.0, 300) as its baseline
    assert meter.rate() == pytest.approx(0.0)


# --- timeline ----------------------------------------------------------------------------------

def test_timeline_lanes_share_one_revision_axis() -> None:
    tl = TimelineModel(history=10)
    tl.extend([event("a", 1), event("b", 2), event("a", 3, operation="DEL")])
    assert {k: [m.revision for m in lane.marks] for k, lane in tl.lanes.items()} == {"a": [1, 3], "b": [2]}
    assert [m.revision for m in tl.marks()] == [1, 2, 3]
    assert tl.to_text() == ["a  P1 D3", "b  P2"]


def test_timeline_marks_revisions_dropped_by_history_as_gone() -> None:
    tl = TimelineModel(history=2)
    tl.extend([event("a", 1), event("a", 2), event("b", 3), event("a", 4)])
    assert [(m.revision, m.gone) for m in tl.lane("a").marks] == [(1, "history"), (2, ""), (4, "")]
    assert tl.lane("b").kept == 1 and tl.gone_revisions() == [1]


def test_timeline_purge_makes_every_earlier_revision_of_the_key_gone() -> None:
    tl = TimelineModel(history=10)
    tl.extend([event("a", 1), event("a", 2, operation="DEL"), event("b", 3), event("a", 4, operation="PURGE")])
    assert [(m.revision, m.gone) for m in tl.lane("a").marks] == [(1, "purge"), (2, "purge"), (4, "")]
    assert not tl.lane("b").marks[0].gone


def test_timeline_tracks_never_delivered_revisions_for_every_key_only() -> None:
    tl = TimelineModel(history=1)
    tl.extend([event("a", 5), event("b", 6), event("a", 9)])
    assert list(tl.gaps) == [(1, 4), (7, 8)]
    narrow = TimelineModel(history=1, track_gaps=False)
    narrow.extend([event("a", 5), event("a", 9)])
    assert list(narrow.gaps) == []


def test_timeline_is_bounded_per_lane_and_in_lanes() -> None:
    tl = TimelineModel(history=64, max_revisions=4, max_keys=2)
    tl.extend(event("abc"[r % 3], r) for r in range(1, 61))
    assert len(tl.lanes) == 2 and all(len(lane.marks) == 4 for lane in tl.lanes.values())
    assert tl.hidden_events == 20 and tl.status()["hidden_keys"] == 1


def test_timeline_deltas_carry_only_changes() -> None:
    tl = TimelineModel(history=2, max_revisions=3)
    tl.extend([event("a", 1), event("a", 2)])
    snap = tl.snapshot()
    assert snap["keys"] == ["a"] and [m[1] for m in snap["marks"]] == [1, 2]
    assert tl.take_delta() is None
    tl.add(event("a", 3))  # 1 is now gone (history 2)
    delta = tl.take_delta()
    assert delta is not None
    assert [m[1] for m in delta["marks"]] == [3] and delta["gone"] == [[1, "history"]] and delta["evicted"] == []
    tl.add(event("a", 4))  # the lane keeps 3 marks: 1 is evicted, 2 is gone
    delta = tl.take_delta()
    assert delta is not None
    assert delta["evicted"] == [1] and delta["gone"] == [[2, "history"]] and [m[1] for m in delta["marks"]] == [4]
    tl.add(event("b", 6))
    delta = tl.take_delta()
    assert delta is not None and delta["keys"] == ["b"] and delta["gaps"] == [[5, 5]]


def test_timeline_marks_evicted_before_they_were_sent_are_not_sent() -> None:
    tl = TimelineModel(history=64, max_revisions=2)
    tl.snapshot()
    tl.extend([event("a", 1), event("a", 2), event("a", 3)])
    delta = tl.take_delta()
    assert delta is not None and [m[1] for m in delta["marks"]] == [2, 3] and delta["evicted"] == []


def test_timeline_too_many_changes_become_one_snapshot() -> None:
    tl = TimelineModel(history=64, max_revisions=2, max_keys=2)
    tl.snapshot()
    tl.extend(event("ab"[r % 2], r) for r in range(1, 5000))
    delta = tl.take_delta()
    assert delta is not None and delta.get("full") is True
    assert sorted(m[1] for m in delta["marks"]) == [4996, 4997, 4998, 4999]


# --- bucket state at revision N -----------------------------------------------------------------

def _history() -> BucketHistory:
    return BucketHistory([
        event("a", 3, "a3"), event("a", 4, "a4"),             # history 2: a's older revisions were dropped
        event("b", 5, "b5"), event("b", 6, operation="DEL"),  # b: full history, deleted at 6
        event("c", 7, "c7"),                                  # c: one revision, so it did not exist before 7
        event("d", 8, operation="PURGE"), event("d", 9, "d9"),
    ], history=2)


def test_state_at_a_revision_is_exact_where_history_reaches() -> None:
    h = _history()
    assert h.state_at(9) == {"a": "a4", "c": "c7", "d": "d9"}
    assert h.state_at(9).deleted == {"b": (6, "DEL")}
    assert h.state_at(5) == {"a": "a4", "b": "b5"}
    assert h.state_at(5).unknowable == ("d",)
    assert h.state_at(100) == h.state_at(9)


def test_state_before_the_history_is_unknowable_and_says_why() -> None:
    h = _history()
    state = h.state_at(2)
    assert state == {} and not state.complete
    assert state.unknowable == ("a", "b", "d")  # b keeps 2 revisions = the history depth: older ones may be gone
    assert "keeps only 2 revisions" in state.reasons["a"] and "purged at revision 8" in state.reasons["d"]
    view = h.describe(2)
    assert "unknowable at revision 2" in view["note"]
    assert {r["key"]: r["status"] for r in view["rows"]} == {"a": "unknowable", "b": "unknowable", "d": "unknowable"}


def test_state_of_a_key_with_a_shallow_history_is_absent_before_it_existed() -> None:
    h = BucketHistory([event("a", 1, "x"), event("b", 2, "y")], history=5)
    assert h.state_at(1) == {"a": "x"} and h.state_at(1).complete


def test_state_with_a_ttl_cannot_prove_absence() -> None:
    h = BucketHistory([event("a", 5, "x")], history=5, ttl=60)
    assert h.state_at(3).unknowable == ("a",)


def test_state_at_rejects_bad_revisions() -> None:
    with pytest.raises(kvnb.InvalidOption, match="revision must be an int >= 1"):
        _history().state_at(0)


# --- table and race ------------------------------------------------------------------------------

def test_table_keeps_the_newest_entry_per_key() -> None:
    table = TableModel()
    table.extend([event("a", 1, "x"), event("b", 2, "y"), event("a", 3, "z"), event("b", 4, operation="DEL"),
                  event("a", 2, "old")])
    assert [(r["key"], r["value"], r["rev"]) for r in table.rows()] == [("a", "z", 3)]
    assert [(r["key"], r["deleted"]) for r in table.rows(show_deleted=True)] == [("a", False), ("b", True)]
    assert table.live_keys == ["a"] and table.deleted_keys == ["b"]


def test_race_stats_and_verdicts() -> None:
    stats = RaceStats(2, 2, cas=True)
    for writer, outcome in [(0, "ok"), (1, "conflict"), (1, "conflict"), (1, "ok"), (0, "conflict"), (0, "ok"),
                            (1, "ok")]:
        stats.record(writer, outcome)  # type: ignore[arg-type]
    assert (stats.successes, stats.conflicts, stats.retries) == (4, 3, 2)
    good = stats.finish(4)
    assert good.ok and good.lost_updates == 0 and "nothing lost" in good.summary()
    assert stats.to_json()["writers"][1]["recent"] == "××++"
    lost = RaceStats(2, 2, cas=False)
    for writer in (0, 1, 0, 1):
        lost.record(writer, "ok")
    result = lost.finish(3)
    assert not result.ok and result.lost_updates == 1 and "1 update lost" in result.summary()
