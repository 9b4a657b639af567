"""kvnb.sync, the blocking facade: from plain scripts, and never on the async path.

Each test runs a small script in a fresh interpreter, so what it imports and patches is its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path


def run_script(code: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "NATS_URL"}
    env["PYTHONDEVMODE"] = "1"  # un-awaited coroutines and destroyed tasks print warnings
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    noise = [line for line in done.stderr.splitlines()
             if "Task was destroyed" in line or "was never awaited" in line or "Exception ignored" in line]
    assert not noise, done.stderr
    return done.stdout.splitlines()


def test_from_a_plain_script() -> None:
    out = run_script("""
        import sys
        import kvnb
        from kvnb import sync

        server = kvnb.start_server()
        kv = sync.open_bucket("demo", history=5)
        rev = kv.put("greeting", "hello")
        print(kv.get("greeting").text)
        print(kv.keys())
        newer = kv.update("greeting", "hi", last=rev)
        try:
            kv.update("greeting", "again", last=rev)
        except kvnb.Conflict as conflict:
            print("conflict", conflict.current == newer)
        print([e.text for e in kv.history("greeting")])
        print("nest_asyncio" in sys.modules)
    """)
    assert out == ["hello", "['greeting']", "conflict True", "['hello', 'hi']", "False"]


def test_async_path_never_loads_nest_asyncio() -> None:
    out = run_script("""
        import asyncio
        import sys
        import kvnb

        async def main():
            server = kvnb.start_server()
            kv = await kvnb.open_bucket("demo", history=5)
            rev = await kv.put("k", "v")
            async with kv.watch() as watch:
                await watch.wait_caught_up(2)
            await kv.update("k", "w", last=rev)
            print((await kv.get("k")).text)
            await kvnb.close_default_connection()

        asyncio.run(main())
        print(sorted(m for m in sys.modules if "nest_asyncio" in m))
        print(getattr(asyncio, "_nest_patched", False))
    """)
    assert out == ["w", "[]", "False"]


def test_inside_a_running_loop_it_applies_nest_asyncio_lazily() -> None:
    # What a notebook cell does: a sync call while the kernel's loop runs.
    out = run_script("""
        import asyncio
        import sys
        import kvnb
        from kvnb import sync

        async def main():
            kvnb.start_server()
            print("nest_asyncio" in sys.modules)
            kv = sync.open_bucket("demo")
            kv.put("k", "from sync")
            print("nest_asyncio" in sys.modules or "nest_asyncio2" in sys.modules)
            print((await kv.kv.get("k")).text)  # the async API keeps working on the same loop
            await kvnb.close_default_connection()

        asyncio.run(main())
    """)
    assert out == ["False", "True", "from sync"]


def test_the_readme_sync_example_runs_as_written(tmp_path: Path) -> None:
    """The README's script, verbatim, in a fresh interpreter with no NATS_URL."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    start = readme.index("From a plain script")
    block = readme[start:].split("```python\n", 1)[1].split("```", 1)[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NATS_")}
    done = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("hello")
