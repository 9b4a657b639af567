"""Self-checks of notebook 11 (the capstone): a config service, a service registry, a job runner.

Each check tries the learner's functions on keys of its own (tagged with a random suffix) in the
bucket it is given, so it can run again and again next to the notebook's own data. The registry and
leader checks wait for real per-key TTLs of one second: each takes two or three seconds.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import nats.js.errors

from ..bucket import KV
from ..entry import Entry
from ..errors import Conflict, KeyNotFound
from ._core import Passed, fail, guarded, require_callable

__all__ = ["config_reader", "fenced_runs", "job_leader", "service_registry"]

_WAIT = 10.0  # seconds: a generous bound for a 1 s TTL to run out on a busy machine


def _tag() -> str:
    return uuid.uuid4().hex[:6]


async def _latest(kv: KV, key: str) -> Any:
    """The raw latest message of ``key`` (headers included), or None."""
    try:
        return await kv.js.get_msg(f"KV_{kv.name}", subject=f"$KV.{kv.name}.{key}", direct=False)
    except nats.js.errors.NotFoundError:
        return None


async def _value(kv: KV, key: str) -> str | None:
    try:
        return (await kv.get(key)).text
    except KeyNotFound:
        return None


async def _until_gone(kv: KV, key: str, what: str, exercise: str, *, keep: Callable[[], Awaitable[Any]] | None = None,
                      every: float = 0.3) -> None:
    """Wait until ``key`` has no value (its TTL ran out); call ``keep`` every ``every`` s meanwhile."""
    deadline = time.monotonic() + _WAIT
    while await _value(kv, key) is not None:
        if time.monotonic() > deadline:
            raise fail(exercise, f"{what} still has a value {_WAIT:.0f} s after its 1 s TTL: give every write a "
                                 "per-key TTL (msg_ttl= on the publish, ttl= on create).")
        if keep is not None:
            await keep()
        await asyncio.sleep(every)


# --- 11.1 config ---------------------------------------------------------------------------------

def _settings(entries: list[Entry], prefix: str) -> dict[str, str]:
    return {e.key[len(prefix):]: e.text for e in entries if e.key.startswith(prefix)}


async def config_reader(kv: KV, fn: Callable[[KV, str], Awaitable[Any]]) -> Passed:
    """Exercise 11.1: ``fn(kv, service)`` returns ``config.defaults.*`` overridden by ``config.<service>.*``."""
    name = "Exercise 11.1 (read a service's config)"
    require_callable(name, fn, "await kvnb.checks.config_reader(config, read_config)")
    fn = guarded(name, fn)
    tag = _tag()
    service, other = f"check{tag}", f"other{tag}"
    written = {
        f"config.defaults.check_{tag}_timeout": "30",
        f"config.defaults.check_{tag}_color": "blue",
        f"config.{service}.check_{tag}_timeout": "5",
        f"config.{service}.check_{tag}_retries": "3",
        f"config.{service}.check_{tag}_color": "red",
        f"config.{other}.check_{tag}_timeout": "99",
    }
    for key, value in written.items():
        await kv.put(key, value)
    await kv.delete(f"config.{service}.check_{tag}_color")   # the override was removed: back to the default
    try:
        entries = await kv.entries("config.>")
        expected = _settings(entries, "config.defaults.") | _settings(entries, f"config.{service}.")
        got = await fn(kv, service)
        if not isinstance(got, dict):
            raise fail(name, f"return a dict {{setting: value}}, got {type(got).__name__} {got!r:.60}.")
        timeout, color = f"check_{tag}_timeout", f"check_{tag}_color"
        if any(k.startswith("config.") for k in got):
            raise fail(name, "return setting names without the prefix: 'timeout', not 'config.<service>.timeout' "
                             "(e.key minus the prefix).")
        if got.get(timeout) == "99":
            raise fail(name, "you read another service's value: read only config.<service>.* (a wildcard, "
                             "kv.entries(f'config.{service}.*')), not all of config.>.")
        if color not in got:
            raise fail(name, "a setting the service does not override is missing: start from config.defaults.* "
                             "and let config.<service>.* override it.")
        if got.get(timeout) == "30":
            raise fail(name, "the default won over the service's own value: apply the service's settings after "
                             "the defaults (defaults | service).")
        if got.get(color) != "blue":
            raise fail(name, f"the service's override of {color!r} was deleted, so the default 'blue' applies; "
                             f"you returned {got.get(color)!r}. Skip markers (kv.entries() leaves them out).")
        if got != expected:
            missing = sorted(set(expected) - set(got))[:3]
            extra = sorted(set(got) - set(expected))[:3]
            raise fail(name, f"not quite: missing {missing}, unexpected {extra}. Expected defaults overridden by "
                             "the service's own settings.")
    finally:
        for key in written:
            await kv.delete(key)
    return Passed(name, "defaults, overrides, another service and a removed override all read right.")


# --- 11.2 registry --------------------------------------------------------------------------------

async def service_registry(kv: KV, register: Callable[..., Awaitable[Any]],
                           discover: Callable[[KV, str], Awaitable[Any]]) -> Passed:
    """Exercise 11.2: ``register(kv, service, instance, endpoint, ttl)`` writes
    ``services.<service>.<instance>`` with a per-key TTL (and works again as a heartbeat);
    ``discover(kv, service)`` returns the sorted endpoints alive now."""
    name = "Exercise 11.2 (a service registry)"
    require_callable(name, register, "await kvnb.checks.service_registry(registry, register, discover)")
    require_callable(name, discover, "await kvnb.checks.service_registry(registry, register, discover)")
    register, discover = guarded(name, register, Conflict), guarded(name, discover)
    tag = _tag()
    service = f"check{tag}"
    a, b = ("10.0.0.1:8080", "10.0.0.2:8080")

    async def reg(instance: str, endpoint: str, svc: str = service) -> int:
        try:
            revision = await register(kv, svc, instance, endpoint, 1)
        except Conflict:
            raise fail(name, "registering again (a heartbeat) raised Conflict: create() refuses a key that has a "
                             "value. Write with a per-key TTL instead: kv.js.publish(subject, data, msg_ttl=ttl) "
                             "(notebook 07).") from None
        key = f"services.{svc}.{instance}"
        if not isinstance(revision, int) or isinstance(revision, bool):
            raise fail(name, f"register returned {revision!r}; return the revision of the write (ack.seq).")
        if await _value(kv, key) != endpoint:
            raise fail(name, f"after register the key {key!r} holds {await _value(kv, key)!r}, not the endpoint "
                             f"{endpoint!r}: write services.<service>.<instance> = endpoint.")
        msg = await _latest(kv, key)
        if msg is None or msg.seq != revision:
            raise fail(name, f"register returned {revision}, but the key's latest revision is "
                             f"{getattr(msg, 'seq', None)}: return the revision of your write.")
        if not (msg.headers or {}).get("Nats-TTL"):
            raise fail(name, "the registration has no per-key TTL, so it outlives a dead process: publish it with "
                             "msg_ttl=ttl (the Nats-TTL header); kv.put() cannot set one.")
        return revision

    await reg("a", a)
    await reg("b", b)
    await reg("x", "10.9.9.9:1", svc=f"other{tag}")
    found = await discover(kv, service)
    if not isinstance(found, list):
        raise fail(name, f"discover should return a list of endpoints, got {type(found).__name__} {found!r:.60}.")
    if any(isinstance(f, str) and f.startswith("services.") for f in found):
        raise fail(name, "return the endpoints (the values), not the keys: [e.text for e in await kv.entries(...)].")
    if "10.9.9.9:1" in found:
        raise fail(name, "discover returned another service's instance: watch or list services.<service>.* only.")
    if found != [a, b]:
        raise fail(name, f"discover returned {found!r}; expected the two endpoints, sorted: {[a, b]!r}.")
    await reg("a", a)  # a heartbeat
    # a keeps beating, b has died: within a few seconds only a is left
    await _until_gone(kv, f"services.{service}.b", "a registration that is no longer renewed", name,
                      keep=lambda: reg("a", a))
    found = await discover(kv, service)
    if found != [a]:
        raise fail(name, f"after b stopped beating and a kept beating, discover returned {found!r}; expected {[a]!r}.")
    return Passed(name, "endpoints expire with their process and stay while it beats.")


# --- 11.3 leader ----------------------------------------------------------------------------------

async def job_leader(kv: KV, lead: Callable[..., Awaitable[Any]], renew_lead: Callable[..., Awaitable[Any]]) -> Passed:
    """Exercise 11.3: ``lead(kv, job, me, ttl)`` takes ``leader.<job>`` with a per-key TTL (revision or None);
    ``renew_lead(kv, job, me, last, ttl)`` renews it only if ``last`` is still its latest revision."""
    name = "Exercise 11.3 (a leader with a lease that expires)"
    require_callable(name, lead, "await kvnb.checks.job_leader(jobs, lead, renew_lead)")
    require_callable(name, renew_lead, "await kvnb.checks.job_leader(jobs, lead, renew_lead)")
    lead, renew_lead = guarded(name, lead, Conflict), guarded(name, renew_lead, Conflict, nats.js.errors.APIError)
    job = f"check{_tag()}"
    key = f"leader.{job}"

    async def take(me: str) -> Any:
        try:
            return await lead(kv, job, me, 1)
        except Conflict:
            raise fail(name, f"lead(kv, job, {me!r}, ttl) raised Conflict while another runner led: catch "
                             "kvnb.Conflict and return None.") from None

    async def renew(me: str, last: int) -> Any:
        try:
            return await renew_lead(kv, job, me, last, 1)
        except Conflict:
            raise fail(name, "renew_lead raised Conflict: return None when the lease moved on.") from None
        except nats.js.errors.APIError as err:
            raise fail(name, f"renew_lead let the server's refusal through ({err.description}, code "
                             f"{err.err_code}): catch nats.js.errors.APIError with err_code 10071 and return "
                             "None.") from None

    first = await take("runner-1")
    if not isinstance(first, int) or isinstance(first, bool) or await _value(kv, key) != "runner-1":
        raise fail(name, f"lead on a free job returned {first!r} and the key {key!r} holds "
                         f"{await _value(kv, key)!r}: create leader.<job> = me and return its revision.")
    if not ((await _latest(kv, key)).headers or {}).get("Nats-TTL"):
        raise fail(name, "the lease has no TTL, so a crashed leader would lead forever: kv.create(key, me, ttl=ttl).")
    if await take("runner-2") is not None or await _value(kv, key) != "runner-1":
        raise fail(name, "runner-2 took the lease while runner-1 held it: take it with kv.create, which refuses "
                         "a key that has a value.")
    second = await renew("runner-1", first)
    if not isinstance(second, int) or isinstance(second, bool) or second <= first:
        raise fail(name, f"renewing a lease you hold returned {second!r}; return the new revision.")
    msg = await _latest(kv, key)
    if msg.seq != second or (msg.data or b"").decode() != "runner-1":
        raise fail(name, "after the renewal the key should hold your name at the revision you returned.")
    if not (msg.headers or {}).get("Nats-TTL"):
        raise fail(name, "the renewal has no TTL, so the lease never expires any more: publish the renewal with "
                         "msg_ttl=ttl as well as the Nats-Expected-Last-Subject-Sequence header.")
    if await renew("runner-2", first) is not None or await _value(kv, key) != "runner-1":
        raise fail(name, "a renewal with a stale revision changed the lease: add the header "
                         "Nats-Expected-Last-Subject-Sequence: str(last) so the server refuses it.")
    # runner-1 crashes: no more renewals; its lease runs out and runner-2 can lead
    await _until_gone(kv, key, "a lease that is no longer renewed", name)
    taken = await take("runner-2")
    if not isinstance(taken, int) or isinstance(taken, bool):
        raise fail(name, f"after the lease expired, runner-2's lead returned {taken!r}: create() takes a key whose "
                         "latest entry is an expiry marker; return its revision.")
    if await renew("runner-1", second) is not None or await _value(kv, key) != "runner-2":
        raise fail(name, "runner-1 woke up and renewed runner-2's lease: the renewal must carry "
                         "Nats-Expected-Last-Subject-Sequence so the server refuses it.")
    await kv.delete(key)
    return Passed(name, "one leader, renewals only by the holder, and a takeover once a silent lease expired.")


# --- 11.4 fencing ---------------------------------------------------------------------------------

class _RacingKV:
    """The learner's bucket, but the first ``get`` lets a competing write land before it returns."""

    def __init__(self, kv: KV, compete: Callable[[], Awaitable[Any]]) -> None:
        self._kv = kv
        self._compete: Callable[[], Awaitable[Any]] | None = compete

    async def get(self, key: str, **kwargs: Any) -> Entry:
        entry = await self._kv.get(key, **kwargs)
        compete, self._compete = self._compete, None
        if compete is not None:
            await compete()
        return entry

    async def get_value(self, key: str, default: Any = None) -> Any:
        try:
            return (await self.get(key)).text
        except KeyNotFound:
            return default

    @property
    def raced(self) -> bool:
        return self._compete is None

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._kv, attr)


