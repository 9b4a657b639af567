"""The learner's eye: every notebook of the course, Run All in JupyterLab with chromium, looked at.

For each notebook: open it as a learner would, run every cell, wait until the kernel is idle with
every cell executed, then check what is on the page: no traceback, no "Error displaying widget", no
hidden (closed) widget output, and every widget the notebook makes drawn at a sensible size with
real content. Each widget is photographed in the light and the dark theme into
``test-output/learners-eye/``; ``make screenshots`` copies one picture of each kind of widget to
``docs/img/`` (the README shows them).

One notebook is also saved, closed and reopened after its kernel is gone: the stopped widgets'
last pictures must still be there.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.browser.conftest import LabPage, OpenNotebook

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
SHOTS = REPO / "test-output" / "learners-eye"
DOCS_IMG = REPO / "docs" / "img"
RUN_ALL_TIMEOUT = 240.0  # 08 starts a 3-node cluster and kills its leader; 09 starts Redis
WIDGET_CALL = re.compile(
    r"(?<![\w.])(?:kvnb\.(?:widgets\.)?)?(Timeline|WatchFeed|BucketTable|Race|TimeTravel|Playground|ClusterView|"
    r"ActivityBoard|ProgressBoard|CounterBoard)\(")
# where the README's picture of each widget comes from (the first notebook that shows it)
DOCS_PICTURES = {"timeline": "02", "watchfeed": "03", "buckettable": "01", "race": "04", "timetravel": "02",
                 "playground": "01", "clusterview": "08", "counterboard": "10"}

# every code cell executed, the kernel idle again
_ALL_RAN_JS = """(path) => {
  const w = window.jupyterapp.shell.currentWidget;
  if (!w || !w.context || w.context.path !== path || !w.sessionContext.session) return false;
  const kernel = w.sessionContext.session.kernel;
  if (!kernel || kernel.status !== 'idle') return false;
  const cells = w.content.widgets.filter(c => c.model.type === 'code' && c.model.sharedModel.getSource().trim());
  return cells.length > 0 && cells.every(c => c.model.executionCount !== null);
}"""
_PAGE_STATE_JS = """() => {
  const outputs = Array.from(document.querySelectorAll('.jp-Notebook .jp-OutputArea-output'));
  return {
    hidden: document.querySelectorAll('.jp-Notebook .jp-OutputArea-child.lm-mod-hidden, '
                                      + '.jp-Notebook .jp-OutputArea-output.lm-mod-hidden').length,
    widget_errors: outputs.filter(o => o.textContent.includes('Error displaying widget')).map(o => o.textContent),
    loading: outputs.filter(o => o.textContent.trim() === 'Loading widget...').length,
    widgets: Array.from(document.querySelectorAll('.jp-Notebook .jp-OutputArea-output .kvnb-widget')).map((e, i) => {
      const r = e.getBoundingClientRect();
      const kind = Array.from(e.classList).find(c => c.startsWith('kvnb-') && c !== 'kvnb-widget');
      return {index: i, kind: kind ? kind.slice(5) : '?', width: r.width, height: r.height,
              text: e.innerText.slice(0, 300), stopped: !!e.parentElement.querySelector('.kvnb-stopped')};
    }),
  };
}"""


def _expected_widgets(path: Path) -> int:
    import json

    nb = json.loads(path.read_text())
    count = 0
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        for line in "".join(cell["source"]).splitlines():
            code = line.split("#", 1)[0]
            count += len(WIDGET_CALL.findall(code))
    return count


async def _photograph(nb: LabPage, stem: str, widgets: list[dict], theme: str) -> list[Path]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    paths = []
    locator = nb.page.locator(".jp-Notebook .jp-OutputArea-output .kvnb-widget")
    for w in widgets:
        path = SHOTS / f"{stem}--{w['index']:02d}-{w['kind']}-{theme}.png"
        await locator.nth(w["index"]).scroll_into_view_if_needed()
        await locator.nth(w["index"]).screenshot(path=str(path))
        paths.append(path)
        prefix = stem[:2]
        if os.environ.get("KVNB_DOCS_IMG") and DOCS_PICTURES.get(w["kind"]) == prefix:
            DOCS_IMG.mkdir(parents=True, exist_ok=True)
            target = DOCS_IMG / f"{w['kind']}{'' if theme == 'light' else '-dark'}.png"
            if not target.exists() or target.stat().st_mtime < nb.started:  # the first one of this run
                shutil.copyfile(path, target)
    return paths


@pytest.mark.timeout(420)
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
async def test_run_all_draws_every_widget(open_notebook: OpenNotebook, notebook: Path) -> None:
    nb = await open_notebook(notebook)
    await nb.run_all()
    took = await nb.wait_for(_ALL_RAN_JS, arg=nb.path, timeout=RUN_ALL_TIMEOUT,
                             what=f"{notebook.name}: every cell executed and the kernel idle")
    print(f"{notebook.name}: Run All took {took:.1f} s")
    state = await nb.page.evaluate(_PAGE_STATE_JS)
    assert not state["widget_errors"], state["widget_errors"]
    assert state["hidden"] == 0, f"{state['hidden']} widget outputs were removed from the page (closed, not stopped)"
    assert state["loading"] == 0
    widgets = state["widgets"]
    expected = _expected_widgets(notebook)
    assert len(widgets) == expected, (f"{notebook.name} makes {expected} widgets but {len(widgets)} are drawn: "
                                      f"{[w['kind'] for w in widgets]}")
    for w in widgets:
        where = f"{notebook.name}, widget {w['index']} ({w['kind']})"
        assert w["width"] >= 300 and w["height"] >= 40, f"{where} is {w['width']:.0f}×{w['height']:.0f} px"
        assert len(w["text"].strip()) >= 20, f"{where} shows almost nothing: {w['text']!r}"
        assert "connecting" not in w["text"], f"{where} never received its data: {w['text']!r}"
    if widgets:
        await _photograph(nb, notebook.stem, widgets, "light")
        try:
            await nb.set_theme(dark=True)
            await _photograph(nb, notebook.stem, widgets, "dark")
        finally:
            await nb.set_theme(dark=False)


@pytest.mark.timeout(300)
async def test_a_saved_notebook_reopened_without_its_kernel_shows_the_last_pictures(
        open_notebook: OpenNotebook) -> None:
    notebook = REPO / "notebooks" / "02_revisions_history.ipynb"
    nb = await open_notebook(notebook)
    await nb.run_all()
    await nb.wait_for(_ALL_RAN_JS, arg=nb.path, timeout=RUN_ALL_TIMEOUT, what="02: every cell executed")
    before = await nb.page.evaluate(_PAGE_STATE_JS)
    assert before["widgets"], "02 draws no widget"
    await nb.page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    await nb.wait_for("() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=15.0,
                      what="the notebook saved")
    nb.lab.delete_sessions(nb.path)  # the kernel is gone

    assert nb.reopen is not None
    again = await nb.reopen()
    await again.wait_for("(n) => document.querySelectorAll('.jp-Notebook .kvnb-widget').length >= n",
                         arg=len(before["widgets"]), timeout=30.0, what="the saved pictures drawn")
    after = await again.page.evaluate(_PAGE_STATE_JS)
    assert not after["widget_errors"], after["widget_errors"]
    assert [w["kind"] for w in after["widgets"]] == [w["kind"] for w in before["widgets"]]
    assert all(w["stopped"] for w in after["widgets"]), "a reopened widget picture is not marked stopped"
    await again.screenshot("learners-eye-02-reopened")
