"""Async building blocks the notebooks and widgets drive (racing writers, ...)."""

from __future__ import annotations

from .race import run_race

__all__ = ["run_race"]
