"""Real-browser tests: kvnb's widgets in JupyterLab, driven by chromium, fed by a separate NATS client.

Run them alone with ``pytest -m browser tests/browser``. Screenshots land in ``test-output/browser/``.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

import kvnb

if TYPE_CHECKING:
    from tests.browser.conftest import LabPage, LabServer, OpenNotebook

pytestmark = pytest.mark.browser

LIVE_BOUND = 2.0  # seconds from a put to its row/mark on the page (issue 3)
RENDER_TIMEOUT = 30.0  # first render: kernel imports kvnb and ipywidgets, opens the bucket


@pytest.fixture
def bucket(test_name: str) -> str:
    return f"br_{test_name[:30]}_{secrets.token_hex(3)}"


@pytest.fixture
async def writer(lab_server: LabServer, bucket: str) -> AsyncIterator[kvnb.client.NATS]:
    """The test's own connection (not the kernel's); removes the test's bucket at the end."""
    nc = await kvnb.connect(lab_server.nats_url)
    try:
        yield nc
    finally:
        try:
            await kvnb.delete_bucket(bucket, nc=nc)
        except kvnb.KvnbError:
            pass
        await nc.close()


ALL_PRESENT_JS = "(sels) => sels.every(s => document.querySelector(s) !== null)"


async def test_harness_live_html(open_notebook: OpenNotebook, writer: kvnb.client.NATS, bucket: str,
                                 lab_server: LabServer, test_name: str) -> None:
    """The harness itself, with plain ipywidgets: kernel env, a kernel-side watch task, live DOM updates."""
    nb = await open_notebook([
        "import asyncio, html, os\nimport ipywidgets\nimport kvnb\n"
        f"kv = await kvnb.open_bucket({bucket!r}, history=10, fresh=True)",
        "probe = ipywidgets.HTML()\n"
        "head = f'<div class=\"probe-ready\" data-nats-url=\"{os.environ.get(\"NATS_URL\")}\">watching</div>'\n"
        "probe.value = head\n"
        "async def follow():\n"
        "    rows = []\n"
        "    async with kv.watch('>') as watch:\n"
        "        async for e in watch:\n"
        "            rows.insert(0, f'<div class=\"probe-row\" data-revision=\"{e.revision}\">'\n"
        "                           f'{html.escape(e.key)} = {html.escape(e.text)}</div>')\n"
        "            probe.value = head + ''.join(rows)\n"
        "task = asyncio.ensure_future(follow())\n"
        "probe",
    ])
    await nb.run_all()
    await nb.wait_for_selector(".probe-ready", timeout=RENDER_TIMEOUT, what="the probe widget rendered")
    url = await nb.page.get_attribute(".probe-ready", "data-nats-url")
    assert url == lab_server.nats_url, "the kernel did not inherit NATS_URL from the JupyterLab process"

    kv = await kvnb.open_bucket(bucket, nc=writer)
    started = time.monotonic()
    revisions = [await kv.put(f"probe.{i}", f"value {i}") for i in range(3)]
    selectors = [f'.probe-row[data-revision="{rev}"]' for rev in revisions]
    await nb.wait_for(ALL_PRESENT_JS, arg=selectors, timeout=LIVE_BOUND - (time.monotonic() - started),
                      what=f"probe rows for revisions {revisions} within {LIVE_BOUND} s of the puts")
    latency = time.monotonic() - started
    assert latency <= LIVE_BOUND + 0.1
    texts = await nb.page.locator(".probe-row").all_inner_texts()
    assert texts == ["probe.2 = value 2", "probe.1 = value 1", "probe.0 = value 0"]
    await nb.screenshot(test_name)
    print(f"harness: 3 puts on the page {latency * 1000:.0f} ms after the first put")


FEED_ROW = '.kvnb-watchfeed .kvnb-feed-row[data-revision="{rev}"]'
MARK = '.kvnb-timeline .kvnb-mark[data-revision="{rev}"]'


async def _attrs(nb: LabPage, selector: str) -> dict[str, str | None]:
    loc = nb.page.locator(selector).first
    return {name: await loc.get_attribute(name) for name in ("data-key", "data-revision", "data-op")}


