"""Which buckets exist: ``await kvnb.list_buckets()`` (nats-py's KV has no listing; ``nats kv ls`` does this).

A bucket is a stream named ``KV_<bucket>`` that holds ``$KV.<bucket>.>``. The server lists
streams by subject a page at a time; every page is read::

    for info in await kvnb.list_buckets():
        print(info.name, info.values, info.history, info.atomic)
"""

from __future__ import annotations

import json

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js import api

from . import permissions
from .bucket import BucketInfo, _bucket_info, _server_errors
from .client import default_connection, ensure_fresh
from .errors import ServerError

__all__ = ["list_buckets"]


async def list_buckets(nc: NATS | None = None, *, js_prefix: str = "$JS.API") -> list[BucketInfo]:
    """Every KV bucket of the account, sorted by name, with its settings and size."""
    if nc is None:
        nc = await default_connection()
    await ensure_fresh(nc)
    subject = f"{js_prefix}.STREAM.LIST"
    found: list[BucketInfo] = []
    offset = 0
    with _server_errors("list_buckets()", permissions.guard(nc), (subject,), js_prefix=js_prefix):
        while True:
            request = json.dumps({"offset": offset, "subject": "$KV.*.>"}).encode()
            try:
                msg = await nc.request(subject, request, timeout=5.0)
            except nats.errors.NoRespondersError:
                raise nats.js.errors.ServiceUnavailableError from None
            resp = json.loads(msg.data)
            if "error" in resp:
                error = resp["error"]
                raise ServerError(f"list_buckets(): the server refused it: {error.get('description')} "
                                  f"(code {error.get('err_code')}).")
            page = resp.get("streams") or []
            for raw in page:
                info = api.StreamInfo.from_response(raw)
                if (info.config.name or "").startswith("KV_"):
                    found.append(_bucket_info(info))
            offset += len(page)
            if not page or offset >= resp.get("total", 0):
                break
    return sorted(found, key=lambda b: b.name)
