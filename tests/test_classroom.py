"""Classroom mode against a real server: participants are isolated, the shared bucket is read-only for
them, the instructor sees everything, and the generated config passes ``nats-server -t``.

What one participant can try against the others is in ``test_classroom_attacks.py``."""

from __future__ import annotations

import asyncio
import stat
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats.aio.msg
import nats.errors
import nats.js.errors
import pytest
from _helpers import logged_in, running_classroom
from nats.js import api

import kvnb
from kvnb.classroom import (
    ActivityBoard,
    Classroom,
    MiB,
    _seats,
    classroom_config,
    open_shared_bucket,
    participant_buckets,
    participant_js_prefix,
    participant_limits,
    render_activity,
    start_classroom,
)
from kvnb.server import find_nats_server
from kvnb.watch import Watch

pytestmark = pytest.mark.timeout(60)
# how a denied JetStream request surfaces in nats-py (the server does not answer it)
DENIED = (nats.errors.NoRespondersError, nats.errors.TimeoutError, nats.js.errors.ServiceUnavailableError)
FAST = 1.0  # seconds a denied request may wait: denials come back as "no responders" in milliseconds
BOUND = 10.0  # seconds for things that take milliseconds, on a loaded machine


@pytest.fixture(scope="module")
def room() -> Iterator[Classroom]:
    with running_classroom(2) as started:
        yield started


@pytest.fixture
async def logins(room: Classroom) -> AsyncIterator[dict[str, kvnb.client.NATS]]:
    async with logged_in(room) as conns:
        yield conns


