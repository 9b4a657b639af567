"""ClusterView: the nodes of a NATS cluster and, for each bucket, its leader and replicas, live.

It polls the buckets' stream info (the ``cluster`` field: leader, and per replica current /
lagging / offline) about once a second with a short timeout, and re-renders an
``ipywidgets.HTML`` only when something changed. A failed poll (during an election, or with a
node down) is shown inline and the last known picture stays, dimmed.

Example::

    cluster = kvnb.start_cluster(3)
    nc = await kvnb.connect(cluster.url)
    view = ClusterView(nc, cluster=cluster)     # cluster= adds node up/down and the meta leader
    view                                        # display it; it starts polling on its own
    ...
    await view.stop()

The pure parts (:func:`bucket_state`, :func:`render`) need no server: tests feed them data.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from ._frozen import FrozenPicture
from ._html import MUTED, root

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS
    from nats.js.api import StreamInfo

    from ..cluster import Cluster

__all__ = ["BucketState", "ClusterSnapshot", "ClusterView", "NodeState", "ReplicaState", "bucket_state", "render"]

Role = Literal["leader", "current", "lagging", "offline"]
_COLORS: dict[str, str] = {
    "leader": "var(--jp-success-color1,#1a7f37)", "current": "var(--jp-success-color2,#2da44e)",
    "lagging": "var(--jp-warn-color1,#bf8700)", "offline": "var(--jp-error-color1,#cf222e)",
}


@dataclass(frozen=True)
class ReplicaState:
    """One copy of a bucket on one node."""

    node: str
    role: Role
    lag: int | None = None
    """Operations behind the leader (lagging replicas)."""
    seen: float | None = None
    """Seconds since the leader last heard from it."""


@dataclass(frozen=True)
class BucketState:
    """A bucket's placement: who leads it, who holds copies and how current they are."""

    bucket: str
    leader: str | None
    replicas: tuple[ReplicaState, ...]
    values: int = 0
    last_revision: int = 0
    error: str | None = None

    def role_on(self, node: str) -> Role | None:
        """This bucket's role on ``node`` (None when the node holds no copy)."""
        for replica in self.replicas:
            if replica.node == node:
                return replica.role
        return None


@dataclass(frozen=True)
class NodeState:
    """A node as the view knows it: ``up`` is None when only the cluster's answers tell about it."""

    name: str
    url: str | None = None
    up: bool | None = None
    meta_leader: bool = False


@dataclass
class ClusterSnapshot:
    """What one poll found."""

    nodes: list[NodeState]
    buckets: list[BucketState]
    connected_to: str | None = None
    error: str | None = None
    at: datetime = field(default_factory=datetime.now)
    stale: bool = False
    """True when this poll failed and the buckets shown are from an earlier one."""


def bucket_state(info: StreamInfo) -> BucketState:
    """A :class:`BucketState` from a KV stream's info (its ``cluster`` field)."""
    name = (info.config.name or "")[3:]
    cluster = info.cluster
    replicas: list[ReplicaState] = []
    leader = cluster.leader if cluster is not None else None
    if leader:
        replicas.append(ReplicaState(leader, "leader"))
    for peer in (cluster.replicas or []) if cluster is not None else []:
        if not peer.name:
            continue
        role: Role = "offline" if peer.offline else "current" if peer.current else "lagging"
        seen = peer.active / 1e9 if peer.active is not None else None  # nanoseconds on the wire
        replicas.append(ReplicaState(peer.name, role, lag=peer.lag, seen=seen))
    return BucketState(name, leader or None, tuple(replicas), values=info.state.messages,
                       last_revision=info.state.last_seq)


def _cell(role: Role | None, replica: ReplicaState | None) -> str:
    if role is None:
        return f"<td style='{MUTED};text-align:center'>·</td>"
    label = role
    if role == "lagging" and replica is not None and replica.lag:
        label += f" ({replica.lag} behind)"
    if role == "leader":  # a filled chip: told apart by shape and weight, not only colour
        label = (f"<span style='background:{_COLORS['leader']};color:var(--jp-ui-inverse-font-color1,#fff);"
                 "padding:0 6px;border-radius:3px;font-weight:600'>leader</span>")
    return (f"<td class='kvnb-role kvnb-role-{role}' style='color:{_COLORS[role]};text-align:center;"
            f"padding:1px 6px'>{label}</td>")


