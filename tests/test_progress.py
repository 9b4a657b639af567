"""Live progress against a real classroom server: every check records its outcome in the participant's
own account, in the background; the instructor's board shows it; nobody else can read it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import nats.js.errors
import pytest

import kvnb
from kvnb import checks
from kvnb.classroom import Classroom, participant_js_prefix, start_classroom
from kvnb.client import close_default_connection
from kvnb.progress import BUCKET, NOT_YET, PASSED, ProgressBoard, exercises, recording, render_board
from tests.test_classroom import DENIED, FAST

pytestmark = pytest.mark.timeout(60)
BOUND = 10.0  # seconds for what takes milliseconds, on a loaded machine


@pytest.fixture(scope="module")
def room() -> Iterator[Classroom]:
    started = start_classroom(2)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
async def as_p1(room: Classroom, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """This test's kernel is p1's: the environment a hub's spawner gives a participant."""
    monkeypatch.setenv("NATS_URL", room.local_url)
    monkeypatch.setenv("NATS_NKEY_SEED", room.seat("p1").seed)
    monkeypatch.setenv("KVNB_CLASSROOM_USER", "p1")
    monkeypatch.delenv("KVNB_PROGRESS", raising=False)
    yield
    await close_default_connection()


async def _until(predicate, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + BOUND
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, f"not within {BOUND} s: {what}"
        await asyncio.sleep(0.02)


def test_recording_only_in_a_classroom(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("NATS_URL", "NATS_NKEY_SEED", "NATS_NKEY", "NATS_CREDS", "NATS_USER", "KVNB_PROGRESS"):
        monkeypatch.delenv(var, raising=False)
    assert not recording()
    monkeypatch.setenv("NATS_URL", "nats://127.0.0.1:4222")
    assert not recording()  # a server without a login is not a classroom
    monkeypatch.setenv("NATS_NKEY_SEED", "SU...")
    assert recording()
    monkeypatch.setenv("KVNB_PROGRESS", "0")
    assert not recording()


def test_every_check_is_wrapped_once() -> None:
    names = [n for n in checks.__all__ if n not in ("NotYet", "Passed")]
    assert names and all(getattr(getattr(checks, n), "_kvnb_recorded", False) for n in names)
    assert [n for n, _ in exercises()][:3] == ["rooms_stored", "temp_pattern", "profile_json"]


async def test_checks_record_in_own_account_and_the_board_shows_them(room: Classroom, as_p1: None) -> None:
    teacher = await room.connect("instructor")
    board = ProgressBoard(teacher, room.users)
    try:
        assert await board.refresh() == {"p1": {}, "p2": {}}
        with pytest.raises(checks.NotYet):
            checks.temp_pattern("sensors.>")           # wrong: not yet
        assert checks.temp_pattern("sensors.*.temp")   # right: passed, the result unchanged

        async def shown() -> bool:
            rows = await board.refresh()
            return rows["p1"].get("temp_pattern") == PASSED
        await _until(shown, "p1's pass on the board")
        record = board.records["p1"]["temp_pattern"]
        assert record["attempts"] == 2 and record["status"] == PASSED and record["user"] == "p1"

        rooms = await kvnb.open_bucket("rooms", fresh=True)  # p1's own bucket, empty: an async check says not yet
        with pytest.raises(checks.NotYet):
            await checks.rooms_stored(rooms)

        async def tried() -> bool:
            return (await board.refresh())["p1"].get("rooms_stored") == NOT_YET
        await _until(tried, "p1's failed attempt on the board")
        assert board.stuck()["rooms_stored"] == 1 and board.stuck()["temp_pattern"] == 0
        assert (await board.refresh())["p2"] == {}
        html = board.widget.value
        assert "p1" in html and "p2" in html and "stuck" in html

        # Own account: p1's kernel reads its record; p2 finds no such bucket of p1's.
        mine = await kvnb.open_bucket(BUCKET)
        assert (await mine.get("temp_pattern")).text
        p2 = await room.connect("p2")
        try:
            with pytest.raises(DENIED):  # p1's API is not imported into p2's account
                await p2.jetstream(prefix=participant_js_prefix("p1"), timeout=FAST).stream_info(f"KV_{BUCKET}")
            with pytest.raises(nats.js.errors.BucketNotFoundError):  # p2's own namespace has no such bucket
                await p2.jetstream(timeout=FAST).key_value(BUCKET)
        finally:
            await p2.close()
    finally:
        await board.stop()
        await teacher.close()
    bundle = board._repr_mimebundle_()
    assert "stopped" in bundle["text/html"] and "p1" in bundle["text/html"]
    assert board.stopped and "stopped" in bundle["text/plain"]


async def test_a_dead_server_never_breaks_or_shows_in_a_check(monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NATS_URL", "nats://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NATS_NKEY_SEED", "SUAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    assert checks.temp_pattern("sensors.*.temp")
    with pytest.raises(checks.NotYet):
        checks.temp_pattern("sensors.>")
    await asyncio.sleep(0.5)  # let the background writer fail
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err and "progress" not in out.err


async def test_stop_widgets_stops_the_board_and_keeps_its_picture(room: Classroom) -> None:
    teacher = await room.connect("instructor")
    try:
        board = ProgressBoard(teacher, room.users).start()
        assert await kvnb.stop_widgets() >= 1 and board.stopped
        assert "p2" in board._repr_mimebundle_()["text/html"]
    finally:
        await teacher.close()


def test_render_board_marks_and_stuck_row() -> None:
    rows = {"p1": {"a": {"passed": True, "attempts": 3}}, "p2": {"a": {"passed": False, "attempts": 1}}, "p3": {},
            "p4": {}}
    text = render_board(rows, {"p4": "no answer"}, [("a", "1.1"), ("b", "1.2")])
    assert "no answer" in text
    assert text.count("kvnb-progress-passed") == 1 and text.count("kvnb-progress-not-yet") == 1
    assert "passed 3" in text and "not yet 1" in text and "stuck" in text
