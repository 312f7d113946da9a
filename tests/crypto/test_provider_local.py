"""The local provider: the key file's creation, permissions and rotation, the environment key,
and what makes an unwrap fail."""

from __future__ import annotations

import base64
import json
import os
import stat
import threading
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hushdesk.crypto import aead
from hushdesk.crypto.errors import KeyProviderError
from hushdesk.crypto.providers import KeyProvider, LocalKeyProvider, WrappedKey

CONTEXT = {"purpose": "workspace-dek", "workspace": str(uuid.UUID(int=1)), "key": str(uuid.UUID(int=2))}
ENV_KEY = base64.b64encode(bytes(range(32))).decode()

contexts = st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=40), min_size=1, max_size=5)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_provider_satisfies_the_interface(tmp_path: Path) -> None:
    typed: KeyProvider = LocalKeyProvider.from_keys_dir(tmp_path / "keys")
    assert typed.name == "local"


def test_first_use_creates_a_private_key_file_in_a_private_folder(tmp_path: Path) -> None:
    keys_dir = tmp_path / "deep" / "keys"
    provider = LocalKeyProvider.from_keys_dir(keys_dir)
    key_file = keys_dir / "master.key"
    assert provider.key_file == key_file
    assert mode_of(keys_dir) == 0o700
    assert mode_of(key_file) == 0o600
    document = json.loads(key_file.read_bytes())
    assert document["version"] == 1
    assert document["current"] == provider.current_kek_id()
    assert uuid.UUID(provider.current_kek_id()).version == 7
    assert len(base64.b64decode(document["keys"][document["current"]])) == 32
    assert [path.name for path in keys_dir.iterdir()] == ["master.key"]


def test_the_folder_is_private_even_under_a_permissive_umask(tmp_path: Path) -> None:
    previous = os.umask(0o277)
    try:
        LocalKeyProvider.from_keys_dir(tmp_path / "keys")
    finally:
        os.umask(previous)
    assert mode_of(tmp_path / "keys") == 0o700


def test_reloading_reads_the_same_key(tmp_path: Path) -> None:
    first = LocalKeyProvider.from_keys_dir(tmp_path / "keys")
    wrapped = first.wrap(b"k" * 32, context=CONTEXT)
    second = LocalKeyProvider.from_keys_dir(tmp_path / "keys")
    assert second.current_kek_id() == first.current_kek_id()
    assert second.unwrap(wrapped, context=CONTEXT) == b"k" * 32


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_a_key_file_open_to_others_is_refused(tmp_path: Path, mode: int) -> None:
    LocalKeyProvider.from_keys_dir(tmp_path / "keys")
    key_file = tmp_path / "keys" / "master.key"
    key_file.chmod(mode)
    with pytest.raises(KeyProviderError, match=r"chmod 600") as caught:
        LocalKeyProvider.from_keys_dir(tmp_path / "keys")
    assert str(key_file) in str(caught.value)


