"""A real nats-server cluster on loopback: routes, JetStream on every node, each with its own store.

Example (top-level ``await`` in a notebook)::

    import kvnb
    cluster = kvnb.start_cluster(3)              # n1, n2, n3 on 127.0.0.1; returns once a meta leader exists
    nc = await kvnb.connect(cluster.url)          # every node's client URL, comma separated
    kv = await kvnb.open_bucket("orders", replicas=3, history=5, nc=nc, fresh=True)
    leader = await cluster.leader_of("orders")   # the Node that leads the bucket's stream
    leader.kill()                                 # SIGKILL: a new leader is elected (seconds)
    leader.restart()                              # same ports, same store: it catches up
    cluster.stop()

Nodes are started like the bundled server (:mod:`kvnb._process`): in their own session, killed
with the kernel even when the kernel is SIGKILLed, stopped at exit. ``start_cluster`` ignores
``NATS_URL``: a cluster you can kill nodes of must be one kvnb started.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from . import _process
from .errors import InvalidOption, ServerStartError
from .server import HOST, find_nats_server

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS

__all__ = ["Cluster", "Node", "current_cluster", "start_cluster", "stop_cluster"]

READY_TIMEOUT = 20.0
LAME_DUCK_DURATION = 30.0  # the minimum nats-server accepts; stop() ends the node sooner (see Node.stop)
LAME_DUCK_GRACE = 2.0  # seconds before a lame duck starts closing client connections
MAX_NODES = 9
Progress = Callable[[str], None]

_shared: _process.Shared[Cluster] = _process.Shared()  # what start_cluster() hands out


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (held together while chosen, so no duplicates)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _http_json(url: str, timeout: float = 1.0) -> tuple[int, Any]:
    """GET a monitoring endpoint: (status, parsed JSON); (0, None) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        try:
            return err.code, json.loads(err.read() or b"null")
        except ValueError:
            return err.code, None
    except (OSError, ValueError):
        return 0, None