def render(snapshot: ClusterSnapshot) -> str:
    """The view's HTML: one column per node, one row per bucket."""
    names = [n.name for n in snapshot.nodes]
    for b in snapshot.buckets:  # nodes only the cluster's answers name
        names += [r.node for r in b.replicas if r.node not in names]
    nodes = {n.name: n for n in snapshot.nodes}
    head = ["<th style='text-align:left'>bucket</th>"]
    for name in names:
        node = nodes.get(name, NodeState(name))
        state = "" if node.up is None else (f" <span style='color:{_COLORS['leader']}'>up</span>" if node.up
                                            else f" <span style='color:{_COLORS['offline']}'>down</span>")
        marks = (" (meta leader)" if node.meta_leader else "") + (" ← you" if snapshot.connected_to == name else "")
        head.append(f"<th title='{html.escape(node.url or '')}'>{html.escape(name)}{state}{html.escape(marks)}</th>")
    head.append("<th>values</th><th>last rev</th>")
    rows = []
    for b in snapshot.buckets:
        if b.error:
            rows.append(f"<tr><td>{html.escape(b.bucket)}</td><td colspan='{len(names) + 2}' "
                        f"style='color:{_COLORS['offline']}'>{html.escape(b.error)}</td></tr>")
            continue
        cells = [_cell(b.role_on(n), next((r for r in b.replicas if r.node == n), None)) for n in names]
        rows.append(f"<tr><td>{html.escape(b.bucket)}</td>{''.join(cells)}<td style='text-align:right'>{b.values}</td>"
                    f"<td style='text-align:right'>{b.last_revision}</td></tr>")
    if not snapshot.buckets:
        rows.append(f"<tr><td colspan='{len(names) + 3}' style='{MUTED}'>no KV bucket yet</td></tr>")
    style = "opacity:0.55;" if snapshot.stale else ""
    status = f"updated {snapshot.at:%H:%M:%S}" + (" (last answer; this poll failed)" if snapshot.stale else "")
    if any(n.meta_leader for n in snapshot.nodes):
        status += " · meta leader: the node that manages the cluster's buckets"
    table = (f"<table class='kvnb-cluster-table' style='{style}border-collapse:collapse'>"
             f"<tr>{''.join(head)}</tr>{''.join(rows)}</table>")
    # the shared frame of kvnb's widgets: same classes, JupyterLab colours, error line
    return root("clusterview", "Cluster", table, status=status, error=snapshot.error or "")


def _why(err: BaseException) -> str:
    text = str(err).strip()
    if isinstance(err, TimeoutError) or "timeout" in type(err).__name__.lower():
        return "no answer within the poll timeout (a leader election, or too few nodes up)"
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


class ClusterView(FrozenPicture):
    """A live picture of a cluster's nodes and bucket placements (see the module docstring).

    - ``nc``: a connection to the cluster; ``cluster``: a :class:`kvnb.cluster.Cluster` started
      here, for node up/down and the meta leader (optional: without it, nodes come from the
      buckets' replica lists);
    - ``buckets``: names to show (default: every KV bucket);
    - ``interval``: seconds between polls; ``timeout``: how long each request of a poll may wait
      (the buckets' stream info, and each node's monitoring endpoint).
    """

    def __init__(self, nc: NATS, *, cluster: Cluster | None = None, buckets: list[str] | None = None,
                 interval: float = 1.0, timeout: float = 0.5, autostart: bool = True) -> None:
        import ipywidgets

        self.nc = nc
        self.cluster = cluster
        self.buckets = list(buckets) if buckets is not None else None
        self.interval = interval
        self.timeout = timeout
        self.widget = ipywidgets.HTML(value="<i>ClusterView: waiting for the first poll…</i>")
        self.snapshot: ClusterSnapshot | None = None
        self.polls = 0
        self.renders = 0
        self._task: asyncio.Task[None] | None = None
        self._autostart = autostart
        self._init_frozen()

    # --- polling ------------------------------------------------------------------------------
    async def _nodes(self) -> list[NodeState]:
        if self.cluster is None:
            return []
        cluster = self.cluster
        # the view's timeout bounds each node's monitoring request too (a stopped node must not stall a poll)
        meta = await asyncio.to_thread(cluster.meta_leader, self.timeout) if cluster.is_running else None
        return [NodeState(n.name, n.url, n.is_running, n.name == meta) for n in cluster.nodes]

    async def _buckets(self) -> list[BucketState]:
        js = self.nc.jetstream(timeout=self.timeout)
        if self.buckets is None:
            infos = await js.streams_info()
            return sorted((bucket_state(i) for i in infos if (i.config.name or "").startswith("KV_")),
                          key=lambda b: b.bucket)

        async def one(name: str) -> BucketState:
            try:
                return bucket_state(await js.stream_info(f"KV_{name}"))
            except Exception as err:
                return BucketState(name, None, (), error=_why(err))

        return list(await asyncio.gather(*(one(n) for n in self.buckets)))

    async def poll(self) -> ClusterSnapshot:
        """Ask the cluster once and re-render; errors go into the snapshot, never out of here."""
        self.polls += 1
        connected = (getattr(self.nc, "_server_info", None) or {}).get("server_name")
        try:
            nodes = await self._nodes()
        except Exception:  # monitoring of a local cluster is best effort
            nodes = []
        try:
            buckets = await self._buckets()
            snap = ClusterSnapshot(nodes, buckets, connected_to=connected)
        except Exception as err:
            previous = self.snapshot.buckets if self.snapshot is not None else []
            snap = ClusterSnapshot(nodes, previous, connected_to=connected, error=_why(err), stale=True)
        self.snapshot = snap
        text = render(snap)
        if text != self.widget.value:  # only changes cross to the browser
            self.widget.value = text
            self.renders += 1
        return snap

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            await self.poll()
            await asyncio.sleep(max(0.05, self.interval - (time.monotonic() - started)))

    def start(self) -> ClusterView:
        """Start polling on the running event loop (display does it for you)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="kvnb-cluster-view")
        return self

    async def stop(self) -> ClusterView:
        """Stop polling; the last picture stays on the page (also in a saved notebook), marked stopped."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._freeze()
        return self

    def _stopped_note(self) -> str:
        return f"stopped after {self.polls} polls · re-run the cell for a live view"

    def _live_bundle(self, **kwargs: Any) -> dict[str, Any]:
        if self._autostart:
            with contextlib.suppress(RuntimeError):  # no running loop: a plain script, nothing to poll with
                self.start()
        return self.widget._repr_mimebundle_(**kwargs)
