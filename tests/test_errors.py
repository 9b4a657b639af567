"""kvnb's one exception family: what each error carries and how its message reads."""

from __future__ import annotations

import pytest

import kvnb
from kvnb import errors


def test_every_error_is_a_kvnb_error_and_exported() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, kvnb.KvnbError)
        assert getattr(kvnb, name) is cls


@pytest.mark.parametrize(("cls", "builtin"), [
    (kvnb.InvalidKey, ValueError), (kvnb.InvalidOption, ValueError), (kvnb.InvalidValue, ValueError),
    (kvnb.InvalidBucketName, ValueError), (kvnb.KeyNotFound, LookupError), (kvnb.KeyDeleted, LookupError),
    (kvnb.BucketNotFound, LookupError), (kvnb.ConnectError, ConnectionError),
    (kvnb.ServerNotFound, FileNotFoundError), (kvnb.ServerStartError, RuntimeError),
])
def test_errors_are_also_the_builtin_a_python_user_expects(cls: type, builtin: type) -> None:
    assert issubclass(cls, builtin)


def test_conflict_on_update() -> None:
    err = kvnb.Conflict("featureX.enabled", 4, 7)
    assert (err.key, err.expected, err.current, err.operation) == ("featureX.enabled", 4, 7, "update")
    text = str(err)
    assert "update('featureX.enabled', last=4)" in text
    assert "revision 7" in text
    assert "Rule:" in text and "Fix:" in text


def test_conflict_on_create_and_unknown_current() -> None:
    created = kvnb.Conflict("k", 0, 12, "create")
    assert "already exists at revision 12" in str(created)
    assert "update(key, value, last=<current revision>)" in str(created)
    unknown = kvnb.Conflict("k", 3, None, "delete")
    assert "delete('k', last=3)" in str(unknown) and "has moved on" in str(unknown)


def test_conflict_on_create_names_the_create_rule() -> None:
    text = str(kvnb.Conflict("k", 0, 12, "create"))
    assert "Rule: create succeeds only when the key has no value (never written, deleted or purged)." in text
    assert "last=N" not in text  # create takes no last=; the update rule would only confuse
    assert "last=N succeeds only if N is the key's latest revision" in str(kvnb.Conflict("k", 4, 7))


def test_permission_denied_is_a_server_error_carrying_the_subject() -> None:
    err = kvnb.PermissionDenied("put('k'): your user may not publish to '$KV.b.k'.", subject="$KV.b.k")
    assert isinstance(err, kvnb.ServerError) and err.subject == "$KV.b.k"
    assert kvnb.PermissionDenied("no subject").subject is None


def test_key_not_found_messages() -> None:
    missing = kvnb.KeyNotFound("demo", "k")
    assert str(missing) == (
        "key 'k' not found in bucket 'demo'. Fix: put('k', value) first, or list what exists with keys().")
    at_revision = kvnb.KeyNotFound("demo", "k", 9)
    assert at_revision.revision == 9
    assert "belongs to another key" in str(at_revision) and "history('k')" in str(at_revision)


def test_key_deleted_carries_its_marker() -> None:
    deleted = kvnb.KeyDeleted("demo", "k", 5, "DEL")
    purged = kvnb.KeyDeleted("demo", "k", 6, "PURGE")
    assert (deleted.revision, deleted.operation, deleted.bucket, deleted.key) == (5, "DEL", "demo", "k")
    assert "was deleted at revision 5" in str(deleted)
    assert "was purged at revision 6" in str(purged)
    assert isinstance(purged, kvnb.KeyNotFound)