async def test_watchfeed_and_timeline_show_puts_live(open_notebook: OpenNotebook, writer: kvnb.client.NATS,
                                                     bucket: str, test_name: str) -> None:
    """Puts from another client appear as feed rows and timeline marks within 2 s; dark theme works too."""
    nb = await open_notebook([
        f"import kvnb\nkv = await kvnb.open_bucket({bucket!r}, history=10, fresh=True)",
        "feed = kvnb.WatchFeed(kv)\nfeed",
        "timeline = kvnb.Timeline(kv)\ntimeline",
    ])
    await nb.run_all()
    started = time.monotonic()
    roots = [".kvnb-widget.kvnb-watchfeed .kvnb-caught-up", ".kvnb-widget.kvnb-timeline"]
    await nb.wait_for(ALL_PRESENT_JS, arg=roots, timeout=RENDER_TIMEOUT,
                      what="a caught-up WatchFeed and a Timeline rendered")
    print(f"feed+timeline: rendered and caught up {time.monotonic() - started:.1f} s after run-all")
    # The live view, not a static HTML fallback next to it (ipywidgets' mimebundle must win).
    assert await nb.page.locator(".kvnb-watchfeed").count() == 1
    assert await nb.page.locator(".kvnb-timeline").count() == 1

    kv = await kvnb.open_bucket(bucket, nc=writer)
    writes = [("color", "red"), ("size", "3"), ("color", "blue")]
    started = time.monotonic()
    revisions = [await kv.put(key, value) for key, value in writes]
    selectors = [FEED_ROW.format(rev=r) for r in revisions] + [MARK.format(rev=r) for r in revisions]
    await nb.wait_for(ALL_PRESENT_JS, arg=selectors, timeout=LIVE_BOUND - (time.monotonic() - started),
                      what=f"feed rows and timeline marks for revisions {revisions} within {LIVE_BOUND} s of the puts")
    put_latency = time.monotonic() - started
    assert put_latency <= LIVE_BOUND + 0.1

    for (key, _), rev in zip(writes, revisions, strict=True):
        for selector in (FEED_ROW.format(rev=rev), MARK.format(rev=rev)):
            attrs = await _attrs(nb, selector)
            assert attrs["data-key"] == key, f"{selector}: {attrs}"
            assert (attrs["data-op"] or "").upper() == "PUT", f"{selector}: {attrs}"
    # Newest first: the feed lists these revisions in descending order.
    shown = [int(r) for r in await nb.page.eval_on_selector_all(
        ".kvnb-watchfeed .kvnb-feed-row[data-revision]", "els => els.map(e => e.dataset.revision)")]
    assert [r for r in shown if r in revisions] == sorted(revisions, reverse=True)
    value_text = await nb.page.locator(".kvnb-watchfeed").inner_text()
    assert "blue" in value_text and "red" in value_text, "the feed should preview the values"

    # A delete is told apart from a put in the DOM (op attribute), also within the bound.
    started = time.monotonic()
    deleted_rev = await kv.delete("size")
    selectors = [FEED_ROW.format(rev=deleted_rev), MARK.format(rev=deleted_rev)]
    await nb.wait_for(ALL_PRESENT_JS, arg=selectors, timeout=LIVE_BOUND - (time.monotonic() - started),
                      what=f"the delete (revision {deleted_rev}) in feed and timeline within {LIVE_BOUND} s")
    for selector in selectors:
        attrs = await _attrs(nb, selector)
        assert attrs["data-key"] == "size" and (attrs["data-op"] or "").upper() in ("DEL", "DELETE"), attrs

    # Few revisions: every column carries its number on the axis, readable, centred over its marks, not overlapping.
    ticks = await nb.page.eval_on_selector_all(".kvnb-timeline .kvnb-tl-axis .kvnb-tl-tick", """els => els.map(e => {
        const r = e.getBoundingClientRect();
        const m = document.querySelector(`.kvnb-timeline .kvnb-mark[data-revision="${e.textContent}"]`);
        const mr = m ? m.getBoundingClientRect() : null;
        return {text: e.textContent, size: parseFloat(getComputedStyle(e).fontSize), left: r.left, right: r.right,
                fits: e.scrollWidth <= e.clientWidth + 1,
                off: mr ? Math.abs((r.left + r.right - mr.left - mr.right) / 2) : 99};
    })""")
    assert [t["text"] for t in ticks] == [str(r) for r in [*revisions, deleted_rev]], ticks
    assert all(t["size"] >= 11 and t["fits"] and t["off"] <= 2 for t in ticks), ticks
    assert all(a["right"] <= b["left"] + 0.5 for a, b in itertools.pairwise(ticks)), ticks

    # Selecting a mark shows its value (only in titles until then, so the text must change).
    assert '"blue"' not in await nb.page.locator(".kvnb-timeline").inner_text()
    await nb.page.locator(MARK.format(rev=revisions[2])).click()
    await nb.wait_for("() => document.querySelector('.kvnb-timeline').innerText.includes('\"blue\"')",
                      timeout=5.0, what="the selected mark's value shown in the Timeline")

    await nb.screenshot(test_name)
    await nb.screenshot(f"{test_name}-timeline", ".kvnb-timeline")  # the marks are small on the full page
    try:
        await nb.set_theme(dark=True)
        await nb.screenshot(f"{test_name}-dark")
    finally:
        await nb.set_theme(dark=False)  # the theme is a user setting shared by the module's tests
    print(f"feed+timeline: 3 puts on the page {put_latency * 1000:.0f} ms after the first put")


