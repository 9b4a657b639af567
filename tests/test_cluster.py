"""A real 3-node nats-server cluster on loopback: shape, failover, read-your-writes, ClusterView, no orphans.

One cluster serves the whole module (starting one costs 0.3-5 s: the meta leader election).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import nats.errors
import nats.js.errors
import pytest
from _helpers import alive as _alive

import kvnb
import kvnb.cluster
from kvnb.cluster import Cluster, Node, Writer, _http_json, _lock_base, current_cluster, start_cluster
from kvnb.widgets.cluster_view import BucketState, ClusterSnapshot, ClusterView, NodeState, ReplicaState, render

pytestmark = pytest.mark.timeout(90)
ELECTION = 10.0  # seconds: a leader election after a SIGKILL took 4-8 s here (randomized timeouts)
BOUND = 5 * ELECTION  # waits for something an election delays: generous, for a loaded CI machine
HTTP = 10.0  # seconds for a monitoring request (milliseconds when idle)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    started = start_cluster(3, name="kvnb-test", progress=False)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
async def cnc(cluster: Cluster) -> AsyncIterator[kvnb.client.NATS]:
    conn = await kvnb.connect(cluster.url, timeout=5)
    try:
        yield conn
    finally:
        await kvnb.client.close_connection(conn)


async def _until(condition: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    """Poll ``await condition()`` until true; an AssertionError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        await asyncio.sleep(0.05)


