"""What one participant can do to the others in ``kvnb classroom``: each attack of the classroom audit,
tried for real against a classroom server on 127.0.0.1, and shown to fail.

One test per attack (1–7), then the most important of the attacks that were already blocked, so that
they stay blocked. Every test is bounded in count and time, and waits on conditions, not on sleeps.
Each has a positive control where one is possible (the same move against the attacker's own data
works, or the server really delivered what the instructor's watch then refused), so a test that
cannot fail would show.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import json
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import nats
import nats.errors
import nats.js.errors
import nkeys
import pytest
from nats.aio.msg import Msg
from nats.js import api

import kvnb
from kvnb import permissions
from kvnb.classroom import (
    GUARD_INTERVAL,
    LOG_FILES,
    MAX_CONTROL_LINE,
    MAX_SOURCES,
    ActivityBoard,
    Classroom,
    _new_seed,
    _private_file,
    _seats,
    classroom_config,
    open_shared_bucket,
    participant_js_prefix,
    start_classroom,
)
from kvnb.server import find_nats_server, launch
from kvnb.watch import Watch

pytestmark = pytest.mark.timeout(60)
FAST = 1.0  # seconds a denied request may wait: the server answers denials at once
BOUND = 10.0  # seconds for things that take milliseconds, on a loaded machine
DENIED = (nats.errors.NoRespondersError, nats.errors.TimeoutError, nats.js.errors.ServiceUnavailableError)


@pytest.fixture(scope="module")
def room() -> Iterator[Classroom]:
    started = start_classroom(3)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
async def logins(room: Classroom) -> AsyncIterator[dict[str, kvnb.client.NATS]]:
    conns = {user: await room.connect(user) for user in ("p1", "p2", "instructor")}
    try:
        yield conns
    finally:
        for nc in conns.values():
            await nc.close()


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = BOUND) -> None:
    """Wait until ``await check()`` is true (polled every 10 ms), or fail naming ``what``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def denied(nc: kvnb.client.NATS, action: str, subject: str) -> bool:
    """True once the server reported a permission violation for ``subject`` on ``nc``."""
    return any(d.action == action and d.subject == subject.lower() for d in permissions.guard(nc).denials)


def raw_login(port: int, fields: dict[str, object], *, sign_with: str | None = None) -> tuple[float, bytes]:
    """One login on a plain socket: (seconds from CONNECT to the server's answer, that answer's first line).

    ``sign_with``: a seed whose key signs the server's nonce (an nkey login).
    """
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s, s.makefile("rb") as f:
        info = json.loads(f.readline()[len(b"INFO "):])
        connect = {"verbose": False, "pedantic": False, "protocol": 1, **fields}
        if sign_with is not None:
            signature = nkeys.from_seed(sign_with.encode()).sign(info["nonce"].encode())
            connect["sig"] = base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
        started = time.perf_counter()
        s.sendall(b"CONNECT " + json.dumps(connect).encode() + b"\r\nPING\r\n")
        line = f.readline()
        return time.perf_counter() - started, line


def public_key(seed: str) -> str:
    return str(nkeys.from_seed(seed.encode()).public_key.decode())


# --- 1. forged values in the instructor's view of a participant ----------------------------------