async def test_playground_put_button(open_notebook: OpenNotebook, writer: kvnb.client.NATS,
                                     bucket: str, test_name: str) -> None:
    """Typing a key and value and clicking Put writes to the bucket and shows the new revision."""
    nb = await open_notebook([
        f"import kvnb\nkv = await kvnb.open_bucket({bucket!r}, history=10, fresh=True)",
        "pg = kvnb.Playground(kv)\npg",
    ])
    await nb.run_all()
    await nb.wait_for_selector(".kvnb-widget.kvnb-playground .kvnb-pg-key input", timeout=RENDER_TIMEOUT,
                               what="the Playground rendered")
    assert await nb.page.locator(".kvnb-playground").count() == 1, "exactly one (live) Playground view"
    kv = await kvnb.open_bucket(bucket, nc=writer)
    for i in range(3):  # so the Put's revision (4) is not a number that could show up by accident
        await kv.put(f"warmup.{i}", "x")

    pg = nb.page.locator(".kvnb-playground")
    await pg.locator(".kvnb-pg-key input").fill("greeting")
    await pg.locator(".kvnb-pg-value input, .kvnb-pg-value textarea").first.fill("hello browser")
    await pg.get_by_role("button", name="Put", exact=True).click()

    await nb.wait_for("() => /\\b4\\b/.test(document.querySelector('.kvnb-playground .kvnb-pg-result').innerText)",
                      timeout=5.0, what="the Put result showing revision 4")
    entry = await kv.get("greeting")
    assert (entry.text, entry.revision) == ("hello browser", 4)
    result = await pg.locator(".kvnb-pg-result").inner_text()
    assert "greeting" in result and "kvnb-good" in (await pg.locator(".kvnb-pg-result").get_attribute("class") or "")

    # An error shows inline too: Create on an existing key is refused and the value stays.
    await pg.get_by_role("button", name="Create", exact=True).click()
    await nb.wait_for("(before) => document.querySelector('.kvnb-playground .kvnb-pg-result').innerText !== before",
                      arg=result, timeout=5.0, what="the Create result replacing the Put result")
    error = await pg.locator(".kvnb-pg-result").inner_text()
    assert any(word in error.lower() for word in ("exist", "conflict", "wrong last")), error
    assert "kvnb-bad" in (await pg.locator(".kvnb-pg-result").get_attribute("class") or "")
    assert (await kv.get("greeting")).revision == 4
    await nb.screenshot(test_name)


