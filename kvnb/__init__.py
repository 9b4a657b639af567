"""kvnb: learn the NATS Key-Value store by doing, in JupyterLab, against a real nats-server.

Quick start (top-level ``await`` in a notebook)::

    import kvnb
    server = kvnb.start_server()
    kv = await kvnb.open_bucket("demo", history=10, fresh=True)
    rev = await kv.put("featureX.enabled", "true")
    await kv.update("featureX.enabled", "false", last=rev)
"""

from __future__ import annotations

from .batch import Batch
from .bucket import KV, BucketInfo, delete_bucket, open_bucket
from .client import close_default_connection, connect, default_connection
from .cluster import Cluster, current_cluster, start_cluster, stop_cluster
from .counter import Counter, CounterEntry, CounterWatch, delete_counter, open_counter
from .entry import Entry
from .errors import (
    BucketConfigMismatch,
    BucketNotFound,
    Conflict,
    ConnectError,
    InvalidBatch,
    InvalidBucketName,
    InvalidInput,
    InvalidKey,
    InvalidOption,
    InvalidValue,
    KeyDeleted,
    KeyNotFound,
    KvnbError,
    NotSupported,
    PermissionDenied,
    RevisionNotFound,
    ServerError,
    ServerNotFound,
    ServerStartError,
)
from .listing import list_buckets
from .server import ExternalServer, Server, current_server, start_server, stop_server
from .watch import CAUGHT_UP, DrainTimeout, Watch, WatchStopped, drain

__version__ = "0.1.0"

__all__ = [
    "CAUGHT_UP", "KV", "BucketConfigMismatch", "BucketInfo", "BucketNotFound", "Conflict", "ConnectError",
    "DrainTimeout", "Entry", "ExternalServer", "InvalidBucketName", "InvalidInput", "InvalidKey", "InvalidOption",
    "InvalidValue", "KeyDeleted", "KeyNotFound", "KvnbError", "NotSupported", "PermissionDenied", "Server",
    "ServerError", "ServerNotFound", "ServerStartError", "Watch", "WatchStopped", "close_default_connection",
    "connect", "current_server", "default_connection", "delete_bucket", "drain", "open_bucket", "start_server",
    "stop_server",
]
__all__ += ["Cluster", "current_cluster", "start_cluster", "stop_cluster"]  # a local cluster: kvnb.cluster
# beyond nats-py: atomic batches, revert (KV methods), bucket listing, server-side counters
__all__ += ["Batch", "Counter", "CounterEntry", "CounterWatch", "InvalidBatch", "RevisionNotFound", "delete_counter",
            "list_buckets", "open_counter"]

# The widgets (and ipywidgets/anywidget behind them) load on first use, so `import kvnb` stays
# fast for scripts and the CLI: kvnb.WatchFeed, kvnb.Timeline, ... resolve here.
_WIDGETS = ("BucketTable", "ClusterView", "CounterBoard", "Playground", "Race", "TimeTravel", "Timeline", "WatchFeed",
            "stop_widgets")
__all__ += [*_WIDGETS, "RaceResult", "checks"]


def __getattr__(name: str) -> object:
    if name in _WIDGETS:
        from . import widgets

        return getattr(widgets, name)
    if name == "checks":  # exercise self-checks: kvnb.checks.<name>(...)
        import importlib

        return importlib.import_module(".checks", __name__)
    if name == "RaceResult":
        from .model.race import RaceResult

        return RaceResult
    raise AttributeError(f"module 'kvnb' has no attribute {name!r}")