async def _leader(cluster: Cluster, bucket: str, nc: kvnb.client.NATS, timeout: float = BOUND) -> Node:
    """The bucket's stream leader, asked until one answers: right after a leader left, the request may
    find no leader yet (InvalidOption) or go unanswered while the client reconnects (a timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await cluster.leader_of(bucket, nc, timeout=HTTP)
        except (kvnb.KvnbError, nats.errors.Error):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


# --- no server needed ---------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [0, 1, 10, "3", True, 2.0])
def test_start_cluster_rejects_bad_node_counts(bad: object) -> None:
    with pytest.raises(kvnb.InvalidOption, match="from 2 to 9"):
        start_cluster(bad, progress=False)  # type: ignore[arg-type]


def test_render_marks_leader_lagging_offline_and_errors() -> None:
    snap = ClusterSnapshot(
        nodes=[NodeState("n1", up=True, meta_leader=True), NodeState("n2", up=True), NodeState("n3", up=False)],
        buckets=[
            BucketState("orders", "n1", (ReplicaState("n1", "leader"), ReplicaState("n2", "lagging", lag=7),
                                         ReplicaState("n3", "offline")), values=3, last_revision=9),
            BucketState("cfg", None, (), error="no answer within the poll timeout"),
        ],
        connected_to="n2",
    )
    page = render(snap)
    assert page.index(">leader</span>") < page.index("lagging (7 behind)") < page.index("offline")
    assert "no answer within the poll timeout" in page and "← you" in page and "down" in page
    assert "<script" not in render(ClusterSnapshot([NodeState("<script>")], []))


# --- the cluster --------------------------------------------------------------------------------

def test_three_nodes_with_routes_names_and_own_stores(cluster: Cluster) -> None:
    assert len(cluster) == 3 and all(n.is_running for n in cluster)
    assert cluster.url == ",".join(n.url for n in cluster) and len(cluster.url.split(",")) == 3
    assert len({n.port for n in cluster} | {n.cluster_port for n in cluster} | {n.http_port for n in cluster}) == 9
    assert len({n.store_dir for n in cluster}) == 3
    for node in cluster:
        status, varz = _http_json(node.monitor_url + "/varz", HTTP)
        assert status == 200 and varz["server_name"] == node.name and varz["cluster"]["name"] == "kvnb-test"
        assert varz["host"] == "127.0.0.1" and varz["http_host"] == "127.0.0.1"
        assert str(node.store_dir) in varz["jetstream"]["config"]["store_dir"]
        # A meta leader needs routes to it only; the route between the two others may still be connecting.
        others = {n.name for n in cluster} - {node.name}
        deadline = time.monotonic() + HTTP
        while {r["remote_name"] for r in _http_json(node.monitor_url + "/routez", HTTP)[1]["routes"]} != others:
            assert time.monotonic() < deadline, f"{node.name} has no routes to all of {others}"
            time.sleep(0.05)
    leader = cluster.wait_for_meta_leader(BOUND)
    assert leader in {n.name for n in cluster}
    assert {n.meta_leader(HTTP) for n in cluster} == {leader}
    assert current_cluster() is cluster
    assert start_cluster(3, progress=False) is cluster  # a second call returns the running cluster


async def test_r3_bucket_has_a_leader_and_two_current_replicas(cluster: Cluster, cnc: kvnb.client.NATS) -> None:
    kv = await kvnb.open_bucket("placement", replicas=3, history=5, nc=cnc, fresh=True)
    await kv.put("k", "v")
    info = await cnc.jetstream().stream_info("KV_placement")
    assert info.config.num_replicas == 3
    members = {info.cluster.leader, *(p.name for p in info.cluster.replicas)}
    assert members == {n.name for n in cluster}
    leader = await cluster.leader_of("placement", cnc, timeout=HTTP)
    assert leader.name == info.cluster.leader

    view = ClusterView(cnc, cluster=cluster, buckets=["placement", "no_such_bucket"], timeout=HTTP, interval=0.1,
                       autostart=False)
    snap = await view.poll()
    placement, missing = snap.buckets
    assert placement.leader == leader.name and placement.role_on(leader.name) == "leader"
    assert sorted(r.node for r in placement.replicas) == ["n1", "n2", "n3"]
    assert {r.role for r in placement.replicas} - {"leader"} <= {"current", "lagging"}
    assert missing.error is not None and missing.bucket == "no_such_bucket"
    assert [n.up for n in snap.nodes] == [True, True, True] and sum(n.meta_leader for n in snap.nodes) == 1
    assert snap.connected_to in {"n1", "n2", "n3"}
    assert ">leader</span>" in view.widget.value and "no_such_bucket" in view.widget.value
    view.start()  # live: it keeps polling on its own until stopped
    polls = view.polls

    async def polled_twice() -> bool:
        return view.polls >= polls + 2

    try:
        await _until(polled_twice, BOUND, "the live view polled twice more")
    finally:
        await view.stop()
    await kvnb.delete_bucket("placement", nc=cnc)


async def test_leader_get_reads_your_writes(cluster: Cluster, cnc: kvnb.client.NATS) -> None:
    await kvnb.open_bucket("ryw", replicas=3, history=1, nc=cnc, fresh=True)
    js = cnc.jetstream()
    stale_direct = 0
    for i in range(150):
        ack = await js.publish("$KV.ryw.x", str(i).encode())
        leader_read = await js.get_msg("KV_ryw", subject="$KV.ryw.x", direct=False)
        assert leader_read.seq == ack.seq, "a get answered by the stream leader must see the acknowledged write"
        direct_read = await js.get_msg("KV_ryw", subject="$KV.ryw.x", direct=True)
        assert direct_read.seq <= ack.seq
        stale_direct += direct_read.seq != ack.seq
    print(f"direct gets that missed the write just acknowledged: {stale_direct} of 150")
    await kvnb.delete_bucket("ryw", nc=cnc)


async def _writes_after(writer: Writer, moment: float, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while sum(a.at > moment for a in writer.acked) < count:
        assert time.monotonic() < deadline, f"writes did not resume within {timeout} s: {writer.last_error}"
        await asyncio.sleep(0.05)


async def _first_read(nc: kvnb.client.NATS, *, direct: bool, timeout: float = BOUND) -> float:
    """When a read of w.1 first succeeds again (monotonic), probing every 0.1 s with 0.3 s timeouts."""
    js = nc.jetstream(timeout=0.3)
    deadline = time.monotonic() + timeout
    while True:
        started = time.monotonic()
        try:
            msg = await js.get_msg("KV_failover", subject="$KV.failover.w.1", direct=direct)
        except Exception:
            assert time.monotonic() < deadline, f"{'direct' if direct else 'leader'} reads did not come back"
            await asyncio.sleep(0.1)
            continue
        assert msg.data == b"1"
        return started


async def _until_current(js: object, node: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        info = await js.stream_info("KV_failover")  # type: ignore[attr-defined]
        if node in {info.cluster.leader, *(p.name for p in info.cluster.replicas if p.current)}:
            return
        assert time.monotonic() < deadline, f"{node} did not catch up within {timeout} s: {info.cluster}"
        await asyncio.sleep(0.1)


@pytest.mark.timeout(120)
async def test_failover_kill_vs_graceful_no_acknowledged_write_lost(cluster: Cluster, cnc: kvnb.client.NATS) -> None:
    kv = await kvnb.open_bucket("failover", replicas=3, history=1, nc=cnc, fresh=True)
    js = cnc.jetstream()
    writer = Writer(kv, interval=0.005, attempt_timeout=0.25).start()
    try:
        await _writes_after(writer, 0, 20, BOUND)

        # SIGKILL of the stream leader: nobody leads until the others notice and elect one.
        killed = await _leader(cluster, "failover", cnc)
        t_kill = time.monotonic()
        await killed.kill_async()
        assert not killed.is_running
        direct_back, leader_back = await asyncio.gather(_first_read(cnc, direct=True), _first_read(cnc, direct=False))
        await _writes_after(writer, t_kill, 20, BOUND)
        kill_pause = writer.longest_pause(since=t_kill)
        # A direct get needs no leader (any current copy answers); a plain get waits for the election.
        # (Both are probed every 0.1 s with 0.3 s timeouts: allow a probe's worth of jitter and some load.)
        assert direct_back - t_kill <= leader_back - t_kill + 1.0
        successor = await _leader(cluster, "failover", cnc)
        assert successor is not killed

        view = ClusterView(cnc, cluster=cluster, buckets=["failover"], timeout=HTTP, autostart=False)
        snap = await view.poll()
        assert [n.up for n in snap.nodes].count(False) == 1 and snap.buckets[0].leader == successor.name

        t_restart = time.monotonic()
        await killed.restart_async()
        await asyncio.to_thread(killed.wait_healthy, BOUND)  # /healthz: its JetStream copies are current
        await _until_current(js, killed.name, BOUND)  # and the leader agrees
        catch_up = time.monotonic() - t_restart

        # Graceful stop (lame duck) of the leader: it hands leadership over before it goes.
        leaving = await _leader(cluster, "failover", cnc)
        t_stop = time.monotonic()
        await leaving.stop_async()
        assert not leaving.is_running
        assert (await _leader(cluster, "failover", cnc)) is not leaving  # leadership was handed over
        await _writes_after(writer, t_stop, 20, BOUND)
        graceful_pause = writer.longest_pause(since=t_stop)
        await leaving.restart_async()
        await asyncio.to_thread(leaving.wait_healthy, BOUND)
    finally:
        await writer.stop()
    missing = await writer.missing()
    print(f"write pause after SIGKILL of the leader: {kill_pause:.3f} s; after a graceful stop: "
          f"{graceful_pause:.3f} s; reads back after the kill: direct {direct_back - t_kill:.2f} s, "
          f"leader {leader_back - t_kill:.2f} s; restarted node current after {catch_up:.2f} s; "
          f"{len(writer.acked)} acknowledged writes, {writer.failures} failed attempts")
    assert missing == [], f"acknowledged writes lost: {missing[:5]}"
    assert len({a.n for a in writer.acked}) == len(writer.acked)  # Nats-Msg-Id: no write stored twice
    assert kill_pause > graceful_pause, "a crash must cost an election; a graceful stop hands leadership over"
    await kvnb.delete_bucket("failover", nc=cnc)


ANSWER = 2.0  # seconds for a JetStream request that must succeed at once (milliseconds when the cluster works)


def _running(cluster: Cluster) -> set[str]:
    return {n.name for n in cluster if n.is_running}


@pytest.mark.timeout(180)
@pytest.mark.parametrize("wait", ["wait_healthy", "wait_for_meta_leader"])
async def test_after_the_meta_leader_is_killed_waits_return_once_a_running_node_leads(
        cluster: Cluster, cnc: kvnb.client.NATS, wait: str) -> None:
    # For seconds after a SIGKILL the survivors still say they are healthy and name the dead node as
    # meta leader: a wait that believed them returned at once, and the next JetStream request timed out.
    await asyncio.to_thread(cluster.wait_healthy, BOUND)
    victim = cluster.node(await asyncio.to_thread(cluster.wait_for_meta_leader, BOUND))
    await victim.kill_async()
    try:
        result = await asyncio.to_thread(getattr(cluster, wait), BOUND)
        running = _running(cluster)
        reported = {n.meta_leader(HTTP) for n in cluster if n.is_running}  # the survivors' /jsz, asked directly
        assert len(reported) == 1 and reported <= running, f"survivors name {reported}; running: {running}"
        if wait == "wait_for_meta_leader":
            assert result in running and result != victim.name
        assert cluster.meta_leader(HTTP) in running
        info = await cnc.jetstream(timeout=ANSWER).account_info()  # answered at once, no retry needed
        assert info.limits is not None
    finally:
        await victim.restart_async()
        await asyncio.to_thread(cluster.wait_healthy, BOUND)
    assert _running(cluster) == {n.name for n in cluster}


@pytest.mark.timeout(180)
async def test_without_a_leader_errors_name_the_election_not_a_missing_jetstream(
        cluster: Cluster, cnc: kvnb.client.NATS) -> None:
    await asyncio.to_thread(cluster.wait_healthy, BOUND)
    kv = await kvnb.open_bucket("quorum", replicas=3, nc=cnc, fresh=True)
    here = cnc.connected_url.port if cnc.connected_url is not None else None
    others = [n for n in cluster if n.port != here]
    assert len(others) == 2
    for node in others:  # one node of three left: no majority, so no meta leader until they return
        await node.kill_async()
    try:
        # At first the survivor does not answer at all (a timeout); after ~10 s without a leader it answers
        # 503 "JetStream system temporarily unavailable" (10008). kvnb said "JetStream is not enabled" to both.
        with pytest.raises(kvnb.ServerError) as err:
            await kv.watch()
        text = str(err.value)
        assert re.match(r"cannot watch bucket 'quorum': .*?: (\(1\) )?the cluster's JetStream has no leader right now",
                        text), text
        assert "retry in a few seconds" in text and "JetStream is not enabled" not in text.split("(2)")[0]
        deadline = time.monotonic() + BOUND
        while True:
            try:
                await cnc.jetstream(timeout=1.0).account_info()
            except nats.js.errors.ServiceUnavailableError as unavailable:
                assert unavailable.err_code == 10008, unavailable
                break
            except nats.errors.TimeoutError:
                pass
            assert time.monotonic() < deadline, "the survivor never said JetStream is temporarily unavailable"
            await asyncio.sleep(0.2)
        for what, attempt in (("open_bucket('quorum2')", kvnb.open_bucket("quorum2", nc=cnc)),
                              ("cannot watch bucket 'quorum'", kv.watch().start())):
            with pytest.raises(kvnb.ServerError) as err:
                await attempt
            text = str(err.value)
            assert text.startswith(f"{what}: the server answered 'JetStream system temporarily unavailable' "
                                   "(JetStream error 10008): the cluster's JetStream has no leader right now"), text
            assert "not enabled" not in text and "start the stopped nodes" in text
    finally:
        for node in others:
            await node.restart_async()
        await asyncio.to_thread(cluster.wait_healthy, BOUND)
    await kvnb.delete_bucket("quorum", nc=cnc)


@pytest.mark.timeout(180)
async def test_delete_bucket_whose_answer_is_lost_to_a_frozen_leader_says_it_was_deleted(
        cluster: Cluster, cnc: kvnb.client.NATS) -> None:
    # Only a stream's leader answers a delete. With that leader frozen, the other nodes apply the
    # delete and stay silent (they still believe in the leader), so nats-py times out on a bucket that
    # is gone. This is what made a cleanup after a leader change fail once in CI.
    await asyncio.to_thread(cluster.wait_healthy, BOUND)
    await kvnb.open_bucket("silent", replicas=3, nc=cnc, fresh=True)
    meta = cluster.node(await asyncio.to_thread(cluster.wait_for_meta_leader, BOUND))
    leader = await _leader(cluster, "silent", cnc)
    for _ in range(10):  # freezing the meta leader too would stop the delete itself: move the stream's leader
        if leader is not meta:
            break
        await cnc.request("$JS.API.STREAM.LEADER.STEPDOWN.KV_silent", b"", timeout=HTTP)
        await asyncio.sleep(0.5)
        leader = await _leader(cluster, "silent", cnc)
    assert leader is not meta, "the stream's leader stayed on the meta leader through 10 step-downs"
    nc = await kvnb.connect(meta.url, timeout=5)  # a node that keeps running
    os.kill(leader.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        assert await kvnb.delete_bucket("silent", nc=nc) is True
        waited = time.monotonic() - started
        with pytest.raises(nats.js.errors.NotFoundError):
            await nc.jetstream(timeout=HTTP).stream_info("KV_silent")
    finally:
        os.kill(leader.pid, signal.SIGCONT)
        await kvnb.client.close_connection(nc)
    # The delete's own answer never came: kvnb waited out nats-py's request timeout (5 s), then looked.
    assert waited >= 4.5, f"the delete was answered after {waited:.2f} s: the frozen leader did not silence it"
    await asyncio.to_thread(cluster.wait_healthy, BOUND)
    assert await kvnb.delete_bucket("silent", nc=cnc) is False


async def test_cluster_view_polls_node_monitoring_with_its_own_timeout(
        cluster: Cluster, cnc: kvnb.client.NATS, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[str, float]] = []

    def recording(url: str, timeout: float = 1.0) -> tuple[int, object]:
        asked.append((url, timeout))
        return _http_json(url, timeout)

    monkeypatch.setattr(kvnb.cluster, "_http_json", recording)  # the real request, and what timeout it got
    view = ClusterView(cnc, cluster=cluster, buckets=[], timeout=HTTP + 0.5, autostart=False)
    snap = await view.poll()
    assert sum(n.meta_leader for n in snap.nodes) == 1
    jsz = [timeout for url, timeout in asked if url.endswith("/jsz")]
    assert jsz and set(jsz) == {HTTP + 0.5}, asked


def test_cluster_nodes_die_with_the_process_that_started_them(tmp_path: Path) -> None:
    store = tmp_path / "stores"
    code = (f"import kvnb.cluster as c, time; cl = c.start_cluster(2, store_dir={str(store)!r}, progress=False); "
            "print(' '.join(str(n.pid) for n in cl), flush=True); time.sleep(120)")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        line = child.stdout.readline() if child.stdout else ""
        pids = [int(p) for p in line.split()]
        assert len(pids) == 2 and all(_alive(p) for p in pids)
        with pytest.raises(kvnb.ServerStartError, match="in use by another kvnb cluster"):
            _lock_base(store)  # a second cluster on the same stores is refused
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(p) for p in pids), "cluster nodes outlived the kernel that started them"
    _lock_base(store).close()  # the lock died with its holder


def test_stop_ends_every_node_and_removes_the_temporary_store(cluster: Cluster) -> None:
    pids = [n.pid for n in cluster]
    assert all(pids)
    cluster.stop()
    assert not cluster.is_running and current_cluster() is None
    assert not any(_alive(p) for p in pids if p)
    assert not cluster.base_dir.exists()
    assert os.environ.get("NATS_URL") is None  # the cluster never touches the environment