async def test_timetravel_moves_with_keyboard_and_mouse(open_notebook: OpenNotebook, writer: kvnb.client.NATS,
                                                        bucket: str, test_name: str) -> None:
    """Arrow keys move the slider (and never reach JupyterLab's shortcuts); a click moves it too."""
    nb = await open_notebook([
        "## A heading ArrowLeft would collapse if the key reached JupyterLab",
        f"import kvnb\nkv = await kvnb.open_bucket({bucket!r}, history=10, fresh=True)\n"
        "await kv.put('a', 'one')\nawait kv.put('a', 'two')\nawait kv.put('b', 'bee');",
        "tt = kvnb.TimeTravel(kv)\nawait tt.load()\ntt",
    ])
    await nb.run_all()
    slider = nb.page.locator(".kvnb-timetravel input.kvnb-tt-slider")
    await nb.wait_for("() => { const s = document.querySelector('.kvnb-timetravel input.kvnb-tt-slider');"
                      " return s && !s.disabled && s.value === '3'; }",
                      timeout=RENDER_TIMEOUT, what="the TimeTravel slider at revision 3")
    row_a = '.kvnb-timetravel tr.kvnb-row[data-key="a"]'

    await slider.focus()
    await nb.page.keyboard.press("ArrowLeft")
    b_has_value = ".kvnb-timetravel tr.kvnb-row[data-key=\"b\"][data-status=\"value\"]"
    await nb.wait_for("(sel) => document.querySelector(sel) && document.querySelector(sel).innerText.includes('two')"
                      " && document.querySelector('.kvnb-timetravel input.kvnb-tt-slider').value === '2'"
                      f" && !document.querySelector('{b_has_value}')",
                      arg=row_a, timeout=5.0, what="ArrowLeft: the bucket at revision 2 (a = two, no b yet)")
    assert await nb.page.locator(".kvnb-timetravel").is_visible(), "the key reached JupyterLab and hid the widget"
    assert await nb.page.locator(".jp-collapseHeadingButton.jp-mod-collapsed").count() == 0

    box = await slider.bounding_box()
    assert box is not None
    await nb.page.mouse.click(box["x"] + 2, box["y"] + box["height"] / 2)  # the left end: the first revision
    await nb.wait_for("(sel) => document.querySelector(sel) && document.querySelector(sel).innerText.includes('one')",
                      arg=row_a, timeout=5.0, what="a click at the slider's left end: the bucket at revision 1")
    await nb.screenshot(test_name, ".kvnb-timetravel")


async def test_race_runs_from_its_button(open_notebook: OpenNotebook, writer: kvnb.client.NATS,
                                         bucket: str, test_name: str) -> None:
    """Run races the writers in the kernel; the verdict says every increment landed, and the bucket agrees."""
    nb = await open_notebook([
        f"import kvnb\nkv = await kvnb.open_bucket({bucket!r}, history=10, fresh=True)",
        "race = kvnb.Race(kv, 'counter', writers=3, increments=5)\nrace",
    ])
    await nb.run_all()
    await nb.wait_for_selector(".kvnb-race button.kvnb-run:not([disabled])", timeout=RENDER_TIMEOUT,
                               what="the Race rendered with its Run button")
    await nb.page.locator(".kvnb-race button.kvnb-run").click()
    await nb.wait_for_selector(".kvnb-race .kvnb-verdict.kvnb-good", timeout=30.0, what="the race's good verdict")
    kv = await kvnb.open_bucket(bucket, nc=writer)
    assert (await kv.get("counter")).text == "15"
    verdict = await nb.page.locator(".kvnb-race .kvnb-verdict").inner_text()
    assert "15" in verdict, verdict
    lanes = await nb.page.locator(".kvnb-race .kvnb-race-lane").count()
    assert lanes == 3
    await nb.screenshot(test_name, ".kvnb-race")