async def test_1_forged_deliveries_never_reach_the_instructors_view(logins: dict[str, kvnb.client.NATS]) -> None:
    p1, p2, teacher = logins["p1"], logins["p2"], logins["instructor"]
    real2 = await kvnb.open_bucket("notes1", history=5, nc=p2, fresh=True)
    await real2.put("secret", "p2 real")
    own1 = await kvnb.open_bucket("notes1", history=5, nc=p1, fresh=True)
    await own1.put("secret", "p1 real")
    w1 = Watch(teacher, bucket="notes1", js_prefix=participant_js_prefix("p1"), flow_control=False)
    w2 = Watch(teacher, bucket="notes1", js_prefix=participant_js_prefix("p2"), flow_control=False)
    seen: dict[str, list[str]] = {"p1": [], "p2": []}

    async def collect(who: str, watch: Watch) -> None:
        async for entry in watch:
            seen[who].append(entry.text)

    async with w1, w2:
        tasks = [asyncio.create_task(collect("p1", w1)), asyncio.create_task(collect("p2", w2))]
        js1 = p1.jetstream(timeout=BOUND)
        # What p1 can learn: the instructor's consumer on p1's own stream, its name and deliver subject.
        theirs = [c for c in await js1.consumers_info("KV_notes1") if c.config.deliver_subject]
        assert [(c.name, c.config.deliver_subject) for c in theirs] == [(w1._consumer, w1._sub.subject)]
        assert w1._sub.subject.startswith("_DLV_p1.") and w2._sub.subject.startswith("_DLV_p2.")
        # p1's forgery: a stream of its own whose messages look like bucket notes1's ...
        await js1.add_stream(api.StreamConfig(
            name="FORGE", subjects=["forge.>"],
            subject_transform=api.SubjectTransform(src="forge.>", dest="$KV.notes1.>")))
        await js1.publish("forge.secret", b"FORGED BY P1")
        # ... pushed by consumers of p1's account to every subject that could reach the instructor; worst
        # case, p1 even knows the name and the deliver subject of the instructor's watch of p2.
        token2 = w2._sub.subject.split(".", 1)[1]
        targets = {"as_w1": (w1._consumer, w1._sub.subject), "as_w2": (w2._consumer, w2._sub.subject),
                   "w2_token": ("other", f"_DLV_p1.{token2}"), "inbox": ("inbox", f"_INBOX.{token2}")}
        for name, subject in targets.values():
            await js1.add_consumer("FORGE", api.ConsumerConfig(
                name=name, deliver_subject=subject, ack_policy=api.AckPolicy.NONE,
                deliver_policy=api.DeliverPolicy.ALL, mem_storage=True, inactive_threshold=30))

        async def delivered(name: str) -> bool:
            return (await js1.consumer_info("FORGE", name)).delivered.consumer_seq >= 1

        # Control: the server did push the forgery to the instructor's watch of p1 (same consumer name,
        # the stream differs) ...
        await until(lambda: delivered(w1._consumer), "the forged delivery into the instructor's watch of p1")
        await until(lambda: asyncio.sleep(0, w1.rejected >= 1), "the watch of p1 to refuse the forgery")
        # ... and real writes still arrive, after the forgery, on both watches.
        await own1.put("secret", "p1 again")
        await real2.put("secret", "p2 again")
        await until(lambda: asyncio.sleep(0, "p1 again" in seen["p1"] and "p2 again" in seen["p2"]),
                    "real writes to reach the instructor")
        # The watch of p2 never even saw a message from p1's account (a consumer in P1 cannot deliver there).
        assert w2.rejected == 0
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert seen == {"p1": ["p1 real", "p1 again"], "p2": ["p2 real", "p2 again"]}
    entries = await (await kvnb.open_bucket("notes1", nc=teacher, js_prefix=participant_js_prefix("p2"))).entries()
    assert [e.text for e in entries] == ["p2 again"]
    await js1.delete_stream("FORGE")


def test_1_deliver_subjects_and_consumer_names_are_unpredictable() -> None:
    from kvnb.watch import _deliver_subject, consumer_name

    class Conn:
        _inbox_prefix = bytearray(b"_INBOX")

    subjects = [_deliver_subject(Conn(), "$JS.API").split(".", 1)[1] for _ in range(3)]  # type: ignore[arg-type]
    names = [consumer_name()[5:] for _ in range(3)]
    # nats-py's inboxes share a 12-character prefix and count up; these share nothing.
    for found in (subjects, names):
        assert len(set(found)) == 3 and len({s[:4] for s in found}) == 3 and min(len(s) for s in found) >= 22


# --- 2. one participant stops everyone watching the shared bucket -------------------------------