def test_a_keys_folder_writable_by_others_is_refused(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir()
    keys_dir.chmod(0o777)
    with pytest.raises(KeyProviderError, match=r"chmod 700"):
        LocalKeyProvider.from_keys_dir(keys_dir)


@pytest.mark.parametrize(
    "content",
    [b"", b"not json", b"[]", b'{"version": 2, "current": "x", "keys": {}}', b'{"version": 1, "keys": {}}'],
    ids=["empty", "not-json", "not-an-object", "another-version", "no-keys"],
)
def test_a_malformed_key_file_is_refused_without_quoting_it(tmp_path: Path, content: bytes) -> None:
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir(mode=0o700)
    key_file = keys_dir / "master.key"
    key_file.write_bytes(content)
    key_file.chmod(0o600)
    with pytest.raises(KeyProviderError, match="malformed") as caught:
        LocalKeyProvider.from_keys_dir(keys_dir)
    assert str(caught.value) == f"the key file {key_file} is malformed"


def test_a_key_of_the_wrong_length_in_the_file_is_refused(tmp_path: Path) -> None:
    provider = LocalKeyProvider.from_keys_dir(tmp_path / "keys")
    key_file = tmp_path / "keys" / "master.key"
    document = json.loads(key_file.read_bytes())
    document["keys"][provider.current_kek_id()] = base64.b64encode(b"short").decode()
    key_file.write_text(json.dumps(document))
    with pytest.raises(KeyProviderError, match="malformed"):
        LocalKeyProvider.from_keys_dir(tmp_path / "keys")


def test_concurrent_first_runs_agree_on_one_key_file(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    starters = 8
    barrier = threading.Barrier(starters)
    results: list[str] = []
    errors: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        try:
            results.append(LocalKeyProvider.from_keys_dir(keys_dir).current_kek_id())
        except BaseException as exc:  # noqa: BLE001 (reported by the assertion below)
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(starters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == starters
    assert len(set(results)) == 1
    assert [path.name for path in keys_dir.iterdir()] == ["master.key"]
    assert json.loads((keys_dir / "master.key").read_bytes())["current"] == results[0]


def test_environment_key_round_trip_and_stable_id() -> None:
    provider = LocalKeyProvider.from_base64(ENV_KEY)
    wrapped = provider.wrap(b"k" * 32, context=CONTEXT)
    again = LocalKeyProvider.from_base64(ENV_KEY + "\n")
    assert again.current_kek_id() == provider.current_kek_id() == wrapped.kek_id
    assert again.unwrap(wrapped, context=CONTEXT) == b"k" * 32
    assert provider.key_file is None


def test_environment_key_id_does_not_reveal_the_key() -> None:
    provider = LocalKeyProvider.from_base64(ENV_KEY)
    assert bytes(range(32))[:16] != uuid.UUID(provider.current_kek_id()).bytes
    assert uuid.UUID(provider.current_kek_id()).version == 8


def test_another_environment_key_names_another_kek() -> None:
    wrapped = LocalKeyProvider.from_base64(ENV_KEY).wrap(b"k" * 32, context=CONTEXT)
    other = LocalKeyProvider.from_base64(base64.b64encode(b"\x01" * 32).decode())
    with pytest.raises(KeyProviderError, match="unknown KEK"):
        other.unwrap(wrapped, context=CONTEXT)


@pytest.mark.parametrize(
    "value",
    [base64.b64encode(b"x" * 31).decode(), base64.b64encode(b"x" * 33).decode(), "", "not base64!"],
    ids=["31-bytes", "33-bytes", "empty", "not-base64"],
)
def test_an_environment_key_that_is_not_32_bytes_is_refused(value: str) -> None:
    with pytest.raises(KeyProviderError, match="environment master key") as caught:
        LocalKeyProvider.from_base64(value)
    assert value == "" or value not in str(caught.value)


def test_an_environment_key_cannot_rotate() -> None:
    with pytest.raises(KeyProviderError, match="not supported for a master key from the environment"):
        LocalKeyProvider.from_base64(ENV_KEY).rotate()


def test_rotate_keeps_old_wraps_unwrappable_and_new_wraps_use_the_new_kek(tmp_path: Path) -> None:
    provider = LocalKeyProvider.from_keys_dir(tmp_path / "keys")
    old_id = provider.current_kek_id()
    before = provider.wrap(b"a" * 32, context=CONTEXT)
    new_id = provider.rotate()
    after = provider.wrap(b"b" * 32, context=CONTEXT)
    assert new_id != old_id
    assert provider.current_kek_id() == new_id == after.kek_id
    assert before.kek_id == old_id
    assert provider.unwrap(before, context=CONTEXT) == b"a" * 32
    assert provider.unwrap(after, context=CONTEXT) == b"b" * 32
    key_file = tmp_path / "keys" / "master.key"
    assert mode_of(key_file) == 0o600
    assert set(json.loads(key_file.read_bytes())["keys"]) == {old_id, new_id}
    assert sorted(path.name for path in key_file.parent.iterdir()) == ["master.key", "master.key.lock"]


def test_rotations_from_two_loaded_providers_both_survive(tmp_path: Path) -> None:
    # Two processes that loaded the same file: each rotation re-reads it under the lock.
    first = LocalKeyProvider.from_keys_dir(tmp_path / "keys")
    second = LocalKeyProvider.from_keys_dir(tmp_path / "keys")
    original = first.current_kek_id()
    one, two = first.rotate(), second.rotate()
    reloaded = LocalKeyProvider.from_keys_dir(tmp_path / "keys")
    assert reloaded.current_kek_id() == two
    assert set(json.loads((tmp_path / "keys" / "master.key").read_bytes())["keys"]) == {original, one, two}


def test_a_provider_learns_of_another_process_rotation_when_unwrapping(tmp_path: Path) -> None:
    stale = LocalKeyProvider.from_keys_dir(tmp_path / "keys")
    rotating = LocalKeyProvider.from_keys_dir(tmp_path / "keys")
    rotating.rotate()
    wrapped = rotating.wrap(b"k" * 32, context=CONTEXT)
    assert stale.unwrap(wrapped, context=CONTEXT) == b"k" * 32


def test_a_tampered_blob_fails(tmp_path: Path) -> None:
    provider = LocalKeyProvider.from_keys_dir(tmp_path / "keys")
    wrapped = provider.wrap(b"k" * 32, context=CONTEXT)
    blob = bytearray(wrapped.blob)
    blob[-1] ^= 0x01
    with pytest.raises(KeyProviderError, match="did not authenticate"):
        provider.unwrap(WrappedKey(wrapped.kek_id, bytes(blob)), context=CONTEXT)


def test_a_truncated_blob_fails() -> None:
    provider = LocalKeyProvider.from_base64(ENV_KEY)
    wrapped = provider.wrap(b"k" * 32, context=CONTEXT)
    with pytest.raises(KeyProviderError):
        provider.unwrap(WrappedKey(wrapped.kek_id, wrapped.blob[: aead.OVERHEAD - 1]), context=CONTEXT)


def test_a_blob_moved_to_another_workspace_fails() -> None:
    provider = LocalKeyProvider.from_base64(ENV_KEY)
    wrapped = provider.wrap(b"k" * 32, context=CONTEXT)
    with pytest.raises(KeyProviderError, match="did not authenticate") as caught:
        provider.unwrap(wrapped, context={**CONTEXT, "workspace": str(uuid.UUID(int=9))})
    assert wrapped.blob.hex() not in str(caught.value)


@pytest.mark.parametrize("kek_id", [str(uuid.UUID(int=7)), "not-a-uuid", str(uuid.UUID(int=7)).upper()])
def test_an_unknown_kek_id_fails_without_trying_other_keys(tmp_path: Path, kek_id: str) -> None:
    provider = LocalKeyProvider.from_keys_dir(tmp_path / "keys")
    wrapped = provider.wrap(b"k" * 32, context=CONTEXT)
    with pytest.raises(KeyProviderError, match="unknown KEK"):
        provider.unwrap(WrappedKey(kek_id, wrapped.blob), context=CONTEXT)


def test_a_blob_relabelled_with_another_known_kek_fails(tmp_path: Path) -> None:
    provider = LocalKeyProvider.from_keys_dir(tmp_path / "keys")
    wrapped = provider.wrap(b"k" * 32, context=CONTEXT)
    newer = provider.rotate()
    with pytest.raises(KeyProviderError, match="did not authenticate"):
        provider.unwrap(WrappedKey(newer, wrapped.blob), context=CONTEXT)


@pytest.mark.parametrize(
    ("key", "context", "message"),
    [
        (b"", CONTEXT, "1 to 4096 bytes"),
        (b"x" * 4097, CONTEXT, "1 to 4096 bytes"),
        (b"x" * 32, {}, "encryption context is required"),
        (b"x" * 32, {"": "x"}, "must not be empty"),
    ],
    ids=["empty-key", "oversized-key", "empty-context", "empty-name"],
)
def test_bad_wrap_requests_are_refused(key: bytes, context: dict[str, str], message: str) -> None:
    with pytest.raises(KeyProviderError, match=message):
        LocalKeyProvider.from_base64(ENV_KEY).wrap(key, context=context)


def test_a_wrapped_key_repr_leaves_the_blob_out() -> None:
    wrapped = LocalKeyProvider.from_base64(ENV_KEY).wrap(b"k" * 32, context=CONTEXT)
    assert wrapped.blob.hex() not in repr(wrapped)
    assert repr(wrapped.blob) not in repr(wrapped)


@given(key=st.binary(min_size=1, max_size=4096), context=contexts)
def test_unwrap_inverts_wrap(key: bytes, context: dict[str, str]) -> None:
    provider = LocalKeyProvider.from_base64(ENV_KEY)
    assert provider.unwrap(provider.wrap(key, context=context), context=dict(context)) == key


@given(context=contexts, other=contexts)
def test_unwrap_under_any_other_context_fails(context: dict[str, str], other: dict[str, str]) -> None:
    provider = LocalKeyProvider.from_base64(ENV_KEY)
    wrapped = provider.wrap(b"k" * 32, context=context)
    if other == context:
        assert provider.unwrap(wrapped, context=other) == b"k" * 32
    else:
        with pytest.raises(KeyProviderError):
            provider.unwrap(wrapped, context=other)