async def test_keys_inside_a_widget_stay_there(open_notebook: OpenNotebook, writer: kvnb.client.NATS,
                                               bucket: str, test_name: str) -> None:
    """The TimeTravel slider moves with the keyboard; JupyterLab's shortcuts never see those keys."""
    nb = await open_notebook([
        f"import kvnb\nkv = await kvnb.open_bucket({bucket!r}, history=10, fresh=True)\n"
        "for i in range(1, 7):\n    await kv.put(f'k{i}', str(i))",
        "tt = kvnb.TimeTravel(kv)\ntt",
        "pg = kvnb.Playground(kv)\npg",
    ])
    await nb.run_all()
    label = ".kvnb-timetravel .kvnb-tt-label"
    await nb.wait_for("(sel) => document.querySelector(sel)?.textContent === 'revision 6'",
                      arg=label, timeout=RENDER_TIMEOUT, what="TimeTravel at revision 6")
    await nb.wait_for_selector(".kvnb-playground .kvnb-pg-key input", timeout=RENDER_TIMEOUT, what="the Playground")
    active = "() => window.jupyterapp.shell.currentWidget.content.activeCellIndex"
    slider = nb.page.locator(".kvnb-timetravel input.kvnb-tt-slider")
    await slider.focus()
    before = await nb.page.evaluate(active)
    for key in ("ArrowLeft", "ArrowLeft", "ArrowDown"):  # ArrowDown would select the next cell in JupyterLab
        await nb.page.keyboard.press(key)
    await nb.wait_for("(sel) => document.querySelector(sel).textContent === 'revision 3'", arg=label, timeout=5.0,
                      what="the slider moved back three revisions with the keyboard")
    await nb.wait_for("() => [...document.querySelectorAll('.kvnb-timetravel tr.kvnb-row')].map(r => r.dataset.key)"
                      ".join() === 'k1,k2,k3'", timeout=5.0, what="the bucket as it was at revision 3")
    assert await nb.page.evaluate(active) == before, "a key pressed in the slider reached JupyterLab"
    # typing into a widget's text box: "a", "b", "d d" are notebook shortcuts in command mode
    key_input = nb.page.locator(".kvnb-playground .kvnb-pg-key input")
    await key_input.click()
    cells = "() => window.jupyterapp.shell.currentWidget.content.widgets.length"
    count = await nb.page.evaluate(cells)
    await nb.page.keyboard.type("abdd")
    assert await key_input.input_value() == "abdd"
    assert await nb.page.evaluate(cells) == count, "typing in the widget added or deleted cells"
    await nb.screenshot(test_name)


# The key index of the BucketTable row at a height of the table's box (a fraction of its visible height
# below the header, which sticks to its top), or null when the point hits something that is not a row (a blank spacer).
ROW_AT_JS = """(f) => {
    const box = document.querySelector('.kvnb-buckettable .kvnb-table-box');
    const head = box.querySelector('thead th').getBoundingClientRect();  // th: the part that sticks
    const r = box.getBoundingClientRect();
    const y = head.bottom + 1 + f * (r.bottom - head.bottom - 2);
    const tr = document.elementFromPoint(r.left + 60, y)?.closest('tr.kvnb-row');
    return tr ? Number(tr.dataset.key.slice(1)) : null;
}"""