async def test_2_no_participant_can_take_the_shared_bucket_from_the_others(
        room: Classroom, logins: dict[str, kvnb.client.NATS]) -> None:
    p1, p2, teacher = logins["p1"], logins["p2"], logins["instructor"]
    shared = await open_shared_bucket(teacher, instructor=True)
    rev = await shared.put("rule", "be kind")
    js_class = teacher.jetstream(timeout=BOUND)
    public_before = len(await js_class.consumers_info("KV_class"))
    # CLASS's JetStream API does not reach p1's account at all: creating, deleting, listing consumers on
    # KV_class, under the prefix participants once had or any other, finds nobody to answer.
    body = json.dumps({"stream_name": "KV_class", "config": {"durable_name": "hog", "ack_policy": "none"}}).encode()
    for request in ("CONSUMER.CREATE.KV_class", "CONSUMER.DURABLE.CREATE.KV_class.hog",
                    "CONSUMER.DELETE.KV_class.hog", "CONSUMER.LIST.KV_class", "STREAM.INFO.KV_class"):
        with pytest.raises(nats.errors.NoRespondersError):
            await p1.request(f"$JS.class.API.{request}", body, timeout=FAST)
    # p1 may exhaust consumers on its own copy of the shared bucket: the cap stops it there ...
    js1 = p1.jetstream(timeout=BOUND)
    made = 0
    with pytest.raises(nats.js.errors.APIError) as full:
        for i in range(room.limits.max_consumers + 1):
            await js1.add_consumer("KV_class", api.ConsumerConfig(durable_name=f"hog{i}",
                                                                  ack_policy=api.AckPolicy.NONE))
            made += 1
    assert full.value.err_code == 10026 and made <= room.limits.max_consumers
    # ... and a mirror or source of CLASS's stream (which would make the server create a consumer there
    # for p1, uncounted) has no way in: p1's account imports none of CLASS's JetStream API.
    source = api.StreamSource(name="KV_class", external=api.ExternalStream(api="$JS.class.API", deliver="_MIR_p1"))
    await js1.add_stream(api.StreamConfig(name="copy0", mirror=source))
    await js1.add_stream(api.StreamConfig(name="copy1", sources=[source]))
    later = await shared.put("rule2", "share")

    async def copied() -> bool:
        return (await js1.stream_info("KV_class")).state.last_seq >= later

    await until(copied, "p1's own copy of the shared bucket to receive the write")  # the control
    for i in range(2):
        assert (await js1.stream_info(f"copy{i}")).state.messages == 0
    assert len(await js_class.consumers_info("KV_class")) == public_before
    # Everyone else still reads and watches the shared bucket.
    for nc in (p2, teacher):
        kv = await open_shared_bucket(nc, instructor=nc is teacher)
        await until(lambda kv=kv: _has(kv, "rule"), "the shared bucket to show 'rule'")
        assert "rule" in await kv.keys()
        async with kv.watch("rule") as watch:
            entry = await asyncio.wait_for(anext(aiter(watch)), BOUND)
            assert (entry.text, entry.revision) == ("be kind", rev)
    for i in range(made):
        await js1.delete_consumer("KV_class", f"hog{i}")
    for i in range(2):
        await js1.delete_stream(f"copy{i}")


async def _has(kv: kvnb.KV, key: str) -> bool:
    try:
        await kv.get(key)
    except kvnb.KeyNotFound:
        return False
    return True


# --- 3. logins that block others, user names that leak by timing ---------------------------------

