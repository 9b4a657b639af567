"""TimeTravel against a real server: the bucket at revision N, and where history cannot tell."""

from __future__ import annotations

import kvnb


async def test_time_travel_rebuilds_the_bucket_from_history(nc, bucket_name: str) -> None:  # type: ignore[no-untyped-def]
    kv = await kvnb.open_bucket(bucket_name, history=2, nc=nc, fresh=True)
    tt = None
    try:
        await kv.put("a", "1")      # 1 (dropped: history 2)
        await kv.put("b", "x")      # 2
        await kv.put("a", "2")      # 3
        await kv.put("a", "3")      # 4
        await kv.delete("b")        # 5
        tt = kvnb.TimeTravel(kv)
        await tt.ready()
        assert (tt.min_revision, tt.max_revision, tt.revision) == (1, 5, 5)
        assert tt.state_at(5) == {"a": "3"} and tt.state_at(5).deleted == {"b": (5, "DEL")}
        assert tt.state_at(3) == {"a": "2", "b": "x"}
        early = tt.state_at(1)
        assert early == {} and early.unknowable == ("a", "b")  # both keep 2 revisions = the depth
        tt.revision = 1
        assert tt.view["unknowable"] == ["a", "b"] and "unknowable at revision 1" in tt.view["note"]
        assert repr(tt).splitlines()[:3] == [f"TimeTravel({bucket_name!r}): revision 1 of 1..5",
                                             "  a  ? unknowable", "  b  ? unknowable"]
        await kv.put("c", "new")
        await tt.load()
        assert tt.max_revision == 6 and tt.revision == 1 and tt.state_at(6)["c"] == "new"
    finally:
        if tt is not None:
            await tt.aclose()
        await kvnb.delete_bucket(bucket_name, nc=nc)