def _token(text: str | None) -> Any:
    try:
        return json.loads(text or "null")["token"]
    except (ValueError, TypeError, KeyError):
        return None


async def fenced_runs(kv: KV, fn: Callable[..., Awaitable[Any]]) -> Passed:
    """Exercise 11.4: ``fn(kv, job, token, result)`` records ``runs.<job>`` = JSON ``{"token", "result"}`` only
    if ``token`` is at least the token stored there; True when recorded, False when refused."""
    name = "Exercise 11.4 (fencing tokens)"
    require_callable(name, fn, "await kvnb.checks.fenced_runs(jobs, record_run)")
    fn = guarded(name, fn, Conflict)
    job = f"check{_tag()}"
    key = f"runs.{job}"

    async def record(token: int, result: str, bucket: Any = kv) -> Any:
        try:
            return await fn(bucket, job, token, result)
        except Conflict:
            raise fail(name, "record_run raised Conflict: someone wrote between your get and your update. Read "
                             "again and decide again (a loop), then return True or False.") from None

    if await record(5, "first") is not True:
        raise fail(name, "recording the first run (nothing stored yet) should return True; use kv.create when "
                         "the key does not exist (kvnb.KeyNotFound).")
    stored = await _value(kv, key)
    if _token(stored) != 5:
        raise fail(name, f"runs.<job> holds {stored!r}; store json.dumps({{'token': token, 'result': result}}).")
    if await record(7, "second") is not True or _token(await _value(kv, key)) != 7:
        raise fail(name, "a run with a higher token (a newer leader) should be recorded and return True.")
    late = await record(5, "late")
    if _token(await _value(kv, key)) != 7:
        raise fail(name, "an old leader (token 5) overwrote the run of the newer one (token 7): compare the stored "
                         "token first and refuse a smaller one.")
    if late is not False:
        raise fail(name, f"a refused run should return False, got {late!r}.")
    # A race: while the runner with token 8 decides, the leader with token 9 records its run.
    racing = _RacingKV(kv, lambda: kv.put(key, json.dumps({"token": 9, "result": "newer"})))
    outcome = await record(8, "racing", racing)
    if not racing.raced:
        raise fail(name, "read the stored run with kv.get(key) before you decide: you need its revision for "
                         "kv.update(key, value, last=entry.revision).")
    if _token(await _value(kv, key)) != 9:
        raise fail(name, "token 9 was recorded between your get and your write, and your write with token 8 "
                         "replaced it: write with kv.update(key, value, last=entry.revision) so the server refuses "
                         "a write based on an old read.")
    if outcome is not False:
        raise fail(name, f"after losing the race to token 9, token 8 should be refused (False), got {outcome!r}.")
    await kv.delete(key)
    return Passed(name, "newer tokens win, older ones are refused, also when they race.")