def test_3_a_wrong_login_costs_microseconds_and_blocks_nobody(room: Classroom) -> None:
    port = room.server.port
    assert port is not None
    p1, stranger = room.seat("p1"), _new_seed()
    cases = {
        "real user, wrong key": ({"nkey": p1.public_key}, stranger),
        "unknown user": ({"nkey": public_key(stranger)}, stranger),
        "user and password": ({"user": "instructor", "pass": "guess"}, None),
        "right key": ({"nkey": p1.public_key}, p1.seed),
    }
    medians = {}
    for name, (fields, seed) in cases.items():
        times = []
        for _ in range(40):
            took, answer = raw_login(port, fields, sign_with=seed)
            assert answer == (b"PONG\r\n" if name == "right key" else b"-ERR 'Authorization Violation'\r\n"), answer
            times.append(took)
        medians[name] = statistics.median(times)
    print("login medians (µs):", {k: round(v * 1e6) for k, v in medians.items()})
    # bcrypt made each wrong password for a real user cost ~130 ms; a signature check is ~0.1 ms.
    assert max(medians.values()) < 0.02, medians
    # 64 clients hammering wrong logins as fast as they can do not keep p2 out.
    stop = threading.Event()

    def hammer() -> int:
        n = 0
        while not stop.is_set() and n < 2000:
            raw_login(port, {"nkey": p1.public_key}, sign_with=stranger)
            n += 1
        return n

    async def p2_logs_in() -> list[float]:
        took = []
        for _ in range(5):
            started = time.perf_counter()
            nc = await room.connect("p2", timeout=5)
            took.append(time.perf_counter() - started)
            await nc.close()
        return took

    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        hammers = [pool.submit(hammer) for _ in range(64)]
        try:
            took = asyncio.run(p2_logs_in())
        finally:
            stop.set()
        attempts = sum(h.result() for h in hammers)
    print(f"p2 logins during {attempts} wrong ones: {[round(t * 1000) for t in took]} ms")
    assert attempts >= 64 and max(took) < 2.0, took


# --- 4. a disk filled through the log, without a login ------------------------------------------

def test_4_failed_logins_cannot_fill_the_disk(tmp_path: Path) -> None:
    seats, instructor = _seats(1)
    log = tmp_path / "store" / "nats-server.log"
    config = tmp_path / "classroom.conf"
    limit = 64 * 1024
    _private_file(config, classroom_config(seats, instructor, log_file=log, log_limit=limit))
    check = subprocess.run([str(find_nats_server()), "-t", "-c", str(config)], capture_output=True, text=True,
                           timeout=30)
    assert check.returncode == 0, check.stderr
    with launch(config_file=config, store_dir=tmp_path / "store", name="kvnb-logcap") as server:
        assert server.port is not None
        before = log.stat().st_size
        _, answer = raw_login(server.port, {"user": "x" * 3900, "pass": "y"})
        assert answer.startswith(b"-ERR")
        # A 3,900-character name never reaches the log: the line is cut by max_control_line first.
        assert log.stat().st_size - before < 300 and "x" * 100 not in log.read_text()
        # 1,900-character names (just under the cap) from 16 clients: the log rotates and old files go.
        name = "n" * (MAX_CONTROL_LINE - 150)

        def spam() -> None:
            for _ in range(40):
                raw_login(server.port, {"user": name, "pass": "y"})  # type: ignore[arg-type]

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda _: spam(), range(16)))
        logs = list(log.parent.glob("nats-server.log*"))
        written = 16 * 40 * len(name)
        total = sum(p.stat().st_size for p in logs)
        assert written > (LOG_FILES + 1) * limit * 2  # enough was sent to overflow an uncapped log twice
        assert len(logs) <= LOG_FILES + 1 and total <= (LOG_FILES + 1) * (limit + 4096), (len(logs), total)


# --- 5. one participant exhausting the server's memory -------------------------------------------

