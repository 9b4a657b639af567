"""Playground against a real server: every button through the Python API, errors inline."""

from __future__ import annotations

import asyncio

import pytest

import kvnb


async def test_every_operation_and_its_result(kv: kvnb.KV) -> None:
    pg = kvnb.Playground(kv)
    try:
        assert await pg.do("put", "color", "blue") == "put color = 'blue' → revision 1"
        assert pg.ok and pg.last == 1
        assert await pg.do("update", "color", "red") == "updated color = 'red' (was revision 1) → revision 2"
        assert (await pg.do("get", "color")).endswith("'red' at revision 2") and pg.value == "red"
        assert "created size = 'L'" in await pg.do("create", "size", "L")
        assert "DEL marker at revision 4" in await pg.do("delete", "size")
        assert "PURGE marker at revision 5" in await pg.do("purge", "color")
        assert pg.ok and len(pg.log) == 6 and pg.log[0].startswith("ok: purged color")
        assert repr(pg).splitlines() == [
            f"Playground({kv.name!r}): key 'color', value 'L', last revision 5",
            "  ok: purged color → PURGE marker at revision 5 (older revisions removed)"]
        assert 'class="kvnb-widget kvnb-playground"' in pg._repr_html_()
    finally:
        await pg.aclose()


async def test_errors_show_inline_and_are_not_raised(kv: kvnb.KV) -> None:
    pg = kvnb.Playground(kv)
    try:
        await pg.do("put", "k", "1")
        text = await pg.do("update", "k", "2", last=7)
        assert not pg.ok and text == pg.result and "Conflict" in text and "is at revision 1" in text
        await pg.do("delete", "k")
        text = await pg.do("get", "k")
        assert not pg.ok and "was deleted at revision 2" in text and pg.last == 2
        text = await pg.do("create", "k", "again")  # create may replace a tombstone
        assert pg.ok, text
        text = await pg.do("put", "bad key", "x")
        assert not pg.ok and "InvalidKey" in text and "it contains space" in text
        text = await pg.do("get", "never")
        assert not pg.ok and "not found" in text
        assert repr(pg).splitlines()[1].startswith("  failed: get never")
    finally:
        await pg.aclose()


async def test_unknown_actions_are_a_programming_error(kv: kvnb.KV) -> None:
    pg = kvnb.Playground(kv)
    try:
        with pytest.raises(kvnb.InvalidOption, match="action must be one of"):
            await pg.do("upsert", "k", "v")
    finally:
        await pg.aclose()


async def test_buttons_send_their_inputs(kv: kvnb.KV) -> None:
    pg = kvnb.Playground(kv)
    try:
        pg._on_front_msg(pg, {"type": "action", "name": "put", "key": "x", "value": "1", "last": ""}, [])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while not pg.result:
            assert loop.time() < deadline
            await asyncio.sleep(0.02)
        assert pg.ok and (await kv.get("x")).text == "1" and pg.key == "x"
        pg._on_front_msg(pg, {"type": "action", "name": "update", "key": "x", "value": "2", "last": "abc"}, [])
        deadline = loop.time() + 5
        while "whole number" not in pg.result:  # the action runs as a task: wait for it, bounded
            assert loop.time() < deadline, pg.result
            await asyncio.sleep(0.02)
        assert not pg.ok and "whole number" in pg.result
    finally:
        await pg.aclose()