async def test_big_table_draws_the_rows_in_view(open_notebook: OpenNotebook, writer: kvnb.client.NATS,
                                                bucket: str, test_name: str) -> None:
    """A 300-key BucketTable draws only the rows near its box, yet reads as a whole table: the scroll bar
    spans every row, any scroll position shows the rows that belong there, and a key that changed far out
    of view shows its new value when scrolled to."""
    keys = 300
    nb = await open_notebook([
        f"import kvnb\nkv = await kvnb.open_bucket({bucket!r}, fresh=True)",
        "table = kvnb.BucketTable(kv)\ntable",
    ])
    await nb.run_all()
    await nb.wait_for_selector(".kvnb-buckettable .kvnb-table-box", timeout=RENDER_TIMEOUT, what="the BucketTable")
    kv = await kvnb.open_bucket(bucket, nc=writer)
    await asyncio.gather(*(kv.put(f"k{i}", f"value {i}") for i in range(keys)))
    status = "document.querySelector('.kvnb-buckettable .kvnb-status').textContent"
    await nb.wait_for(f"() => {status}.startsWith('{keys} keys')", timeout=10.0,
                      what=f"the table's status: {keys} keys")

    shown = "() => [...document.querySelectorAll('.kvnb-buckettable tr.kvnb-row')].map(r => +r.dataset.key.slice(1))"
    drawn = await nb.page.evaluate(shown)
    assert 20 <= len(drawn) <= 100, f"{len(drawn)} rows drawn of {keys}"
    assert drawn == list(range(len(drawn))), "at the top: the first rows, in natural order"
    assert await nb.page.evaluate(ROW_AT_JS, 0.0) == 0 and await nb.page.evaluate(ROW_AT_JS, 1.0) is not None

    # the scroll bar spans every row: the box scrolls as far as 300 drawn rows would make it
    geometry = await nb.page.evaluate("""() => {
        const box = document.querySelector('.kvnb-buckettable .kvnb-table-box');
        const rows = box.querySelectorAll('tr.kvnb-row'), top = rows[0].getBoundingClientRect().top;
        const row = (rows[rows.length - 1].getBoundingClientRect().bottom - top) / rows.length;
        const head = box.querySelector('thead').getBoundingClientRect().height;
        return {scrollHeight: box.scrollHeight, head, row}; }""")
    whole = geometry["head"] + keys * geometry["row"]  # the height of the table with every row drawn
    assert abs(geometry["scrollHeight"] - whole) <= 2 * geometry["row"], geometry

    # half way down: the row in the middle of the box is the middle key, and no blank shows above or below it
    await nb.page.evaluate("() => { const b = document.querySelector('.kvnb-buckettable .kvnb-table-box');"
                           " b.scrollTop = (b.scrollHeight - b.clientHeight) / 2; }")
    await nb.wait_for(f"() => ({ROW_AT_JS})(0.0) !== null && ({ROW_AT_JS})(1.0) !== null", timeout=LIVE_BOUND,
                      what="rows drawn across the whole box, half way down")
    middle = await nb.page.evaluate(ROW_AT_JS, 0.5)
    assert middle is not None and abs(middle - keys / 2) <= 3, f"half way down the box shows k{middle}"
    drawn = await nb.page.evaluate(shown)
    assert len(drawn) <= 100 and drawn == list(range(drawn[0], drawn[0] + len(drawn))), drawn

    # a key far below the window changes; scrolled to the end, its row has the new value
    rev = await kv.put(f"k{keys - 1}", "changed out of view")
    await nb.wait_for(f"() => {status}.includes('last revision {rev}')", timeout=LIVE_BOUND,
                      what="the table's status at the change")
    await nb.page.evaluate("() => { const b = document.querySelector('.kvnb-buckettable .kvnb-table-box');"
                           " b.scrollTop = b.scrollHeight; }")
    row = f'.kvnb-buckettable tr[data-key="k{keys - 1}"][data-revision="{rev}"]'
    await nb.wait_for("(sel) => document.querySelector(sel)?.innerText.includes('changed out of view')", arg=row,
                      timeout=LIVE_BOUND, what=f"k{keys - 1}'s new value once scrolled to the end")
    await nb.wait_for(f"() => ({ROW_AT_JS})(1.0) === {keys - 1}", timeout=LIVE_BOUND,
                      what=f"k{keys - 1} at the bottom of the box")
    await nb.screenshot(test_name, ".kvnb-buckettable")