@dataclass
class Node(_process.ManagedProcess):
    """One nats-server of a :class:`Cluster`. Made by :func:`start_cluster`."""

    name: str
    port: int
    cluster_port: int
    http_port: int
    dir: Path
    routes: list[int]
    cluster_name: str
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    starts: int = 0
    """How many times this node was started (1 after the cluster started, +1 per restart)."""
    _log_offset: int = field(default=0, repr=False)  # where the log of the current start begins

    # --- paths and addresses -----------------------------------------------------------------
    @property
    def url(self) -> str:
        """This node's client URL, ``nats://127.0.0.1:PORT``."""
        return f"nats://{HOST}:{self.port}"

    @property
    def monitor_url(self) -> str:
        """This node's monitoring endpoint (loopback only), e.g. ``/jsz`` and ``/healthz`` below it."""
        return f"http://{HOST}:{self.http_port}"

    @property
    def store_dir(self) -> Path:
        """Where this node keeps its JetStream data (never shared with another node)."""
        return self.dir / "store"

    @property
    def config_path(self) -> Path:
        return self.dir / "nats-server.conf"

    @property
    def log_path(self) -> Path:
        """The node's log (appended across restarts)."""
        return self.dir / "nats-server.log"

    # --- lifecycle ---------------------------------------------------------------------------
    def _write_config(self) -> None:
        routes = ", ".join(f'"nats://{HOST}:{p}"' for p in self.routes)
        # JSON strings are valid nats-server config strings (paths with spaces or backslashes too).
        self.config_path.write_text(
            f"server_name: {json.dumps(self.name)}\n"
            f"listen: {json.dumps(f'{HOST}:{self.port}')}\n"
            f"http: {json.dumps(f'{HOST}:{self.http_port}')}\n"
            f"jetstream {{ store_dir: {json.dumps(str(self.store_dir))} }}\n"
            f"lame_duck_duration: \"{LAME_DUCK_DURATION:.0f}s\"\n"
            f"lame_duck_grace_period: \"{LAME_DUCK_GRACE}s\"\n"
            f"cluster {{\n  name: {json.dumps(self.cluster_name)}\n"
            f"  listen: {json.dumps(f'{HOST}:{self.cluster_port}')}\n  routes: [{routes}]\n}}\n"
        )

    def _spawn(self) -> None:
        """Start the process; :meth:`_wait_ready` waits for it (nodes of a cluster start together)."""
        if self.is_running:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        self._log_offset = self._log_size()
        self._proc = _process.spawn([str(find_nats_server()), "-c", str(self.config_path)], log_path=self.log_path)

    def _wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        if self._proc is None:
            raise ServerStartError(f"node {self.name} is not running. Fix: node.restart().")
        why = self._wait_started(lambda: "Server is ready" in self._log_text(self._log_offset), timeout=timeout,
                                 interval=0.01)
        if why is not None:
            raise ServerStartError(
                f"cluster node {self.name} {why} within {timeout:.0f} s. Last lines of its log ({self.log_path}):\n"
                f"{_process.tail(self.log_path)}\n"
                "Fix: read the log above; a port taken by another program is the usual cause (start the cluster again)."
            )
        self.starts += 1

    def start(self) -> Node:
        """Start a stopped or killed node again (same ports, same store); returns once it accepts clients."""
        self._spawn()
        self._wait_ready()
        return self

    def kill(self) -> None:
        """SIGKILL the node (a crash: no goodbye to the cluster). Its store stays, for :meth:`restart`."""
        self._halt(signal.SIGKILL)

    def stop(self, *, lame_duck: bool = True) -> None:
        """Stop the node gracefully and wait until it exited.

        ``lame_duck=True`` (default) sends SIGUSR2, the same as ``nats-server --signal ldm``: the
        node hands its stream and meta leaderships to other nodes at once and shuts its JetStream
        down (~1 s); then, instead of letting it move its clients away over 30 s (the shortest lame
        duck nats-server allows), kvnb ends it with SIGTERM and the clients reconnect elsewhere.
        ``lame_duck=False`` sends SIGTERM at once (leaderships are handed over too).
        """
        proc = self._proc
        if proc is None:
            return
        if lame_duck and proc.poll() is None:
            offset = self._log_size()
            proc.send_signal(signal.SIGUSR2)
            _process.wait_until(lambda: "JetStream Shutdown\n" in self._log_text(offset),
                                timeout=LAME_DUCK_GRACE + 10.0, interval=0.01, alive=lambda: proc.poll() is None)
        self._halt(signal.SIGTERM, grace=10.0)

    def restart(self) -> Node:
        """Stop the node if it runs (SIGTERM) and start it again with the same ports and store."""
        self.stop(lame_duck=False)
        return self.start()

    # The blocking calls above would freeze a notebook's event loop (and a writer task on it):
    # these run them in a thread so background tasks keep going.
    async def kill_async(self) -> None:
        """:meth:`kill` without blocking the event loop."""
        await asyncio.to_thread(self.kill)

    async def stop_async(self, *, lame_duck: bool = True) -> None:
        """:meth:`stop` without blocking the event loop."""
        await asyncio.to_thread(self.stop, lame_duck=lame_duck)

    async def restart_async(self) -> Node:
        """:meth:`restart` without blocking the event loop."""
        return await asyncio.to_thread(self.restart)

    # --- monitoring --------------------------------------------------------------------------
    def healthy(self, timeout: float = 1.0) -> bool:
        """True when the node's ``/healthz`` says ok: JetStream is up and every stream it holds is current."""
        status, body = _http_json(self.monitor_url + "/healthz", timeout)
        return status == 200 and isinstance(body, dict) and body.get("status") == "ok"

    def meta_leader(self, timeout: float = 1.0) -> str | None:
        """The JetStream meta leader this node knows of (from ``/jsz``), or None."""
        status, body = _http_json(self.monitor_url + "/jsz", timeout)
        if status != 200 or not isinstance(body, dict):
            return None
        return (body.get("meta_cluster") or {}).get("leader") or None

    def wait_healthy(self, timeout: float = 30.0) -> float:
        """Wait until :meth:`healthy` (a restarted node has caught up); returns the seconds waited."""
        started = time.monotonic()
        if not _process.wait_until(self.healthy, timeout=timeout, interval=0.05, alive=lambda: self.is_running):
            raise ServerStartError(
                f"node {self.name} did not report healthy (JetStream current) within {timeout:.0f} s. "
                f"Its log: {self.log_path}. Fix: check that a majority of the cluster's nodes run."
            )
        return time.monotonic() - started

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.is_running else "down"
        return f"<kvnb.cluster.Node {self.name} {self.url} {state}>"


