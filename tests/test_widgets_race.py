"""Race: racing writers against a real server, through the widget's Python API and its Run button."""

from __future__ import annotations

import asyncio

import pytest

import kvnb


async def test_cas_race_loses_nothing(kv: kvnb.KV) -> None:
    race = kvnb.Race(kv, "counter", writers=4, increments=10)
    try:
        result = await race.run()
        assert isinstance(result, kvnb.RaceResult)
        assert result.ok and result.final_value == result.successes == 40 and result.lost_updates == 0
        assert int((await kv.get("counter")).text) == 40
        assert result.conflicts == race.stats.conflicts and result.retries <= result.conflicts
        lanes = race.state["writers"]
        assert len(lanes) == 4 and sum(w["ok"] for w in lanes) == 40
        for w in lanes:  # each lane's strip shows its latest 48 outcomes: + stored, × conflict
            if w["ok"] + w["conflicts"] <= 48:
                assert (w["recent"].count("+"), w["recent"].count("×")) == (w["ok"], w["conflicts"])
        text = repr(race).splitlines()
        assert text[0] == f"Race('counter' on {kv.name!r}): 4 writers × 10 increments, update(last=)"
        assert "nothing lost: final value 40 = 40 increments stored" in text[1]
        # the numbers add up in words: attempts = stored + refused, each lane and in total
        assert f"{result.attempts} attempts = 40 stored + {result.conflicts} refused because another writer" in text[1]
        lane_lines = [t for t in text if t.strip().startswith("writer ")]
        assert all(f"{w.successes} stored + {w.conflicts} refused (retried) = "
                   f"{w.successes + w.conflicts} attempts" in line
                   for w, line in zip(race.stats.writers, lane_lines, strict=True))
        html = race._repr_html_()
        assert "nothing lost: final value 40 = 40 increments stored" in html and "conflicts" not in html
        assert race.state["finished"] and race.state["ok"] is True
    finally:
        await race.aclose()


async def test_plain_put_race_reports_lost_updates_consistently(kv: kvnb.KV) -> None:
    race = kvnb.Race(kv, "counter", writers=4, increments=10, cas=False)
    try:
        result = await race.run()
        final = int((await kv.get("counter")).text)
        assert result.final_value == final and result.successes == 40 and result.conflicts == 0
        assert result.lost_updates == 40 - final and result.ok == (final == 40)
        verdict = "nothing lost" if result.ok else f"{result.lost_updates} update"
        assert verdict in repr(race)
    finally:
        await race.aclose()


async def test_run_button_goes_through_the_main_loop(kv: kvnb.KV) -> None:
    race = kvnb.Race(kv, "counter", writers=2, increments=5, separate_connections=False)
    try:
        race._handle_front({"type": "action", "name": "run"})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while race.result is None:
            assert loop.time() < deadline
            await asyncio.sleep(0.02)
        assert race.result.ok and race.result.successes == 10 and not race.running
    finally:
        await race.aclose()


async def test_race_errors_show_in_the_widget(kv: kvnb.KV) -> None:
    race = kvnb.Race(kv, "counter", writers=2, increments=3)
    await kvnb.delete_bucket(kv.name, nc=kv.nc)
    try:
        with pytest.raises(kvnb.KvnbError):
            await race.run()
        assert race.error and not race.running
    finally:
        await race.aclose()


def test_race_arguments_are_checked() -> None:
    with pytest.raises(kvnb.InvalidOption, match="writers must be an int from 1 to 32"):
        kvnb.Race(None, "counter", writers=0)  # type: ignore[arg-type]
    with pytest.raises(kvnb.InvalidKey):
        kvnb.Race(None, "bad key")  # type: ignore[arg-type]
