"""kvnb benchmarks: every figure is measured against raw nats-py in the same run.

Run ``make bench`` (or ``python -m bench``): it prints a table and writes ``docs/benchmarks.md``.
Each benchmark module exposes ``run() -> list[dict]``; a row is a :class:`bench._harness.Row`
(``group``, ``name``, ``kvnb``, ``raw``, ``unit``, ``ratio``, ``goal``, ``ok``, ``note``).
"""
