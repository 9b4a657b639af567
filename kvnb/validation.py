"""The rules of NATS KV names and values, checked before anything is sent.

Each check raises a :class:`~kvnb.errors.InvalidInput` subclass whose message names the rule
and shows a valid example.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Any

from .errors import InvalidBucketName, InvalidKey, InvalidOption, InvalidValue

_KEY_TOKEN = re.compile(r"[-/_=a-zA-Z0-9]+")  # used with fullmatch: "$" would let a trailing newline through
_BUCKET = re.compile(r"[a-zA-Z0-9_-]+")
# A whole valid key in one regex: check_key's fast path (kvnb.bucket inlines it on put/get/update).
VALID_KEY = re.compile(r"[-/_=a-zA-Z0-9]+(?:\.[-/_=a-zA-Z0-9]+)*")
MAX_HISTORY = 64
KEY_RULE = ("keys are made of letters, digits and - / _ = separated by single dots "
            "(no spaces, no * or >, no leading, trailing or double dot)")


def check_key(key: Any) -> str:
    """Return ``key`` if it is a valid KV key, else raise :class:`InvalidKey`."""
    if type(key) is str and VALID_KEY.fullmatch(key):  # the common case in one regex call (put/get hot path)
        return key
    if not isinstance(key, str):
        raise InvalidKey(f"a key must be a str, got {type(key).__name__} {key!r}. Example: 'sensors.kitchen.temp'")
    if key == "":
        raise InvalidKey(f"the key is empty. Rule: {KEY_RULE}. Example: 'sensors.kitchen.temp'")
    problem = _key_problem(key, allow_wildcards=False)
    if problem:
        raise InvalidKey(f"invalid key {key!r}: {problem}. Rule: {KEY_RULE}. Example: 'sensors.kitchen.temp'")
    return key


def check_pattern(pattern: Any) -> str:
    """Return ``pattern`` if it is a valid key pattern (``*`` one token, ``>`` the rest)."""
    if not isinstance(pattern, str) or pattern == "":
        raise InvalidKey(
            f"a key pattern must be a non-empty str, got {pattern!r}. "
            "Example: 'sensors.*.temp' (* = one token) or 'sensors.>' (> = all the rest)"
        )
    problem = _key_problem(pattern, allow_wildcards=True)
    if problem:
        raise InvalidKey(
            f"invalid key pattern {pattern!r}: {problem}. Rule: {KEY_RULE}; * stands for one whole token "
            "and > for all remaining tokens (last only). Example: 'sensors.*.temp' or 'sensors.>'"
        )
    return pattern


def _key_problem(key: str, *, allow_wildcards: bool) -> str | None:
    if key.startswith("."):
        return "it starts with a dot"
    if key.endswith("."):
        return "it ends with a dot"
    tokens = key.split(".")
    for i, token in enumerate(tokens):
        if token == "":
            return "it has two dots in a row (an empty token)"
        if allow_wildcards and token == "*":
            continue
        if allow_wildcards and token == ">":
            if i != len(tokens) - 1:
                return "> may only be the last token"
            continue
        if not _KEY_TOKEN.fullmatch(token):
            bad = sorted({c for c in token if not re.match(r"[-/_=a-zA-Z0-9]", c)})
            shown = ", ".join("space" if c == " " else repr(c) for c in bad)
            if not allow_wildcards and any(c in "*>" for c in bad):
                return f"it contains the wildcard {shown} (wildcards are for watch and keys patterns, not for keys)"
            if allow_wildcards and any(c in "*>" for c in bad):
                return "a wildcard must be a whole token, like 'a.*.c', not part of one"
            return f"it contains {shown}"
    return None


MAX_BUCKET_NAME = 255 - len("KV_")  # the server's limit on the stream's name (10052 beyond it)


def check_bucket_name(name: Any) -> str:
    """Return ``name`` if it is a valid bucket name, else raise :class:`InvalidBucketName`."""
    rule = "bucket names are letters, digits, - and _ only (no dots or spaces)"
    if not isinstance(name, str):
        raise InvalidBucketName(f"a bucket name must be a str, got {type(name).__name__} {name!r}. Example: 'config'")
    if not name or not _BUCKET.fullmatch(name):
        hint = f" (use {name.replace('.', '_')!r})" if "." in name else ""
        raise InvalidBucketName(f"invalid bucket name {name!r}. Rule: {rule}{hint}. Example: 'feature_flags'")
    if len(name) > MAX_BUCKET_NAME:
        raise InvalidBucketName(
            f"bucket name too long: {len(name)} characters ({name[:20]}…). Rule: at most {MAX_BUCKET_NAME} "
            f"characters, because the bucket's stream is named KV_<bucket> and a stream name has at most 255. "
            "Example: 'feature_flags'")
    return name


def to_bytes(value: Any, *, max_size: int | None = None) -> bytes:
    """Encode a value: bytes-like as is, str as UTF-8; anything else raises :class:`InvalidValue`."""
    if isinstance(value, str):
        try:
            data = value.encode("utf-8")
        except UnicodeEncodeError as err:
            raise InvalidValue(
                f"the text cannot be stored as UTF-8: {err.reason} at position {err.start} "
                f"({value[err.start:err.end]!r}). Rule: a str value is sent as UTF-8, so it must be valid Unicode "
                "text. Fix: pass bytes, or clean the text first, e.g. text.encode('utf-8', 'replace')."
            ) from None
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    else:
        raise InvalidValue(
            f"a value must be str or bytes, got {type(value).__name__} {value!r:.60}. "
            "Rule: KV values are bytes (a str is sent as UTF-8). "
            "Example: kv.put('k', str(42)) or kv.put('k', json.dumps({'on': True}))"
        )
    if max_size is not None and max_size >= 0 and len(data) > max_size:
        raise InvalidValue(
            f"the value is {len(data)} bytes but this bucket (or the server) allows at most {max_size} bytes "
            "per value. Fix: store a smaller value (or a reference to it), or open the bucket with a larger "
            f"max_value_size. Example: open_bucket('demo', max_value_size={max(1024, 2 * len(data))}, fresh=True)"
        )
    return data


def check_history(history: Any) -> int:
    if isinstance(history, bool) or not isinstance(history, int) or not 1 <= history <= MAX_HISTORY:
        raise InvalidOption(
            f"history must be an int from 1 to {MAX_HISTORY} (revisions kept per key), got {history!r}. "
            "Example: open_bucket('demo', history=10)"
        )
    return history


def to_seconds(ttl: Any, *, what: str, whole: bool = False) -> float | None:
    """A TTL in seconds from a number or timedelta; at least 1 s (whole seconds when ``whole``)."""
    if ttl is None:
        return None
    if isinstance(ttl, timedelta):
        seconds = ttl.total_seconds()
    elif isinstance(ttl, (int, float)) and not isinstance(ttl, bool):
        seconds = float(ttl)
    else:
        raise InvalidOption(
            f"{what} must be a number of seconds or a timedelta, got {type(ttl).__name__} {ttl!r}. Example: {what}=5"
        )
    if not math.isfinite(seconds) or seconds < 1:
        raise InvalidOption(
            f"{what} must be at least 1 second, got {ttl!r}. Rule: NATS counts TTLs in whole seconds from 1. "
            f"Example: {what}=2"
        )
    if whole and seconds != int(seconds):
        raise InvalidOption(
            f"{what} must be whole seconds, got {ttl!r} (the server would cut it to {int(seconds)}). "
            f"Example: {what}={max(1, round(seconds))}"
        )
    return seconds


def check_revision(value: Any, *, what: str, allow_zero: bool = False) -> int:
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidOption(
            f"{what} must be an int >= {low} (a revision number as returned by put), got {value!r}. "
            f"Example: rev = await kv.put('k', 'v'); then {what}=rev"
        )
    return value


def check_choice(value: Any, *, what: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InvalidOption(
            f"{what} must be one of {', '.join(map(repr, choices))}, got {value!r}. Example: {what}={choices[0]!r}"
        )
    return value


def check_replicas(replicas: Any) -> int:
    if isinstance(replicas, bool) or not isinstance(replicas, int) or not 1 <= replicas <= 5:
        raise InvalidOption(
            f"replicas must be an int from 1 to 5, got {replicas!r}. Example: replicas=3 on a 3-node cluster"
        )
    return replicas


def check_patterns(patterns: Any) -> tuple[str, ...]:
    """A watch's patterns: one str, or a non-empty list of patterns no two of which overlap.

    The server refuses a consumer whose filters overlap (a key matching two of them would be
    delivered twice), so the pair is named here, before anything is sent.
    """
    if isinstance(patterns, str):
        return (check_pattern(patterns),)
    if not isinstance(patterns, (list, tuple)) or not patterns:
        raise InvalidKey(
            f"watch patterns must be a str or a non-empty list of str, got {patterns!r}. "
            "Example: kv.watch(['orders.>', 'users.*'])"
        )
    found = tuple(check_pattern(p) for p in patterns)
    for i, a in enumerate(found):
        for b in found[i + 1:]:
            if patterns_overlap(a, b):
                raise InvalidKey(
                    f"the watch patterns {a!r} and {b!r} overlap: some keys match both. Rule: one watch's "
                    "patterns must not overlap (the server would deliver such a key twice, so it refuses them). "
                    f"Fix: keep only the wider one, e.g. kv.watch([{_wider(a, b)!r}, ...])"
                )
    return found


def patterns_overlap(a: str, b: str) -> bool:
    """True if some key matches both NATS patterns (``*`` one token, ``>`` one or more)."""
    ta, tb = a.split("."), b.split(".")
    for x, y in zip(ta, tb, strict=False):
        if x == ">" or y == ">":
            return True
        if x != y and x != "*" and y != "*":
            return False
    return len(ta) == len(tb)


def _wider(a: str, b: str) -> str:
    """Of two overlapping patterns, the one that matches more (a guess good enough for a hint)."""
    return a if a.count(">") * 100 + a.count("*") - len(a.split(".")) >= \
        b.count(">") * 100 + b.count("*") - len(b.split(".")) else b