async def test_5_a_participants_connections_subscriptions_and_storage_are_capped(
        room: Classroom, logins: dict[str, kvnb.client.NATS]) -> None:
    limits = room.limits
    extra = []
    try:
        # The fixture holds one of p1's connections (and the server may still count one just closed).
        log = room.server.log_path
        start = log.stat().st_size
        with pytest.raises(kvnb.ConnectError):  # the server's -ERR, or the reset that follows it
            for _ in range(limits.max_connections + 1):
                extra.append(await room.connect("p1", timeout=3))
        assert len(extra) <= limits.max_connections - 1

        async def refused() -> bool:
            with open(log, "rb") as f:
                f.seek(start)
                return b"maximum account active connections" in f.read().lower()

        await until(refused, "the server to log the refused connection")
        other = await asyncio.wait_for(room.connect("p2"), BOUND)  # the others still get in
        await other.close()
    finally:
        for nc in extra:
            await nc.close()

    nc = await room.connect("p1")
    try:
        for i in range(limits.max_subscriptions + 1):
            await nc.subscribe(f"sub.{i}")
        await until(lambda: asyncio.sleep(0, "maximum subscriptions exceeded" in log.read_text(errors="replace")),
                    "the server to refuse the subscription beyond the cap")
    finally:
        await nc.close()

    js1 = logins["p1"].jetstream(timeout=BOUND)
    with pytest.raises(nats.js.errors.APIError, match=r"(?i)insufficient|resources|limit"):
        await js1.add_stream(api.StreamConfig(name="huge_mem", subjects=["huge.mem"], storage=api.StorageType.MEMORY,
                                              max_bytes=limits.max_memory + 1))
    with pytest.raises(nats.js.errors.APIError, match=r"(?i)insufficient|resources|limit"):
        await js1.add_stream(api.StreamConfig(name="huge_file", subjects=["huge.file"], max_bytes=limits.max_file + 1))
    streams = await js1.streams_info()
    made = []
    with pytest.raises(nats.js.errors.APIError, match=r"(?i)maximum number of streams"):
        for i in range(limits.max_streams - len(streams) + 1):
            await js1.add_stream(api.StreamConfig(name=f"many{i}", subjects=[f"many.{i}"], max_bytes=1024))
            made.append(f"many{i}")
    assert len(made) == limits.max_streams - len(streams)
    for name in made:
        await js1.delete_stream(name)


async def test_5_a_connection_that_never_reads_is_cut_at_the_pending_cap(room: Classroom) -> None:
    port = room.server.port
    assert port is not None
    seat = room.seat("p1")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)  # the kernel must not absorb it all
        f = s.makefile("rb")
        info = json.loads(f.readline()[len(b"INFO "):])
        signature = nkeys.from_seed(seat.seed.encode()).sign(info["nonce"].encode())
        connect = {"verbose": False, "pedantic": False, "protocol": 1, "nkey": seat.public_key,
                   "sig": base64.urlsafe_b64encode(signature).rstrip(b"=").decode()}
        s.sendall(b"CONNECT " + json.dumps(connect).encode() + b"\r\nSUB flood 1\r\nPING\r\n")
        assert f.readline() == b"PONG\r\n"
        publisher = await room.connect("p1")
        try:
            chunk = b"x" * (512 * 1024)
            sent = 0
            log = room.server.log_path
            start = log.stat().st_size

            async def cut() -> bool:
                with open(log, "rb") as f:
                    f.seek(start)
                    return b"Slow Consumer" in f.read()

            while not await cut() and sent < 64 * 1024 * 1024:  # at most 64 MB of loopback traffic
                await publisher.publish("flood", chunk)
                await publisher.flush()
                sent += len(chunk)
            await until(cut, "the server to cut the connection that never reads")
            assert sent <= 48 * 1024 * 1024, sent  # cut after its 4 MB cap plus socket buffers, not 64 MB
            s.settimeout(BOUND)
            while f.read(1 << 20):  # what was buffered, then the end: the server closed it
                pass
        finally:
            await publisher.close()