class Cluster:
    """A local nats-server cluster started by :func:`start_cluster`; ``with`` stops it at the end."""

    external = False
    memory = False

    def __init__(self, nodes: list[Node], *, name: str, base_dir: Path, temp: bool,
                 lock: IO[bytes] | None = None) -> None:
        self.nodes = nodes
        self.name = name
        self.base_dir = base_dir
        self._temp = temp
        self._lock = lock

    @property
    def url(self) -> str:
        """Every node's client URL, comma separated: ``kvnb.connect(cluster.url)`` fails over between them."""
        return ",".join(node.url for node in self.nodes)

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def is_running(self) -> bool:
        """True while at least one node runs."""
        return any(node.is_running for node in self.nodes)

    def node(self, name: str) -> Node:
        """The node called ``name`` (``"n1"``...)."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise InvalidOption(f"no node named {name!r} in this cluster; its nodes are {[n.name for n in self.nodes]}.")

    def __getitem__(self, index: int) -> Node:
        return self.nodes[index]

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def _live(self) -> set[str]:
        return {node.name for node in self.nodes if node.is_running}

    def meta_leader(self, timeout: float = 1.0) -> str | None:
        """The name of the JetStream meta leader, as the running nodes report it (None during an election).

        A node's name counts only while its process runs: after a leader is SIGKILLed, the
        others keep naming it for seconds (until they miss its heartbeats and elect another).
        ``timeout``: seconds each node's monitoring endpoint may take to answer.
        """
        for node in self.nodes:
            if node.is_running:
                leader = node.meta_leader(timeout)
                if leader and leader in self._live():
                    return leader
        return None

    def agreed_meta_leader(self, timeout: float = 1.0) -> str | None:
        """The meta leader if every running node names the same one and it runs itself; else None (an election)."""
        seen = {node.meta_leader(timeout) for node in self.nodes if node.is_running}
        if len(seen) != 1:
            return None
        (leader,) = seen
        return leader if leader is not None and leader in self._live() else None

    def wait_for_meta_leader(self, timeout: float = READY_TIMEOUT) -> str:
        """Wait until every running node names the same meta leader, itself a running node; returns its name.

        Right after the leader was killed the survivors still name it; this waits for the new one.
        """
        found: list[str] = []

        def agreed() -> bool:
            leader = self.agreed_meta_leader()
            if leader is not None:
                found[:] = [leader]
            return leader is not None

        if not _process.wait_until(agreed, timeout=timeout, interval=0.05):
            raise ServerStartError(
                f"the cluster elected no JetStream meta leader on a running node within {timeout:.0f} s "
                f"({self._leader_report()}). Logs: {', '.join(str(n.log_path) for n in self.nodes)}. "
                "Fix: a majority of the nodes must run and reach each other (node.restart() the stopped ones); "
                "or start the cluster again."
            )
        return found[0]

    def _leader_report(self) -> str:
        """What each node says about the meta leader now, for error messages."""
        parts = []
        for node in self.nodes:
            if not node.is_running:
                parts.append(f"{node.name}: down")
                continue
            leader = node.meta_leader()
            dead = leader is not None and leader not in self._live()
            parts.append(f"{node.name} names {leader or 'no leader'}{' (down)' if dead else ''}")
        return "; ".join(parts)

    def wait_healthy(self, timeout: float = 30.0) -> float:
        """Wait until the cluster works again; returns the seconds waited.

        That is: every running node names the same meta leader, a running node (so JetStream API
        requests get answers), and every running node's ``/healthz`` is ok (its streams are current).
        Right after a SIGKILL the survivors still report healthy for seconds and name the dead
        node: this does not return during that time.
        """
        started = time.monotonic()
        missing: list[str] = []

        def healthy() -> bool:
            if self.agreed_meta_leader() is None:
                missing[:] = [f"no agreed meta leader on a running node ({self._leader_report()})"]
                return False
            sick = [node.name for node in self.nodes if node.is_running and not node.healthy()]
            missing[:] = [f"not healthy (JetStream not current): {', '.join(sick)}"] if sick else []
            return not sick

        if not _process.wait_until(healthy, timeout=timeout, interval=0.05, alive=lambda: self.is_running):
            state = missing[0] if missing else "no node runs"
            raise ServerStartError(
                f"the cluster did not become healthy within {timeout:.0f} s: {state}. "
                f"Logs: {', '.join(str(n.log_path) for n in self.nodes)}. "
                "Fix: a majority of the nodes must run (node.restart() the stopped ones), then wait again."
            )
        return time.monotonic() - started

    async def leader_of(self, bucket: str, nc: NATS | None = None, *, timeout: float = 2.0) -> Node:
        """The node that leads ``bucket``'s stream now (asks the cluster; ``nc`` defaults to a new connection)."""
        from .client import connect

        own = nc is None
        conn = nc if nc is not None else await connect(self.url)
        try:
            info = await conn.jetstream(timeout=timeout).stream_info(f"KV_{bucket}")
        finally:
            if own:
                await conn.close()
        leader = info.cluster.leader if info.cluster is not None else None
        if not leader:
            raise InvalidOption(f"bucket {bucket!r} has no leader now (an election is running); retry in a moment.")
        return self.node(leader)

    def stop(self) -> None:
        """Stop every node (SIGTERM, in parallel) and remove a temporary store."""
        threads = [threading.Thread(target=node.stop, kwargs={"lame_duck": False}) for node in self.nodes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if self._lock is not None:
            self._lock.close()  # closing releases the flock
            self._lock = None
        if self._temp:
            shutil.rmtree(self.base_dir, ignore_errors=True)
        _shared.release(self)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        states = ", ".join(f"{n.name}:{n.port}{'' if n.is_running else ' (down)'}" for n in self.nodes)
        return f"<kvnb.Cluster {self.name!r} {len(self.nodes)} nodes [{states}], store {self.base_dir}>"


@dataclass(frozen=True)
class Ack:
    """One acknowledged write of a :class:`Writer`: when (monotonic seconds), which number, which revision."""

    at: float
    n: int
    revision: int


@dataclass(frozen=True)
class Pause:
    """A stretch with no acknowledged write: from the last ack before it to the first ack after it."""

    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


class Writer:
    """A background writer for failover experiments: ``<prefix>.<n>`` = ``n``, one after another.

    Each write is retried until the cluster acknowledges it, with a short per-attempt timeout
    (a lost leader shows up as a timeout or "no response from stream"). A ``Nats-Msg-Id`` header
    per write lets the server drop the copy when a retry follows a write that was stored but
    whose acknowledgement got lost, so nothing is written twice. ``acked`` lists what the
    cluster promised to keep; :meth:`missing` checks that it did.

    Example::

        writer = kvnb.cluster.Writer(kv).start()
        await leader.kill_async()
        ...
        await writer.stop()
        print(writer.longest_pause(), await writer.missing())
    """

    def __init__(self, kv: Any, *, prefix: str = "w", interval: float = 0.005, attempt_timeout: float = 0.25,
                 backoff: float = 0.02) -> None:
        self.kv = kv
        self.prefix = prefix
        self.interval = interval
        self.attempt_timeout = attempt_timeout
        self.backoff = backoff
        self.acked: list[Ack] = []
        self.failures = 0
        """Attempts that failed (each was retried)."""
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def start(self) -> Writer:
        """Start writing in a background task (needs a running event loop); returns self."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"kvnb-writer-{self.prefix}")
        return self

    async def _run(self) -> None:
        js = self.kv.nc.jetstream(timeout=self.attempt_timeout)
        n = len(self.acked)
        while not self._stopping.is_set():
            n += 1
            subject = f"$KV.{self.kv.name}.{self.prefix}.{n}"
            headers = {"Nats-Msg-Id": f"{self.kv.name}.{self.prefix}.{n}"}
            while not self._stopping.is_set():
                try:
                    ack = await js.publish(subject, str(n).encode(), headers=headers, timeout=self.attempt_timeout)
                except Exception as err:  # any failure is retried: that is the point of the experiment
                    self.failures += 1
                    self.last_error = f"{type(err).__name__}: {err}"
                    # "no response from stream" comes back at once while there is no leader: do not spin.
                    await asyncio.sleep(self.backoff)
                    continue
                self.acked.append(Ack(time.monotonic(), n, ack.seq))
                break
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        """Stop writing (the write in flight finishes or is abandoned unacknowledged)."""
        self._stopping.set()
        if self._task is not None:
            await self._task

    def pauses(self, *, longer_than: float = 0.05, since: float | None = None) -> list[Pause]:
        """Gaps between consecutive acknowledgements longer than ``longer_than`` seconds.

        With ``since`` (a ``time.monotonic()`` value, e.g. when a node was killed) only gaps that
        end after it count, including the one that was running at that moment.
        """
        return [Pause(a.at, b.at) for a, b in itertools.pairwise(self.acked)
                if b.at - a.at > longer_than and (since is None or b.at > since)]

    def longest_pause(self, *, since: float | None = None) -> float:
        """The longest gap between acknowledgements (seconds), optionally from ``since`` (monotonic) on."""
        return max((p.seconds for p in self.pauses(longer_than=0, since=since)), default=0.0)

    async def missing(self) -> list[Ack]:
        """Acknowledged writes the bucket does not hold now (it should be ``[]``: acknowledged means kept).

        Safe while the writer runs: only writes acknowledged before the bucket is read are checked.
        """
        acked = list(self.acked)
        found = {e.key: e.revision for e in await self.kv.entries(f"{self.prefix}.>")}
        return [a for a in acked if found.get(f"{self.prefix}.{a.n}") != a.revision]


def _lock_base(base: Path) -> IO[bytes]:
    """Lock the cluster's folder while it runs: nats-server takes no lock, two clusters on one store corrupt it."""
    return _process.lock_exclusive(base / ".kvnb-cluster.lock", in_use=(
        f"the cluster folder {base} is in use by another kvnb cluster (in this or another process). "
        "Fix: stop that cluster, or pass another store_dir (or none, for a temporary one)."
    ))


def _printer(progress: bool | Progress) -> Progress:
    if callable(progress):
        return progress
    if progress:
        return lambda line: print(line, flush=True)
    return lambda line: None


def _launch(n: int, *, name: str, base_dir: Path, say: Progress) -> list[Node]:
    ports = _free_ports(3 * n)
    client, routes, http = ports[:n], ports[n:2 * n], ports[2 * n:]
    nodes = [Node(name=f"n{i + 1}", port=client[i], cluster_port=routes[i], http_port=http[i],
                  dir=base_dir / f"n{i + 1}", routes=routes, cluster_name=name) for i in range(n)]
    try:
        for node in nodes:
            node._spawn()
        for node in nodes:
            node._wait_ready()
            say(f"  {node.name} ready at {node.url}")
    except BaseException:
        for node in nodes:
            node.kill()
        raise
    return nodes


def start_cluster(n: int = 3, *, store_dir: str | Path | None = None, name: str = "kvnb", fresh: bool = False,
                  progress: bool | Progress = True, timeout: float = READY_TIMEOUT) -> Cluster:
    """Start an ``n``-node nats-server cluster on 127.0.0.1 (or return the one already running).

    Every node has JetStream with its own store directory, a ``server_name`` (``n1``..``nN``) and
    routes to all others; the call returns once the cluster has elected a JetStream meta leader.

    - ``store_dir``: parent folder of the nodes' stores (``<store_dir>/n1/store``...); a temporary
      folder, removed on stop, when None.
    - ``fresh``: stop a running kvnb cluster first, and empty ``store_dir``'s node folders.
    - ``progress``: print a line per step (or pass a function that takes each line).

    The cluster is independent of ``NATS_URL`` and of :func:`kvnb.start_server`: connect to it
    with ``await kvnb.connect(cluster.url)``.
    """
    if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= MAX_NODES:
        raise InvalidOption(f"n (the number of nodes) must be an int from 2 to {MAX_NODES}, got {n!r}. "
                            "Example: start_cluster(3) (three nodes survive the loss of one); for a single server "
                            "use kvnb.start_server().")
    say = _printer(progress)
    with _shared.lock:
        running = _shared.running()
        if running is not None:
            if not fresh and len(running) == n and (store_dir is None or Path(store_dir).resolve() == running.base_dir):
                say(f"kvnb: the {n}-node cluster is already running: {running.url}")
                return running
            running.stop()
        if store_dir is None:
            base, temp = _process.temp_dir("cluster"), True
        else:
            base, temp = Path(store_dir).expanduser().resolve(), False
            base.mkdir(parents=True, exist_ok=True)
        lock = _lock_base(base)  # before wiping anything: the stores may belong to a running cluster
        if fresh and not temp:
            for i in range(MAX_NODES):
                shutil.rmtree(base / f"n{i + 1}", ignore_errors=True)
        started = time.monotonic()
        say(f"kvnb: starting a {n}-node nats-server cluster {name!r} on {HOST} ...")
        try:
            try:
                nodes = _launch(n, name=name, base_dir=base, say=say)
            except ServerStartError:
                # A port picked as free can be taken before the node binds it: one more try with new ports.
                say("  a node failed to start; retrying with other ports ...")
                if temp:
                    for i in range(n):
                        shutil.rmtree(base / f"n{i + 1}", ignore_errors=True)
                nodes = _launch(n, name=name, base_dir=base, say=say)
            cluster = Cluster(nodes, name=name, base_dir=base, temp=temp, lock=lock)
            say("  waiting for the JetStream meta leader election ...")
            try:
                leader = cluster.wait_for_meta_leader(timeout)
            except BaseException:
                cluster.stop()
                raise
        except BaseException:
            lock.close()
            if temp:
                shutil.rmtree(base, ignore_errors=True)
            raise
        say(f"kvnb: cluster ready in {time.monotonic() - started:.1f} s, meta leader {leader}. "
            f"Connect with: await kvnb.connect(cluster.url)  # {cluster.url}")
        _shared.value = cluster
        return cluster


def current_cluster() -> Cluster | None:
    """The cluster :func:`start_cluster` started, while it runs."""
    return _shared.running()


def stop_cluster() -> None:
    """Stop the cluster started by :func:`start_cluster`, if any."""
    _shared.stop()
