"""Stopping a widget keeps its last picture: in the live notebook, in the saved file and in nbconvert's HTML.

These run a real kernel (nbclient, which applies ``update_display_data`` the way JupyterLab does)
against a real nats-server, then look at what the notebook file holds and what nbconvert makes of it.
"""

from __future__ import annotations

import json
import re

import nbformat
import pytest
from nbclient import NotebookClient
from nbconvert import HTMLExporter

import kvnb
from kvnb.server import Server

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def _notebook(cells: list[str]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _run(nb: nbformat.NotebookNode, nats_server: Server, monkeypatch: pytest.MonkeyPatch) -> nbformat.NotebookNode:
    monkeypatch.setenv("NATS_URL", nats_server.url)  # the kernel inherits it
    NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=False).execute()
    return nb


def _outputs(cell: nbformat.NotebookNode) -> list[dict]:
    return [o for o in cell.outputs if o.get("output_type") in ("display_data", "execute_result")]


async def test_stop_keeps_the_last_picture_in_the_file_and_in_nbconvert(
        nats_server: Server, monkeypatch: pytest.MonkeyPatch, bucket_name: str) -> None:
    nb = _notebook([
        "import kvnb\n"
        f"kv = await kvnb.open_bucket({bucket_name!r}, history=5, fresh=True)\n"
        "for i in range(3):\n"
        "    await kv.put('k2', f'v{i}')\n"
        "await kv.put('k10', 'ten')\n"
        "await kv.delete('k2');",
        "timeline = kvnb.Timeline(kv)\nawait timeline.ready()\ntimeline",
        "feed = kvnb.WatchFeed(kv)\nawait feed.ready()\nfeed",
        "table = kvnb.BucketTable(kv, show_deleted=True)\nawait table.ready()\ntable",
        "n = await kvnb.stop_widgets()\n"
        "assert n == 3, n\n"
        "assert timeline.stopped and not timeline.closed\n"
        "print(timeline.stopped_note())",
    ])
    _run(nb, nats_server, monkeypatch)

    for index, kind in ((1, "timeline"), (2, "watchfeed"), (3, "buckettable")):
        outputs = _outputs(nb.cells[index])
        assert len(outputs) == 1, f"cell {index}: one output expected, got {outputs}"
        data = outputs[0]["data"]
        assert WIDGET_MIME not in data, f"{kind}: a stopped widget still points at a live view: {list(data)}"
        picture = data["text/html"]
        assert f"kvnb-{kind}" in picture
        assert "stopped · last revision 5" in picture, picture[:400]
    timeline_html = _outputs(nb.cells[1])[0]["data"]["text/html"]
    # every revision of the bucket is drawn in the frozen picture
    assert sorted(set(map(int, re.findall(r'data-revision="(\d+)"', timeline_html)))) == [1, 2, 3, 4, 5]
    printed = "".join(o.get("text", "") for o in nb.cells[4].outputs if o.get("output_type") == "stream")
    assert printed.startswith("stopped · last revision 5")

    # the saved notebook round-trips and nbconvert's page shows the pictures, not a widget placeholder
    saved = nbformat.reads(json.dumps(nb), as_version=4)
    body, _ = HTMLExporter().from_notebook_node(saved)
    assert body.count("kvnb-stopped") >= 3
    assert 'data-key="k10"' in body and 'data-key="k2"' in body

    # the watchers are gone: no consumer of theirs is left on the bucket's stream
    nc = await kvnb.connect(nats_server.url)
    try:
        info = await nc.jetstream().stream_info(f"KV_{bucket_name}")
        assert info.state.consumer_count == 0
    finally:
        await kvnb.delete_bucket(bucket_name, nc=nc)
        await kvnb.client.close_connection(nc)


async def test_close_still_removes_the_view_and_stop_is_idempotent(
        nats_server: Server, monkeypatch: pytest.MonkeyPatch, bucket_name: str) -> None:
    nb = _notebook([
        "import kvnb\n"
        f"kv = await kvnb.open_bucket({bucket_name!r}, fresh=True)\n"
        "await kv.put('a', '1');",
        "feed = kvnb.WatchFeed(kv)\nawait feed.ready()\nfeed",
        "await feed.stop()\nawait feed.stop()\nassert await kvnb.stop_widgets() == 0\nfeed.close()\n"
        "assert feed.closed and feed.stopped",
        "other = kvnb.WatchFeed(kv)\nawait other.ready()\nother.close()\nother",
    ])
    _run(nb, nats_server, monkeypatch)
    frozen = _outputs(nb.cells[1])[0]["data"]
    assert WIDGET_MIME not in frozen and "stopped · last revision 1" in frozen["text/html"]
    # a closed widget shown afterwards is a static picture, never a dangling view
    shown = _outputs(nb.cells[3])[0]["data"]
    assert WIDGET_MIME not in shown


async def test_a_polled_view_keeps_its_last_picture(nats_server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """ClusterView and the classroom boards (ipywidgets.HTML re-rendered by a task) freeze the same way."""
    nb = _notebook([
        "import ipywidgets, kvnb\nfrom kvnb.widgets._frozen import FrozenPicture\n"
        "class Board(FrozenPicture):\n"
        "    def __init__(self):\n"
        "        self.widget = ipywidgets.HTML('<b class=\"first\">first</b>')\n"
        "        self._init_frozen()\n"
        "    async def stop(self):\n"
        "        self._freeze()\n"
        "board = Board()\nboard",
        "board.widget.value = '<b class=\"last\">last picture</b>'",
        "assert await kvnb.stop_widgets() == 1 and board.stopped",
    ])
    _run(nb, nats_server, monkeypatch)
    data = _outputs(nb.cells[0])[0]["data"]
    assert WIDGET_MIME not in data
    assert "last picture" in data["text/html"] and "kvnb-stopped" in data["text/html"]
