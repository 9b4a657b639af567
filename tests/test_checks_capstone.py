"""The capstone's self-checks (kvnb/checks/capstone.py): a right answer passes, lazy ones get a hint.

The registry and leader checks wait for real one-second per-key TTLs (a few seconds each), against
a real nats-server and a bucket with limit markers, as in notebook 11.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import nats.js.errors
import pytest

import kvnb
import kvnb.checks as checks
from kvnb.checks import NotYet


async def not_yet(check: Any, *phrases: str) -> NotYet:
    """Await a check that must fail; its hint must mention every phrase (case-insensitive)."""
    with pytest.raises(NotYet) as info:
        await check
    hint = str(info.value).lower()
    for phrase in phrases:
        assert phrase.lower() in hint, f"{phrase!r} not in hint: {info.value}"
    return info.value


@pytest.fixture
async def ttl_kv(nc: Any, bucket_name: str) -> AsyncIterator[kvnb.KV]:
    """A bucket with limit markers, like notebook 11's registry and jobs buckets."""
    bucket = await kvnb.open_bucket(bucket_name, history=5, limit_marker_ttl=1, nc=nc, fresh=True)
    try:
        yield bucket
    finally:
        await kvnb.delete_bucket(bucket_name, nc=nc)


# --- 11.1 -------------------------------------------------------------------------------------------

async def right_config(kv: kvnb.KV, service: str) -> dict[str, str]:
    settings: dict[str, str] = {}
    for prefix in ("config.defaults.", f"config.{service}."):
        for e in await kv.entries(prefix + "*"):
            settings[e.key.removeprefix(prefix)] = e.text
    return settings


async def test_config_reader(kv: kvnb.KV) -> None:
    async def service_only(kv: kvnb.KV, service: str) -> dict[str, str]:
        return {e.key.split(".", 2)[2]: e.text for e in await kv.entries(f"config.{service}.*")}

    async def defaults_win(kv: kvnb.KV, service: str) -> dict[str, str]:
        settings = {}
        for prefix in (f"config.{service}.", "config.defaults."):
            for e in await kv.entries(prefix + "*"):
                settings[e.key.removeprefix(prefix)] = e.text
        return settings

    async def everything(kv: kvnb.KV, service: str) -> dict[str, str]:
        return {e.key.split(".", 2)[2]: e.text for e in await kv.entries("config.>")}

    async def full_keys(kv: kvnb.KV, service: str) -> dict[str, str]:
        return {e.key: e.text for e in await kv.entries("config.>")}

    async def as_list(kv: kvnb.KV, service: str) -> list[str]:
        return await kv.keys("config.>")

    await kv.put("config.defaults.region", "eu")        # the learner's own data stays untouched
    assert await checks.config_reader(kv, right_config)
    await not_yet(checks.config_reader(kv, service_only), "config.defaults")
    await not_yet(checks.config_reader(kv, defaults_win), "the default won")
    await not_yet(checks.config_reader(kv, everything), "another service's value")
    await not_yet(checks.config_reader(kv, full_keys), "without the prefix")
    await not_yet(checks.config_reader(kv, as_list), "return a dict")
    await not_yet(checks.config_reader(kv, "read_config"), "pass the function itself")
    assert (await kv.get("config.defaults.region")).text == "eu"
    assert [k for k in await kv.keys("config.>") if "check" in k] == []   # the check cleaned up


# --- 11.2 -------------------------------------------------------------------------------------------

async def right_register(kv: kvnb.KV, service: str, instance: str, endpoint: str, ttl: int) -> int:
    ack = await kv.js.publish(f"$KV.{kv.name}.services.{service}.{instance}", endpoint.encode(), msg_ttl=ttl)
    return ack.seq


async def right_discover(kv: kvnb.KV, service: str) -> list[str]:
    return sorted(e.text for e in await kv.entries(f"services.{service}.*"))


async def test_service_registry_passes_a_right_answer(ttl_kv: kvnb.KV) -> None:
    assert await checks.service_registry(ttl_kv, right_register, right_discover)


async def test_service_registry_refuses_lazy_answers(ttl_kv: kvnb.KV) -> None:
    async def with_put(kv: kvnb.KV, service: str, instance: str, endpoint: str, ttl: int) -> int:
        return await kv.put(f"services.{service}.{instance}", endpoint)

    async def with_create(kv: kvnb.KV, service: str, instance: str, endpoint: str, ttl: int) -> int:
        return await kv.create(f"services.{service}.{instance}", endpoint, ttl=ttl)

    async def keys_not_endpoints(kv: kvnb.KV, service: str) -> list[str]:
        return await kv.keys(f"services.{service}.*")

    async def every_service(kv: kvnb.KV, service: str) -> list[str]:
        return sorted(e.text for e in await kv.entries("services.>"))

    await not_yet(checks.service_registry(ttl_kv, with_put, right_discover), "per-key ttl", "msg_ttl")
    await not_yet(checks.service_registry(ttl_kv, with_create, right_discover), "heartbeat", "create() refuses")
    await not_yet(checks.service_registry(ttl_kv, right_register, keys_not_endpoints), "not the keys")
    await not_yet(checks.service_registry(ttl_kv, right_register, every_service), "another service's instance")


# --- 11.3 -------------------------------------------------------------------------------------------

async def right_lead(kv: kvnb.KV, job: str, me: str, ttl: int) -> int | None:
    try:
        return await kv.create(f"leader.{job}", me, ttl=ttl)
    except kvnb.Conflict:
        return None


async def right_renew(kv: kvnb.KV, job: str, me: str, last: int, ttl: int) -> int | None:
    try:
        ack = await kv.js.publish(f"$KV.{kv.name}.leader.{job}", me.encode(), msg_ttl=ttl,
                                  headers={"Nats-Expected-Last-Subject-Sequence": str(last)})
    except nats.js.errors.APIError as err:
        if err.err_code == 10071:
            return None
        raise
    return ack.seq


