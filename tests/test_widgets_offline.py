"""Widget state without a server or a browser: events fed by hand, messages read off the comm."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from pathlib import Path
from typing import Any

import pytest

import kvnb
from kvnb.model import event
from kvnb.widgets._throttle import Throttle

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


class Sent:
    """Records what a widget sends to the front end (the comm is ipywidgets' dummy outside a kernel)."""

    def __init__(self, widget: Any) -> None:
        self.messages: list[dict[str, Any]] = []
        original = widget.comm.send

        def send(data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
            self.messages.append(data)
            original(data=data, metadata=metadata, buffers=buffers)

        widget.comm.send = send

    def custom(self) -> list[dict[str, Any]]:
        return [m["content"] for m in self.messages if m.get("method") == "custom"]


async def turns(n: int = 3) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_feed_repr_is_deterministic_text_and_html_fallback() -> None:
    feed = kvnb.WatchFeed()
    feed.feed([event("a", 1, "on"), event("b", 2, "x"), kvnb.CAUGHT_UP, event("b", 3, operation="DEL"),
               event("a", 6, "off")])
    text = repr(feed)
    assert text.splitlines() == [
        "WatchFeed('>' (offline)): 4 events, caught up, 1 gap (2 revisions not seen)",
        "  PUT   a  rev 6      'off'",
        "  ~ revisions 4–5 not seen (2): superseded or removed before the watch read them",
        "  DEL   b  rev 3      (tombstone)",
        "  = caught up: 2 initial values, up to revision 2; live from here",
        "  PUT   b  rev 2      'x'",
        "  PUT   a  rev 1      'on'",
    ]
    bundle = feed._repr_mimebundle_()
    assert bundle["text/plain"] == text
    assert WIDGET_MIME in bundle and bundle[WIDGET_MIME]["model_id"] == feed.model_id
    html = bundle["text/html"]
    assert 'class="kvnb-widget kvnb-watchfeed"' in html
    assert 'class="kvnb-feed-row" data-key="a" data-revision="6" data-op="PUT"' in html
    assert 'class="kvnb-caught-up"' in html and 'class="kvnb-gap"' in html
    feed.close()
    # a closed widget has no live view left: IPython falls back to __repr__ and _repr_html_
    assert feed._repr_mimebundle_ is None and feed._repr_html_() == html and repr(feed) == text


async def test_a_burst_between_two_loop_turns_is_one_bounded_message() -> None:
    feed = kvnb.WatchFeed(max_rows=50)
    sent = Sent(feed)
    feed.feed(event("k", r, "v") for r in range(1, 10_001))
    assert sent.custom() == []  # nothing sent while the burst runs
    await turns()
    deltas = [m for m in sent.custom() if m["type"] == "delta"]
    assert len(deltas) == 1
    rows = deltas[0]["data"]["rows"]
    assert len(rows) == 50 and rows[0]["rev"] == 10_000 and rows[-1]["rev"] == 9_951
    assert deltas[0]["data"]["status"]["events"] == 10_000 and deltas[0]["data"]["status"]["dropped"] == 9_950
    feed.close()


async def test_the_next_refresh_waits_for_the_interval() -> None:
    loop = asyncio.get_running_loop()
    calls: list[float] = []
    throttle = Throttle(loop, lambda: calls.append(loop.time()), interval=0.05)
    throttle.kick()
    await turns()
    assert len(calls) == 1  # idle: the first refresh is immediate
    throttle.kick()
    throttle.kick()
    handle = throttle._handle
    assert isinstance(handle, asyncio.TimerHandle) and handle.when() - calls[0] > 0.04
    throttle.close()
    assert handle.cancelled()


async def test_a_view_gets_a_snapshot_then_deltas_in_sequence() -> None:
    feed = kvnb.WatchFeed()
    sent = Sent(feed)
    feed.feed([event("a", 1, "x"), kvnb.CAUGHT_UP])
    await turns()
    feed._handle_front({"type": "hello"})
    feed.feed([event("a", 2, "y")])
    feed.refresh()  # (else the throttle waits out its 50 ms)
    msgs = sent.custom()
    kinds = [(m["type"], m["seq"]) for m in msgs]
    assert kinds == [("delta", 1), ("snapshot", 2), ("delta", 3)]
    assert [r["rev"] for r in msgs[1]["data"]["rows"] if r["k"] == "e"] == [1]
    assert [r["rev"] for r in msgs[2]["data"]["rows"]] == [2]  # only the new row
    json.dumps(msgs)  # everything sent is JSON
    feed.close()


async def test_buttons_from_another_thread_run_on_the_main_loop() -> None:
    feed = kvnb.WatchFeed()
    ran_on: list[int] = []
    pause = feed.model.pause

    def recording_pause() -> None:
        ran_on.append(threading.get_ident())
        pause()

    feed.model.pause = recording_pause  # type: ignore[method-assign]
    # ipykernel 7 may deliver comm messages on a subshell thread
    thread = threading.Thread(target=feed._on_front_msg, args=(feed, {"type": "action", "name": "pause"}, []))
    thread.start()
    thread.join()
    for _ in range(100):
        if ran_on:
            break
        await asyncio.sleep(0.01)
    assert ran_on == [threading.get_ident()] and feed.paused
    feed.close()


async def test_pause_resume_clear_through_the_python_api() -> None:
    feed = kvnb.WatchFeed()
    sent = Sent(feed)
    feed.feed([event("a", 1), kvnb.CAUGHT_UP])
    feed.pause()
    feed.feed([event("a", 2), event("a", 3)])
    await turns()
    assert [r["rev"] for r in feed.rows if r["k"] == "e"] == [1]
    assert "paused (2 new)" in repr(feed).splitlines()[0]
    feed.resume()
    assert [r["rev"] for r in feed.rows if r["k"] == "e"] == [3, 2, 1]
    assert sent.custom()[-1]["type"] == "snapshot"
    feed.clear()
    assert feed.rows == [] and sent.custom()[-1]["data"]["rows"] == []
    assert repr(feed).splitlines()[0] == "WatchFeed('>' (offline)): 3 events, caught up"
    feed.close()


async def test_a_bad_front_end_message_becomes_an_error_line_not_a_traceback() -> None:
    feed = kvnb.WatchFeed()
    feed._handle_front({"type": "action", "name": "explode"})
    assert feed.error and "explode" in feed.error
    assert repr(feed).splitlines()[1].startswith("error:")
    feed.close()


async def test_timeline_sends_the_picture_once_then_only_new_marks() -> None:
    tl = kvnb.Timeline(history=2)
    sent = Sent(tl)
    tl.feed(event(f"key{k}", 1 + k * 64 + r) for k in range(50) for r in range(64))
    tl._handle_front({"type": "hello"})
    snap = sent.custom()[-1]
    assert snap["type"] == "snapshot" and len(snap["data"]["keys"]) == 50 and len(snap["data"]["marks"]) == 3200
    await turns()
    tl.feed([event("key0", 5000, "new")])
    tl.refresh()
    delta = sent.custom()[-1]
    assert delta["type"] == "delta" and [m[1] for m in delta["data"]["marks"]] == [5000]
    assert delta["data"]["gone"] == [[63, "history"]] and len(json.dumps(delta)) < 1000
    assert delta["data"]["evicted"] == [1] and delta["data"]["gaps"] == [[3201, 4999]]
    assert repr(tl).splitlines()[0] == ("Timeline('>' (offline)): 50 keys, revisions 2..5000, history 2, "
                                        "3100 no longer kept, 1799 never seen")
    html = tl._repr_html_()
    assert 'class="kvnb-widget kvnb-timeline"' in html and 'data-key="key0" data-revision="5000" data-op="PUT"' in html
    tl.close()


async def test_table_and_timetravel_offline() -> None:
    events = [event("a", 1, "x"), event("a", 2, "y"), event("b", 3, "z"), event("b", 4, operation="DEL")]
    table = kvnb.BucketTable()
    table.feed(events)
    assert [r["key"] for r in table.rows] == ["a"]
    table.show_deleted = True
    table.refresh()
    assert [(r["key"], r["deleted"]) for r in table.rows] == [("a", False), ("b", True)]
    assert repr(table).splitlines() == ["BucketTable(offline): 1 key, 1 deleted (shown greyed), last revision 4",
                                        "  a  rev 2      'y'", "  b  rev 4      DEL tombstone"]
    tt = kvnb.TimeTravel(entries=events, history=3)
    assert tt.revision == 4 and tt.state_at(3) == {"a": "y", "b": "z"}
    tt.revision = 1
    assert tt.view["rows"] == [{"key": "a", "status": "value", "value": "x", "shown": '"x"', "rev": 1}]
    assert repr(tt).splitlines() == ["TimeTravel(offline): revision 1 of 1..4", "  a  'x'  (rev 1)"]
    table.close()
    tt.close()


def test_widgets_are_exported_from_kvnb() -> None:
    for name in ("Timeline", "WatchFeed", "BucketTable", "Race", "TimeTravel", "Playground", "RaceResult"):
        assert name in kvnb.__all__ and getattr(kvnb, name).__name__ == name
    with pytest.raises(AttributeError):
        kvnb.NoSuchWidget  # noqa: B018


def test_bad_arguments_raise_kvnb_errors_with_the_rule() -> None:
    with pytest.raises(kvnb.InvalidKey, match="pattern"):
        kvnb.WatchFeed(None, "a..b")
    with pytest.raises(kvnb.InvalidOption, match="max_rows must be a positive int"):
        kvnb.WatchFeed(None, max_rows=0)
    with pytest.raises(kvnb.InvalidOption, match="max_revisions"):
        kvnb.Timeline(None, max_revisions=0)


def test_widgets_refuse_what_is_not_a_bucket() -> None:
    with pytest.raises(kvnb.InvalidInput, match="Race needs a bucket"):
        kvnb.Race(None, "counter")  # type: ignore[arg-type]
    with pytest.raises(kvnb.InvalidInput, match=r"needs a bucket from `await kvnb\.open_bucket"):
        kvnb.WatchFeed(object())  # type: ignore[arg-type]


# Symbols that need an emoji (or symbol) font: empty boxes on servers and containers without one.
EMOJI_FONT = re.compile("[\u2300-\u23ff\u2600-\u27bf\u2b00-\u2bff\ufe0f\U0001f000-\U0001ffff]")
PACKAGE = Path(kvnb.__file__).parent


def test_no_symbol_needs_an_emoji_font() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*")):
        if path.suffix in (".py", ".js", ".css"):
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if EMOJI_FONT.search(line):
                    found.append(f"{path.relative_to(PACKAGE)}:{n}: {line.strip()[:80]}")
    assert found == []
    assert EMOJI_FONT.search("✅ ❌ ✔ ✘ ⚠ ★ ⚑ ⏎") and not EMOJI_FONT.search("P D X × … · ← → ↵ –")


def _offline_widgets() -> list[Any]:
    png = b"\x89PNG\r\n\x1a\n" + bytes(1016)
    events = [event("k10", 1, "ten"), event("k2", 2, png), event("k1", 3, 'say "hi" <b>'),
              event("k2", 4, operation="DEL"), event("k1", 5, "again")]
    feed = kvnb.WatchFeed()
    feed.feed([*events[:2], kvnb.CAUGHT_UP, *events[2:]])
    tl = kvnb.Timeline(history=1)
    tl.feed(events)
    table = kvnb.BucketTable(show_deleted=True)
    table.feed(events)
    tt = kvnb.TimeTravel(entries=events, history=1)
    return [feed, tl, table, tt]


async def test_static_pictures_are_self_contained_and_readable() -> None:
    widgets = _offline_widgets()
    try:
        for widget in widgets:
            html = widget._repr_mimebundle_()["text/html"]
            name = type(widget).__name__
            assert not EMOJI_FONT.search(html), name
            for tag in ("<style", "<link", "<script"):  # stripped in untrusted notebooks, or external
                assert tag not in html, (name, tag)
            assert not re.search(r"var\(--jp-[\w-]+\)", html), f"{name}: a JupyterLab variable without a fallback"
            if name in ("WatchFeed", "Timeline"):  # (the table and TimeTravel show k2 deleted by now)
                assert "&lt;1,024 bytes: 89 50 4e 47 0d 0a 1a 0a …&gt;" in html, name
                assert "hi\\&quot; &lt;b&gt;" in html and " <b>" not in html, name
            assert "delta" not in html and "\ufffd" not in html, name
        feed, tl, table, tt = widgets
        # natural order: k1, k2, k10 wherever keys are listed
        for html in (tl._static_html(), table._static_html(), tt._static_html()):
            found = re.findall(r'data-key="(k\d+)"', html)
            assert list(dict.fromkeys(found)) == ["k1", "k2", "k10"], found
        assert [line.split()[0] for line in tl.model.to_text()] == ["k1", "k2", "k10"]
        # the feed: columns op, key, revision, value, written; revisions right-aligned tabular numbers
        assert re.search(r"<th[^>]*>revision</th>", feed._static_html()) and "tabular-nums" in feed._static_html()
        # the timeline: details in words on hover; the gone mark says why
        html = tl._static_html()
        assert 'title="key k1, revision 3&#10;put' in html.replace("\n", "&#10;") or "key k1, revision 3\nput" in html
        assert "no longer kept: the bucket keeps only the newest revisions of each key" in html
    finally:
        for widget in widgets:
            widget.close()


def test_every_widget_front_end_keeps_its_keys() -> None:
    common = (PACKAGE / "widgets" / "_common.js").read_text()
    stop = r'\["keydown", "keypress", "keyup"\]\) root\.addEventListener\(type, \(ev\) => ev\.stopPropagation'
    assert re.search(stop, common)
    for path in sorted((PACKAGE / "widgets").glob("*.js")):
        if path.name != "_common.js":
            assert "kvnbRoot(el, " in path.read_text(), f"{path.name} must build its root with kvnbRoot"