async def test_5_streams_with_many_sources_are_removed_by_the_guard(
        room: Classroom, logins: dict[str, kvnb.client.NATS]) -> None:
    """Sources are the one consumer count JetStream does not cap: the classroom's guard removes floods."""
    js1 = logins["p1"].jetstream(timeout=BOUND)
    await js1.add_stream(api.StreamConfig(name="origin5", subjects=["origin5.>"]))
    await js1.add_stream(api.StreamConfig(name="fair5", sources=[api.StreamSource(name="origin5")]))
    flood = [api.StreamSource(name="origin5", filter_subject=f"origin5.{i}") for i in range(MAX_SOURCES * 10)]
    await js1.add_stream(api.StreamConfig(name="flood5", sources=flood))  # the server takes it

    async def removed() -> bool:  # deleted, and said so
        return any("p1's stream 'flood5': 40 sources" in line for line in room.guard_log)

    await until(removed, "the guard to remove the stream with 40 sources", timeout=4 * GUARD_INTERVAL + BOUND)
    assert "flood5" not in [i.config.name for i in await js1.streams_info()]
    names = [i.config.name for i in await js1.streams_info()]
    assert "fair5" in names and "origin5" in names  # a stream with a few sources is left alone
    for name in ("fair5", "origin5"):
        await js1.delete_stream(name)


# --- 6. a participant answering the instructor's requests about its account ----------------------

async def test_6_participants_cannot_see_or_answer_requests_to_their_account(
        logins: dict[str, kvnb.client.NATS]) -> None:
    p1, teacher = logins["p1"], logins["instructor"]
    await (await kvnb.open_bucket("board6", nc=p1)).put("k", "v")
    async def ignore(msg: Msg) -> None:
        pass

    for subject in ("$JS.API.>", "$JS.API.STREAM.LIST", "_R_.>"):
        await p1.subscribe(subject, cb=ignore)
    await p1.flush()
    await until(lambda: asyncio.sleep(0, all(denied(p1, "subscription", s)
                                             for s in ("$JS.API.>", "$JS.API.STREAM.LIST", "_R_.>"))),
                "the server to refuse p1's subscriptions to the JetStream API")
    heard: list[str] = []

    async def answer(msg: Msg) -> None:  # the forger: answers any request it can hear
        heard.append(msg.subject)
        if msg.reply:
            await p1.publish(msg.reply, json.dumps({"type": "io.nats.jetstream.api.v1.stream_list_response",
                                                    "total": 1, "offset": 0, "limit": 256, "streams": [
                                                        {"config": {"name": "KV_fake"}, "state": {}}]}).encode())

    await p1.subscribe(">", cb=answer)
    await p1.flush()
    board = ActivityBoard(teacher, ["p1"])
    for _ in range(20):
        rows = await board.refresh()
        assert isinstance(rows["p1"], list) and "fake" not in [a.bucket for a in rows["p1"]]
    # Control: p1's catch-all subscription works, it just never sees the instructor's requests.
    await p1.publish("probe", b"")
    await until(lambda: asyncio.sleep(0, "probe" in heard), "p1 to hear its own publish")
    assert not [s for s in heard if s.startswith(("$JS.API", "_R_", "_INBOX"))], heard
    assert "board6" in [a.bucket for a in rows["p1"]]


# --- 7. answers that stay readable, secrets on stdout, files left behind, quotas not reserved ---

async def test_7_a_purged_answer_vanishes_from_every_participants_copy(logins: dict[str, kvnb.client.NATS]) -> None:
    teacher, p2 = logins["instructor"], logins["p2"]
    shared = await open_shared_bucket(teacher, instructor=True)
    theirs = await open_shared_bucket(p2)
    deleted_rev = await shared.put("answer.deleted", "41")
    await shared.delete("answer.deleted")
    purged_rev = await shared.put("answer.purged", "42")
    last = await shared.purge("answer.purged")

    async def copied() -> bool:
        return (await p2.jetstream().stream_info("KV_class")).state.last_seq >= last

    await until(copied, "p2's copy of the shared bucket to catch up")
    # A delete leaves the answer in history (the reason to purge) ...
    assert (await theirs.get("answer.deleted", revision=deleted_rev)).text == "41"
    # ... a purge takes it away from the bucket and from every copy.
    with pytest.raises(kvnb.KeyNotFound):
        await theirs.get("answer.purged", revision=purged_rev)
    assert [e.operation for e in await theirs.history("answer.purged")] == ["PURGE"]
    with pytest.raises(DENIED):
        await p2.request("$JS.class.API.STREAM.MSG.GET.KV_class", json.dumps({"seq": purged_rev}).encode(),
                         timeout=FAST)


