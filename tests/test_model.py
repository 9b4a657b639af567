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
from kvnb.model.events import BytesPreview, natural_key, natural_sorted, shown_value

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
    assert preview(b"line1\nline2") == "line1↵line2"
    assert preview(b"x" * 50, 10) == "x" * 9 + "…"
    assert preview(b"\xff") == "<1 byte: ff>"


PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # 1,032 bytes, not text


def test_binary_values_are_shown_as_bytes_by_one_helper() -> None:
    shown = preview(PNG)
    assert isinstance(shown, BytesPreview) and shown == "<1,032 bytes: 89 50 4e 47 0d 0a 1a 0a …>"
    assert shown_value(shown) == shown  # no quotes around bytes
    assert preview(b"\x00\x01") == "<2 bytes: 00 01>" and preview(b"") == ""
    assert preview(b"tab\there") == "tab here"  # text with a tab is still text
    assert preview("é".encode() * 100, 10) == "é" * 9 + "…"  # a character cut by the head is still text
    assert shown_value(preview(b'say "hi"')) == '"say \\"hi\\""' and shown_value("blue") == '"blue"'
    # every model that shows values uses it
    feed = FeedModel(detect_gaps=False)
    feed.add(event("img", 1, PNG))
    assert feed.rows()[0].to_json()["v"] == "<1,032 bytes: 89 50 4e 47 0d 0a 1a 0a …>"
    assert "<1,032 bytes" in feed.rows()[0].to_text() and "'<" not in feed.rows()[0].to_text()
    table = TableModel()
    table.add(event("img", 1, PNG))
    assert table.rows()[0]["shown"].startswith("<1,032 bytes: 89 50")
    tl = TimelineModel()
    tl.add(event("img", 1, PNG))
    assert tl.snapshot()["marks"][0][3].startswith("<1,032 bytes")
    history = BucketHistory([event("img", 1, PNG)], history=5)
    assert history.describe(1)["rows"][0]["shown"].startswith("<1,032 bytes")


def test_natural_order_of_keys() -> None:
    keys = ["k10", "k2", "k1", "a", "k02x", "sensor.10.t", "sensor.9.t", "10", "9", "K3"]
    assert natural_sorted(keys) == ["9", "10", "K3", "a", "k1", "k2", "k02x", "k10", "sensor.9.t", "sensor.10.t"]
    assert sorted(keys, key=natural_key) == natural_sorted(keys)
    assert natural_sorted(["k1", "k10", "k2"]) == ["k1", "k2", "k10"]
    assert natural_sorted(["9", "10", "a"]) == ["9", "10", "a"]
    assert natural_sorted(["sensor.10.t", "sensor.9.t"]) == ["sensor.9.t", "sensor.10.t"]
    table = TableModel()
    table.extend(event(k, i + 1, "v") for i, k in enumerate(["k10", "k2", "k1"]))
    assert [r["key"] for r in table.rows()] == ["k1", "k2", "k10"] and table.live_keys == ["k1", "k2", "k10"]
    tl = TimelineModel()
    tl.extend(event(k, i + 1, "v") for i, k in enumerate(["k10", "k2", "k1"]))
    assert [lane.key for lane in tl.sorted_lanes()] == ["k1", "k2", "k10"]
    assert [line.split()[0] for line in tl.to_text()] == ["k1", "k2", "k10"]
    history = BucketHistory([event(k, i + 1, "v") for i, k in enumerate(["k10", "k2", "k1"])], history=5)
    assert [r["key"] for r in history.describe(3)["rows"]] == ["k1", "k2", "k10"]
    assert history.keys == ["k1", "k2", "k10"]


def test_stream_counts_turn_the_oldest_marks_gone() -> None:
    tl = TimelineModel(history=10)
    tl.extend([event("carol", 1, "a"), event("carol", 2, "b"), event("carol", 3, "c"),
               event("carol", 4, operation="DEL"), event("dave", 5, "x"), event("dave", 6, operation="PURGE"),
               event("erin", 7, "e")])
    tl.take_delta()  # a view has everything
    # purge_deletes: carol and dave hold nothing any more (dave's 5 was gone already: purged); erin keeps hers
    assert tl.apply_counts({"erin": 1}, upto=7) == 5
    assert tl.gone_revisions() == [1, 2, 3, 4, 5, 6]
    assert {m.revision: m.gone for m in tl.marks()}[4] == "removed"
    delta = tl.take_delta()
    assert delta is not None and sorted(r for r, _ in delta["gone"]) == [1, 2, 3, 4, 6]
    assert tl.apply_counts({"erin": 1}, upto=7) == 0  # nothing new: no change
    # a write newer than the count is never touched; a count above what the lane knows changes nothing
    tl.add(event("erin", 8, "f"))
    assert tl.apply_counts({"erin": 1}, upto=7) == 0 and tl.lane("erin").kept == 2
    assert tl.apply_counts({"erin": 5}, upto=8) == 0
    # expiry by age: erin's older revision is gone, the newest stays
    assert tl.apply_counts({"erin": 1}, upto=8) == 1 and tl.lane("erin").kept == 1
    assert tl.status()["gone"] == 7


def test_table_drops_keys_the_stream_no_longer_holds() -> None:
    table = TableModel()
    table.extend([event("a", 1, "x"), event("b", 2, operation="DEL"), event("c", 3, "y")])
    assert table.apply_counts({"a": 1, "c": 1}, upto=3) == ["b"]  # purge_deletes removed b's tombstone
    assert [r["key"] for r in table.rows(show_deleted=True)] == ["a", "c"]
    table.add(event("d", 4, "new"))
    assert table.apply_counts({"a": 1}, upto=3) == ["c"]  # c expired; d is newer than the count: it stays
    assert [r["key"] for r in table.rows()] == ["a", "d"]


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


def test_race_words_add_up() -> None:
    from kvnb.model.race import RaceResult

    good = RaceResult(final_value=100, successes=100, conflicts=80, retries=15, lost_updates=0, ok=True, cas=True,
                      writers=4, increments=25)
    assert good.verdict() == "nothing lost: final value 100 = 100 increments stored"
    assert good.arithmetic() == (
        "180 attempts = 100 stored + 80 refused because another writer got there first; every refused write read "
        "the key again and retried, so all 100 increments landed (15 increments needed more than one try)")
    text = good.summary()
    assert "conflict" not in text and "retried increments" not in text and "4 writers × 25 increments" in text
    lost = RaceResult(final_value=37, successes=100, conflicts=0, retries=0, lost_updates=63, ok=False, cas=False,
                      writers=4, increments=25)
    assert lost.verdict().startswith("63 updates lost: final value 37, but 100 puts were stored")
    assert lost.arithmetic().startswith("100 puts = 4 writers × 25 increments, none refused")
