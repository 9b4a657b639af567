"""Self-checks of notebook 01 (put and get)."""

from __future__ import annotations

import ast
import json
from typing import Any

from ..bucket import KV
from ..errors import InvalidKey, KeyDeleted, KeyNotFound
from ..validation import check_pattern
from ._core import Passed, fail, require_bucket, subject_matches

__all__ = ["profile_json", "rooms_stored", "temp_pattern"]

ROOMS = {"sensors.kitchen.temp": "21.5", "sensors.bedroom.temp": "18", "sensors.garage.temp": "9"}


async def rooms_stored(kv: KV) -> Passed:
    """Exercise 1.1: the three room temperatures are stored under ``sensors.<room>.temp``."""
    name = "Exercise 1.1 (three rooms)"
    require_bucket(name, kv, "await kvnb.checks.rooms_stored(kv)")
    for key, wanted in ROOMS.items():
        try:
            entry = await kv.get(key)
        except KeyDeleted:
            raise fail(name, f"{key!r} was deleted. Put it again: await kv.put({key!r}, {wanted!r})") from None
        except KeyNotFound:
            room = key.split(".")[1]
            near = [k for k in await kv.keys() if room in k]
            seen = f" The bucket has {near} instead; check the spelling and the dots." if near else ""
            raise fail(name, f"no value under {key!r}.{seen} Example: await kv.put({key!r}, {wanted!r})") from None
        if entry.text.strip() != wanted and _number(entry.text) != float(wanted):
            got = _number(entry.text)
            why = (f"{entry.text!r} reads as {got:g}, not {wanted}" if got is not None
                   else f"{entry.text!r} is not a number float() can read")
            raise fail(name, f"{key!r} holds {entry.text!r}, expected the reading {wanted!r}: {why}. "
                             f"Example: await kv.put({key!r}, {wanted!r})")
    return Passed(name, "Three keys, one level per dot: sensors -> room -> reading.")


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def temp_pattern(pattern: Any) -> Passed:
    """Exercise 1.2: a pattern matching every room's ``temp`` key and nothing else."""
    name = "Exercise 1.2 (a wildcard)"
    if not isinstance(pattern, str):
        raise fail(name, f"the answer is a pattern string, got {type(pattern).__name__}. Example: 'sensors.kitchen.>'")
    try:
        check_pattern(pattern)
    except InvalidKey as err:
        raise fail(name, f"{err}") from None
    must = ["sensors.kitchen.temp", "sensors.bedroom.temp", "sensors.attic.temp"]
    must_not = ["sensors.kitchen.humidity", "sensors.kitchen.temp.max", "weather.kitchen.temp", "sensors.temp"]
    missed = [k for k in must if not subject_matches(pattern, k)]
    if missed:
        raise fail(name, f"{pattern!r} does not match {missed[0]!r}. Patterns compare whole tokens (the parts "
                         "between dots): * stands for exactly one token, > for all the rest.")
    extra = [k for k in must_not if subject_matches(pattern, k)]
    if extra:
        why = " ('>' takes every remaining token, so it matches too much)" if pattern.endswith(">") else ""
        raise fail(name, f"{pattern!r} also matches {extra[0]!r}{why}. Keep the last token fixed and let one "
                         "token vary in the middle.")
    return Passed(name, f"{pattern!r} matches one token in the middle and nothing else.")


async def profile_json(kv: KV, key: str = "users.ada") -> Passed:
    """Exercise 1.3: a JSON document with ``name`` and ``languages`` is stored under ``key``."""
    name = "Exercise 1.3 (a JSON value)"
    require_bucket(name, kv, "await kvnb.checks.profile_json(kv)")
    try:
        entry = await kv.get(key)
    except KeyNotFound:
        raise fail(name, f"no value under {key!r}. Example: await kv.put({key!r}, json.dumps({{...}}))") from None
    try:
        doc = entry.json()
    except ValueError:
        try:
            ast.literal_eval(entry.text)
            python = True
        except (ValueError, SyntaxError):
            python = False
        why = "it looks like str(dict): Python's repr uses single quotes, JSON needs json.dumps(...)" if python \
            else "store json.dumps(document)"
        raise fail(name, f"{key!r} holds {entry.text[:60]!r}, which is not JSON: {why}.") from None
    if not isinstance(doc, dict):
        raise fail(name, f"the JSON value is a {type(doc).__name__}; make it an object: "
                         "{'name': ..., 'languages': [...]}")
    if doc.get("name") != "Ada":
        raise fail(name, f"the document's 'name' is {doc.get('name')!r}, expected 'Ada'.")
    langs = doc.get("languages")
    if not isinstance(langs, list) or not langs:
        raise fail(name, f"'languages' should be a non-empty list, got {langs!r}.")
    return Passed(name, f"{len(json.dumps(doc))} bytes of JSON; entry.json() gives the dict back.")