def check_config(path: Path) -> None:
    check = subprocess.run([str(find_nats_server()), "-t", "-c", str(path)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr + check.stdout


def test_config_is_valid_and_holds_no_secret(tmp_path: Path) -> None:
    seats, instructor = _seats(3)
    text = classroom_config(seats, instructor, log_file=tmp_path / "nats-server.log")
    path = tmp_path / "classroom.conf"
    path.write_text(text)
    check_config(path)
    for seat in [*seats, instructor]:
        assert seat.seed.startswith("SU") and seat.seed not in text
        assert f'nkey: "{seat.public_key}"' in text
    assert "password" not in text
    assert len({s.seed for s in [*seats, instructor]}) == 4  # generated, never fixed
    assert "logfile_size_limit: 10MB" in text and "logfile_max_num: 3" in text


@pytest.mark.parametrize(("n", "disk_mib", "memory_mib", "consumers"), [(50, 256, 32, 16), (100, 128, 16, 12),
                                                                        (200, 64, 8, 8)])
def test_limits_for_50_and_200_participants_fit_and_are_valid(tmp_path: Path, n: int, disk_mib: int, memory_mib: int,
                                                             consumers: int) -> None:
    limits = participant_limits(n)
    assert (limits.max_file, limits.max_memory, limits.max_consumers) == (disk_mib * MiB, memory_mib * MiB, consumers)
    assert limits.max_connections == 8 and limits.max_streams == 32
    seats, instructor = _seats(n)
    text = classroom_config(seats, instructor)
    # the server promises no more than the accounts' sum: 12.5 GiB of disk and 1.6 GiB of memory + CLASS
    assert f"max_file_store: {n * disk_mib + 256}MB" in text and f"max_memory_store: {n * memory_mib + 64}MB" in text
    assert n * disk_mib <= 12_800 and n * memory_mib <= 1_600
    path = tmp_path / "classroom.conf"
    path.write_text(text)
    check_config(path)


@pytest.mark.parametrize("bad", [0, -1, "3", True, 201])
def test_bad_participant_counts(bad: object) -> None:
    with pytest.raises(kvnb.InvalidOption, match="participants"):
        start_classroom(bad)  # type: ignore[arg-type]


def test_join_sheet_has_everything_and_is_private(room: Classroom, tmp_path: Path) -> None:
    sheet = room.write_sheet(tmp_path / "sheet.txt")
    assert stat.S_IMODE(sheet.stat().st_mode) == 0o600
    seeds = tmp_path / "sheet.txt.seeds"
    assert stat.S_IMODE(seeds.stat().st_mode) == 0o700
    text = sheet.read_text()
    assert room.url in text and room.url.startswith("nats://127.0.0.1:")
    for seat in [*room.participants, room.instructor]:
        assert f"[{seat.user}] seed {seat.seed}" in text
        seed_file = seeds / f"{seat.user}.nk"
        assert seed_file.read_text().strip() == seat.seed and stat.S_IMODE(seed_file.stat().st_mode) == 0o600
        assert f"export NATS_NKEY={seed_file}" in text
    assert "Listening for client connections on 127.0.0.1:" in room.server.log_path.read_text()
    assert room.env("p1") == {"NATS_URL": room.url, "NATS_NKEY": "~/.kvnb/p1.nk"}


async def test_a_kernel_logs_in_with_the_sheets_variables(room: Classroom, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    room.write_sheet(tmp_path / "sheet.txt")
    for key, value in room.env("p2", tmp_path / "sheet.txt.seeds" / "p2.nk").items():
        monkeypatch.setenv(key, value)
    nc = await kvnb.connect()
    try:
        kv = await kvnb.open_bucket("from_env", nc=nc)
        await kv.put("k", "v")
        assert (await (await kvnb.open_bucket("from_env", nc=nc)).get("k")).text == "v"
    finally:
        await nc.close()


async def test_no_login_no_entry(room: Classroom) -> None:
    with pytest.raises(kvnb.ConnectError):
        await kvnb.connect(room.server.url, timeout=2)
    with pytest.raises(kvnb.ConnectError):
        await kvnb.connect(room.server.url, user="p1", password="guess", timeout=2)
    stranger = _seats(1)[0][0]  # a well-formed seed the server does not know
    with pytest.raises(kvnb.ConnectError):
        await kvnb.connect(room.server.url, nkeys_seed_str=stranger.seed, timeout=2)


async def test_participant_owns_buckets_others_cannot_touch_them(logins: dict[str, kvnb.client.NATS]) -> None:
    p1, p2 = logins["p1"], logins["p2"]
    mine = await kvnb.open_bucket("notes", history=5, nc=p1, fresh=True)
    await mine.put("secret", "p1 only")

    # p2 has its own namespace: the same name is another, empty bucket.
    theirs = await kvnb.open_bucket("notes", history=5, nc=p2, fresh=True)
    assert await theirs.keys() == []
    await theirs.put("secret", "p2 wrote this")
    assert (await mine.get("secret")).text == "p1 only"

    # Reaching into p1's account through the instructor's prefix is not possible for p2.
    sneaky = p2.jetstream(prefix=participant_js_prefix("p1"), timeout=FAST)
    with pytest.raises(DENIED):
        await sneaky.stream_info("KV_notes")
    with pytest.raises(DENIED):
        await sneaky.get_msg("KV_notes", subject="$KV.notes.secret", direct=True)

    # Listening on p1's subjects from p2's account hears nothing of p1's writes (p1's own listener does).
    heard: dict[str, list[bytes]] = {"p1": [], "p2": []}
    subs = []
    for who, nc in (("p1", p1), ("p2", p2)):
        async def listen(msg: nats.aio.msg.Msg, who: str = who) -> None:
            heard[who].append(msg.data)

        subs.append(await nc.subscribe("$KV.notes.>", cb=listen))
        await nc.flush()
    await mine.put("secret", "still p1 only")
    deadline = asyncio.get_running_loop().time() + BOUND
    while not heard["p1"] and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
    await p2.flush()
    for s in subs:
        await s.unsubscribe()
    assert heard["p1"] == [b"still p1 only"] and b"still p1 only" not in heard["p2"]

    # A mirror of "KV_notes" made by p2 sources p2's own stream (or none): never p1's data.
    js2 = p2.jetstream(timeout=BOUND)  # these requests are allowed: give them time
    await js2.add_stream(api.StreamConfig(name="stolen", mirror=api.StreamSource(name="KV_notes",
                         external=api.ExternalStream(api=f"{participant_js_prefix('p1')}"))))
    await asyncio.sleep(0.5)  # a mirror that could reach p1's stream would have copied from it by now
    assert (await js2.stream_info("stolen")).state.messages == 0
    await js2.delete_stream("stolen")


async def test_shared_bucket_is_readable_not_writable(logins: dict[str, kvnb.client.NATS]) -> None:
    teacher = await open_shared_bucket(logins["instructor"], instructor=True)
    rev = await teacher.put("welcome", "hello class")
    shared = await open_shared_bucket(logins["p1"])
    await wait_copied(logins["p1"], rev)
    assert (await shared.get("welcome")).revision == rev
    assert "welcome" in await shared.keys()
    async with shared.watch(updates_only=True) as watch:
        news = await teacher.put("news", "quiz at 11")
        entry = await asyncio.wait_for(anext(aiter(watch)), BOUND)
        assert (entry.key, entry.revision) == ("news", news)

    with pytest.raises(kvnb.PermissionDenied, match=r"\$KV\.class\.welcome"):
        await shared.put("welcome", "hacked")
    with pytest.raises(kvnb.PermissionDenied):
        await shared.delete("welcome")
    for js in (logins["p1"].jetstream(prefix="$JS.class.API", timeout=FAST), logins["p1"].jetstream(timeout=FAST)):
        with pytest.raises(DENIED):
            await js.purge_stream("KV_class")
        with pytest.raises(DENIED):
            await js.delete_stream("KV_class")
    assert (await teacher.get("welcome")).text == "hello class"
    assert (await shared.get("welcome")).text == "hello class"


async def test_instructor_sees_every_participant(room: Classroom, logins: dict[str, kvnb.client.NATS]) -> None:
    p2 = await kvnb.open_bucket("lab2", history=3, nc=logins["p2"], fresh=True)
    rev = await p2.put("answer", "42")
    teacher = logins["instructor"]
    listed = await participant_buckets(teacher, "p2")
    lab2 = next(b for b in listed if b.bucket == "lab2")
    assert "class" not in [b.bucket for b in listed]  # every participant's copy of the shared bucket
    assert lab2.last_revision == rev and lab2.values == 1 and lab2.last_write is not None

    seen = await kvnb.open_bucket("lab2", nc=teacher, js_prefix=participant_js_prefix("p2"))
    assert (await seen.get("answer")).text == "42"
    # A live watch across accounts runs without flow control (its replies cannot cross twice).
    watch = Watch(teacher, bucket="lab2", js_prefix=participant_js_prefix("p2"), updates_only=True, flow_control=False)
    async with watch:
        new = await p2.put("answer", "43")
        entry = await asyncio.wait_for(anext(aiter(watch)), BOUND)
        assert (entry.key, entry.text, entry.revision) == ("answer", "43", new)

    board = ActivityBoard(teacher, [s.user for s in room.participants])
    rows = await board.refresh()
    assert any(a.bucket == "lab2" for a in rows["p2"]) and "lab2" in board.widget.value


async def wait_copied(nc: kvnb.client.NATS, revision: int) -> None:
    """Wait until ``nc``'s copy of the shared bucket holds ``revision`` (it arrives within milliseconds)."""
    js = nc.jetstream(timeout=BOUND)
    deadline = asyncio.get_running_loop().time() + BOUND
    while (await js.stream_info("KV_class")).state.last_seq < revision:
        assert asyncio.get_running_loop().time() < deadline, f"the copy did not reach revision {revision}"
        await asyncio.sleep(0.01)


def test_render_activity_shows_errors_inline() -> None:
    page = render_activity({"p1": [], "p2": "TimeoutError: no answer"})
    assert "no bucket yet" in page and "TimeoutError: no answer" in page
