"""kv.revert against a real nats-server: an earlier value written again as a new revision, never history rewritten."""

from __future__ import annotations

import pytest

import kvnb

pytestmark = pytest.mark.timeout(30)


async def test_revert_writes_the_old_value_as_a_new_revision(kv: kvnb.KV) -> None:
    blue = await kv.put("color", "blue")
    red = await kv.put("color", "red")
    new = await kv.revert("color", blue)
    assert new > red
    entry = await kv.get("color")
    assert (entry.text, entry.revision) == ("blue", new)
    assert [e.text for e in await kv.history("color")] == ["blue", "red", "blue"]


async def test_revert_to_the_latest_revision_writes_nothing(kv: kvnb.KV) -> None:
    rev = await kv.put("color", "blue")
    assert await kv.revert("color", rev) == rev
    assert len(await kv.history("color")) == 1


async def test_revert_brings_a_deleted_key_back(kv: kvnb.KV) -> None:
    rev = await kv.put("color", "green")
    await kv.delete("color")
    new = await kv.revert("color", rev)
    assert (await kv.get("color")).revision == new and (await kv.get("color")).text == "green"


async def test_revert_keeps_bytes_exactly(kv: kvnb.KV) -> None:
    raw = bytes(range(256))
    rev = await kv.put("blob", raw)
    await kv.put("blob", b"other")
    await kv.revert("blob", rev)
    assert (await kv.get("blob")).value == raw


async def test_a_revision_of_another_key_is_refused(kv: kvnb.KV) -> None:
    other = await kv.put("size", "L")
    await kv.put("color", "blue")
    await kv.put("color", "red")
    with pytest.raises(kvnb.RevisionNotFound, match="belongs to key 'size'") as caught:
        await kv.revert("color", other)
    assert caught.value.reason == "other-key"
    assert (await kv.get("color")).text == "red"


async def test_a_revision_no_longer_kept_is_refused(nc: kvnb.client.NATS, bucket_name: str) -> None:
    kv = await kvnb.open_bucket(bucket_name, history=2, fresh=True, nc=nc)
    try:
        first = await kv.put("color", "blue")
        await kv.put("color", "red")
        await kv.put("color", "green")
        with pytest.raises(kvnb.RevisionNotFound, match="no longer keeps") as caught:
            await kv.revert("color", first)
        assert caught.value.reason == "not-kept"
    finally:
        await kvnb.delete_bucket(bucket_name, nc=nc)


async def test_a_future_revision_and_a_marker_are_refused(kv: kvnb.KV) -> None:
    await kv.put("color", "blue")
    deleted = await kv.delete("color")
    await kv.put("color", "red")
    with pytest.raises(kvnb.RevisionNotFound, match="not written yet") as caught:
        await kv.revert("color", 999)
    assert caught.value.reason == "newer"
    with pytest.raises(kvnb.RevisionNotFound, match="DEL marker") as caught:
        await kv.revert("color", deleted)
    assert caught.value.reason == "marker"


async def test_a_concurrent_write_makes_revert_a_conflict(kv: kvnb.KV, monkeypatch: pytest.MonkeyPatch) -> None:
    blue = await kv.put("color", "blue")
    await kv.put("color", "red")
    history = kv.history

    async def history_then_someone_writes(key: str) -> list[kvnb.Entry]:
        found = await history(key)
        await kv.put("color", "yellow")  # lands between revert's read and its write
        return found

    monkeypatch.setattr(kv, "history", history_then_someone_writes)
    with pytest.raises(kvnb.Conflict) as caught:
        await kv.revert("color", blue)
    assert caught.value.key == "color"
    assert (await kv.get("color")).text == "yellow"


async def test_bad_arguments(kv: kvnb.KV) -> None:
    with pytest.raises(kvnb.InvalidOption):
        await kv.revert("color", 0)
    with pytest.raises(kvnb.InvalidKey):
        await kv.revert("a b", 1)
    with pytest.raises(kvnb.RevisionNotFound, match="no revisions"):
        await kv.revert("never", 1)
