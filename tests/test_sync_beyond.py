"""kvnb.sync with the KV features beyond nats-py: a blocking atomic batch and revert, from a plain script."""

from __future__ import annotations

from test_sync import run_script


def test_batch_and_revert_from_a_plain_script() -> None:
    out = run_script("""
        import kvnb
        from kvnb import sync

        server = kvnb.start_server()
        kv = sync.open_bucket("orders", history=5, atomic=True, fresh=True)
        with kv.batch() as b:
            b.put("order.1.status", "placed")
            b.put("order.1.total", "30")
        print(b.revisions)
        try:
            with kv.batch() as b:
                b.put("order.2.status", "placed")
                b.update("order.1.total", "40", last=1)
        except kvnb.Conflict as conflict:
            print("conflict", conflict.key, conflict.current)
        print(kv.keys())
        kv.put("order.1.total", "35")
        print(kv.revert("order.1.total", 2), kv.get("order.1.total").text)
    """)
    assert out == ["[1, 2]", "conflict order.1.total 2", "['order.1.status', 'order.1.total']", "4 30"]