def test_7_stop_removes_every_file_the_classroom_wrote(tmp_path: Path) -> None:
    room = start_classroom(1)
    sheet = room.write_sheet(tmp_path / "sheet.txt")
    work, store = room.work_dir, room.server.store_dir
    assert (work / "classroom.conf").is_file() and store.is_relative_to(work) and sheet.is_file()
    room.stop()
    assert not work.exists() and not sheet.exists() and not (tmp_path / "sheet.txt.seeds").exists()


def test_7_quotas_are_reservations(monkeypatch: pytest.MonkeyPatch) -> None:
    import kvnb.classroom as classroom

    class Small:
        free = 5 << 30  # 5 GiB: enough for 12 participants' 256 MiB, not for 50

    monkeypatch.setattr(classroom.shutil, "disk_usage", lambda path: Small())
    with pytest.raises(kvnb.InvalidOption, match=r"reserves 12\.8 GiB .* only 5\.0 GiB free"):
        start_classroom(50)


# --- what was blocked already, and must stay blocked --------------------------------------------

async def test_blocked_before_stays_blocked(room: Classroom, logins: dict[str, kvnb.client.NATS]) -> None:
    p1, p2, teacher = logins["p1"], logins["p2"], logins["instructor"]
    mine = await kvnb.open_bucket("private", history=3, nc=p1, fresh=True)
    heard: list[str] = []

    async def listen(msg: Msg) -> None:
        heard.append(msg.subject)

    for subject in (">", "$KV.>", "_INBOX.>", "_DLV_p1.>", "$SYS.>"):
        await p2.subscribe(subject, cb=listen)
    await p2.flush()
    await mine.put("secret", "p1 only")
    watch = Watch(teacher, bucket="private", js_prefix=participant_js_prefix("p1"), flow_control=False)
    async with watch:
        entry = await asyncio.wait_for(anext(aiter(watch)), BOUND)
        assert entry.text == "p1 only"
    await p2.publish("probe", b"")
    await until(lambda: asyncio.sleep(0, "probe" in heard), "p2 to hear its own publish")
    assert heard == ["probe"] * heard.count("probe"), heard  # nothing of p1's or the instructor's traffic
    # Another participant's API, buckets and mirrors, the instructor's prefix, the system account.
    sneaky = p2.jetstream(prefix=participant_js_prefix("p1"), timeout=FAST)
    with pytest.raises(DENIED):
        await sneaky.stream_info("KV_private")
    with pytest.raises(DENIED):
        await p2.request("$SYS.REQ.SERVER.PING", b"", timeout=FAST)
    js2 = p2.jetstream(timeout=BOUND)
    own = await kvnb.open_bucket("private", history=3, nc=p2, fresh=True)
    await own.put("mine", "p2's")
    for name, api_prefix in (("stolen", participant_js_prefix("p1")), ("copy", None)):
        external = api.ExternalStream(api=api_prefix) if api_prefix else None
        await js2.add_stream(api.StreamConfig(name=name, mirror=api.StreamSource(name="KV_private", external=external)))

    async def copied() -> bool:
        return (await js2.stream_info("copy")).state.messages == 1

    await until(copied, "the control mirror of p2's own bucket to copy it")  # mirrors work, and fast
    assert (await js2.stream_info("stolen")).state.messages == 0  # but never from p1's account
    for name in ("stolen", "copy"):
        await js2.delete_stream(name)
    # The shared bucket stays read-only.
    with pytest.raises(kvnb.PermissionDenied):
        await (await open_shared_bucket(p2)).put("rule", "p2 rules")