async def test_big_bucket_stays_readable(open_notebook: OpenNotebook, writer: kvnb.client.NATS,
                                         bucket: str, test_name: str) -> None:
    """More than the boxes show: the feed draws older rows when scrolled to, the Timeline's key labels
    stay in view at its right end, and a table row that changed out of view is right when scrolled in."""
    keys, puts = 30, 150
    nb = await open_notebook([
        f"import kvnb\nkv = await kvnb.open_bucket({bucket!r}, history=5, fresh=True)",
        "feed = kvnb.WatchFeed(kv)\nfeed",
        "timeline = kvnb.Timeline(kv)\ntimeline",
        "table = kvnb.BucketTable(kv)\ntable",
    ])
    await nb.run_all()
    await nb.wait_for(ALL_PRESENT_JS, arg=[".kvnb-watchfeed .kvnb-caught-up", ".kvnb-timeline", ".kvnb-buckettable"],
                      timeout=RENDER_TIMEOUT, what="a caught-up WatchFeed, a Timeline and a BucketTable")
    kv = await kvnb.open_bucket(bucket, nc=writer)
    last: dict[str, int] = {}
    for i in range(puts):
        key = f"k{i % keys}"
        last[key] = await kv.put(key, f"value {i}")
    newest = max(last.values())
    await nb.wait_for(ALL_PRESENT_JS, arg=[FEED_ROW.format(rev=newest), MARK.format(rev=newest),
                                           f'.kvnb-buckettable tr[data-key="k0"][data-revision="{last["k0"]}"]'],
                      timeout=10.0, what=f"revision {newest} in the feed and the Timeline, k0's last in the table")

    # The feed: a few screens of rows drawn, the rest drawn as the reader scrolls down to them.
    drawn = await nb.page.locator(".kvnb-watchfeed .kvnb-feed-row").count()
    assert 14 <= drawn < puts, f"{drawn} feed rows drawn of {puts}"
    scroll_feed = """() => { const l = document.querySelector('.kvnb-watchfeed .kvnb-feed-rows');
        l.scrollTop = l.scrollHeight; return l.querySelectorAll('.kvnb-feed-row').length; }"""
    for _ in range(20):
        if await nb.page.locator(FEED_ROW.format(rev=1)).count():
            break
        await nb.page.evaluate(scroll_feed)
        await nb.page.wait_for_timeout(100)  # the scroll event, then the rows it draws
    revisions = [int(r) for r in await nb.page.eval_on_selector_all(
        ".kvnb-watchfeed .kvnb-feed-row[data-revision]", "els => els.map(e => e.dataset.revision)")]
    assert revisions == list(range(newest, 0, -1)), "scrolled to the end, the feed shows every put, newest first"

    # The Timeline follows the newest revision; the labels column stays at the left edge, readable.
    geometry = await nb.page.evaluate("""(rev) => {
        const scroller = document.querySelector('.kvnb-timeline .kvnb-tl-scroll');
        const box = scroller.getBoundingClientRect();
        const label = [...document.querySelectorAll('.kvnb-timeline .kvnb-tl-label')].find(l => l.textContent === 'k0')
            .getBoundingClientRect();
        const mark = document.querySelector(`.kvnb-timeline .kvnb-mark[data-revision="${rev}"]`)
            .getBoundingClientRect();
        const hit = document.elementFromPoint(label.left + 4, label.top + 8);
        return {boxLeft: box.left, boxRight: box.right, labelLeft: label.left, markLeft: mark.left,
                markRight: mark.right, labelOnTop: hit?.textContent === 'k0', scrolled: scroller.scrollLeft};
    }""", newest)
    assert geometry["scrolled"] > 0, f"{puts} revisions should overflow the box: {geometry}"
    assert abs(geometry["labelLeft"] - geometry["boxLeft"]) <= 2 and geometry["labelOnTop"], geometry
    assert geometry["boxLeft"] < geometry["markLeft"] and geometry["markRight"] <= geometry["boxRight"], geometry
    labels = await nb.page.eval_on_selector_all(".kvnb-timeline .kvnb-tl-label", "els => els.map(e => e.textContent)")
    assert labels == ["revision"] + [f"k{i}" for i in range(keys)], "natural order: k2 before k10"
    await nb.screenshot(f"{test_name}-timeline", ".kvnb-timeline")

    # The table: k29 (below the box's fold) changes while out of view, and is right once scrolled to.
    rev = await kv.put("k29", "changed out of view")
    await nb.wait_for_selector(FEED_ROW.format(rev=rev), timeout=LIVE_BOUND, what="the change in the feed")
    await nb.page.evaluate("() => { const b = document.querySelector('.kvnb-buckettable .kvnb-table-box');"
                           " b.scrollTop = b.scrollHeight; }")
    row = f'.kvnb-buckettable tr[data-key="k29"][data-revision="{rev}"]'
    await nb.wait_for("(sel) => document.querySelector(sel)?.innerText.includes('changed out of view')", arg=row,
                      timeout=LIVE_BOUND, what="k29's new value once its row scrolled into view")
    keys_shown = await nb.page.eval_on_selector_all(".kvnb-buckettable tr[data-key]",
                                                    "els => els.map(e => e.dataset.key)")
    assert keys_shown == [f"k{i}" for i in range(keys)]
    await nb.screenshot(test_name)
    try:
        await nb.set_theme(dark=True)
        # still following the newest revision in the other theme: its column in view, right of the labels
        await nb.wait_for("""(rev) => {
            const box = document.querySelector('.kvnb-timeline .kvnb-tl-scroll').getBoundingClientRect();
            const labels = document.querySelector('.kvnb-timeline .kvnb-tl-labels').getBoundingClientRect();
            const mark = document.querySelector(`.kvnb-timeline .kvnb-mark[data-revision="${rev}"]`);
            const r = mark && mark.getBoundingClientRect();
            return !!r && r.left >= labels.right && r.right <= box.right;
        }""", arg=rev, timeout=5.0, what=f"revision {rev}'s column in view after the theme changed")
        await nb.screenshot(f"{test_name}-timeline-dark", ".kvnb-timeline")
    finally:
        await nb.set_theme(dark=False)