async def test_job_leader_passes_a_right_answer(ttl_kv: kvnb.KV) -> None:
    assert await checks.job_leader(ttl_kv, right_lead, right_renew)


async def test_job_leader_refuses_lazy_answers(ttl_kv: kvnb.KV) -> None:
    async def lead_forever(kv: kvnb.KV, job: str, me: str, ttl: int) -> int | None:
        try:
            return await kv.create(f"leader.{job}", me)
        except kvnb.Conflict:
            return None

    async def lead_with_put(kv: kvnb.KV, job: str, me: str, ttl: int) -> int:   # a put with a TTL
        return (await kv.js.publish(f"$KV.{kv.name}.leader.{job}", me.encode(), msg_ttl=ttl)).seq

    async def renew_with_update(kv: kvnb.KV, job: str, me: str, last: int, ttl: int) -> int | None:
        try:
            return await kv.update(f"leader.{job}", me, last=last)
        except kvnb.Conflict:
            return None

    async def renew_blindly(kv: kvnb.KV, job: str, me: str, last: int, ttl: int) -> int:
        return (await kv.js.publish(f"$KV.{kv.name}.leader.{job}", me.encode(), msg_ttl=ttl)).seq

    async def renew_lets_error_out(kv: kvnb.KV, job: str, me: str, last: int, ttl: int) -> int:
        return (await kv.js.publish(f"$KV.{kv.name}.leader.{job}", me.encode(), msg_ttl=ttl,
                                    headers={"Nats-Expected-Last-Subject-Sequence": str(last)})).seq

    await not_yet(checks.job_leader(ttl_kv, lead_forever, right_renew), "no ttl", "ttl=ttl")
    await not_yet(checks.job_leader(ttl_kv, lead_with_put, right_renew), "runner-2 took the lease", "kv.create")
    await not_yet(checks.job_leader(ttl_kv, right_lead, renew_with_update), "renewal has no ttl", "msg_ttl")
    await not_yet(checks.job_leader(ttl_kv, right_lead, renew_blindly), "stale revision",
                  "nats-expected-last-subject-sequence")
    await not_yet(checks.job_leader(ttl_kv, right_lead, renew_lets_error_out), "10071", "return none")


# --- 11.4 -------------------------------------------------------------------------------------------

async def right_record(kv: kvnb.KV, job: str, token: int, result: str) -> bool:
    key, value = f"runs.{job}", json.dumps({"token": token, "result": result})
    for _ in range(10):
        try:
            entry = await kv.get(key)
        except kvnb.KeyNotFound:
            try:
                await kv.create(key, value)
                return True
            except kvnb.Conflict:
                continue
        if entry.json()["token"] > token:
            return False
        try:
            await kv.update(key, value, last=entry.revision)
            return True
        except kvnb.Conflict:
            continue
    raise RuntimeError("too many conflicts")


async def test_fenced_runs(kv: kvnb.KV) -> None:
    async def no_fence(kv: kvnb.KV, job: str, token: int, result: str) -> bool:
        await kv.put(f"runs.{job}", json.dumps({"token": token, "result": result}))
        return True

    async def check_then_put(kv: kvnb.KV, job: str, token: int, result: str) -> bool:
        try:
            if (await kv.get(f"runs.{job}")).json()["token"] > token:
                return False
        except kvnb.KeyNotFound:
            pass
        await kv.put(f"runs.{job}", json.dumps({"token": token, "result": result}))
        return True

    async def no_retry(kv: kvnb.KV, job: str, token: int, result: str) -> bool:
        key, value = f"runs.{job}", json.dumps({"token": token, "result": result})
        try:
            entry = await kv.get(key)
        except kvnb.KeyNotFound:
            await kv.create(key, value)
            return True
        if entry.json()["token"] > token:
            return False
        await kv.update(key, value, last=entry.revision)
        return True

    async def plain_text(kv: kvnb.KV, job: str, token: int, result: str) -> bool:
        await kv.put(f"runs.{job}", f"{token} {result}")
        return True

    assert await checks.fenced_runs(kv, right_record)
    await not_yet(checks.fenced_runs(kv, no_fence), "overwrote the run of the newer one")
    await not_yet(checks.fenced_runs(kv, check_then_put), "between your get and your write", "last=entry.revision")
    await not_yet(checks.fenced_runs(kv, no_retry), "read again")
    await not_yet(checks.fenced_runs(kv, plain_text), "json.dumps")


# --- no traceback for a stub, a plain def or a crash -------------------------------------------------

async def test_a_stub_a_plain_function_or_a_crash_gets_a_hint(kv: kvnb.KV) -> None:
    async def stub(kv: kvnb.KV, *args: Any) -> Any:
        raise NotImplementedError("Exercise: write your code here, then run the check below")

    def not_async(kv: kvnb.KV, service: str) -> dict[str, str]:
        return {}

    async def crashes(kv: kvnb.KV, *args: Any) -> Any:
        return {}["missing"]

    await not_yet(checks.config_reader(kv, stub), "still raises notimplementederror", "run that cell")
    await not_yet(checks.config_reader(kv, not_async), "async def")
    await not_yet(checks.config_reader(kv, crashes), "raised keyerror")
    await not_yet(checks.fenced_runs(kv, stub), "notimplementederror")
    await not_yet(checks.service_registry(kv, stub, right_discover), "notimplementederror")
    await not_yet(checks.job_leader(kv, right_lead, stub), "notimplementederror")
    await not_yet(checks.lock_by_hand(kv, stub, stub), "notimplementederror")
