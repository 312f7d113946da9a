"""The encrypted file store: streaming round trips, tamper evidence (every bit, every cut,
reordered, duplicated and appended chunks, swapped headers, wrong key and binding), what lands
on disk (no plaintext, random names, 0600/0700), id validation and the size limit."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hushdesk.crypto.aead import TAG_BYTES, DataKey, binding
from hushdesk.crypto.errors import CiphertextFormatError, CryptoError, DecryptionError, KeyUnavailableError
from hushdesk.crypto.file_format import (
    DEFAULT_CHUNK_BYTES,
    HEADER_BYTES,
    MAGIC,
    MAX_CHUNK_BYTES,
    MIN_CHUNK_BYTES,
)
from hushdesk.crypto.files import (
    EncryptedFileStore,
    FileTooLargeError,
    InvalidFileIdError,
    StoredFile,
    StoredFileNotFoundError,
)

SMALL_CHUNK = 32
SEALED_SMALL_CHUNK = SMALL_CHUNK + TAG_BYTES
KEY = DataKey(uuid.UUID(int=1), bytes(range(32)))
OTHER_KEY = DataKey(uuid.UUID(int=2), bytes(range(1, 33)))
WORKSPACE = uuid.UUID(int=10)
BOUND = binding("file", str(WORKSPACE), "attachment", str(uuid.UUID(int=11)))
OTHER_RECORD = binding("file", str(WORKSPACE), "attachment", str(uuid.UUID(int=12)))
# 80 bytes in chunks of 32: two full chunks and a final one of 16.
SMALL_PLAINTEXT = bytes(range(80))
SMALL_CHUNKS = [SMALL_PLAINTEXT[i : i + SMALL_CHUNK] for i in range(0, len(SMALL_PLAINTEXT), SMALL_CHUNK)]
MAX = 1 << 30


def read_all(
    store: EncryptedFileStore, file_id: str, *, key: DataKey = KEY, bound_to: bytes = BOUND
) -> bytes:
    with store.open(file_id, key=key, bound_to=bound_to) as reader:
        return b"".join(reader)


def read_until_failure(store: EncryptedFileStore, file_id: str) -> tuple[list[bytes], CryptoError | None]:
    """The chunks a reader gave out before it failed, and the error (None if it did not)."""
    received: list[bytes] = []
    try:
        with store.open(file_id, key=KEY, bound_to=BOUND) as reader:
            received.extend(reader)
    except CryptoError as exc:
        return received, exc
    return received, None


def files_under(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def pieces_of(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.fixture
def store(tmp_path: Path) -> EncryptedFileStore:
    return EncryptedFileStore(tmp_path / "uploads")


@pytest.fixture
def small_store(tmp_path: Path) -> EncryptedFileStore:
    return EncryptedFileStore(tmp_path / "uploads", chunk_bytes=SMALL_CHUNK)


@pytest.fixture
def small_file(small_store: EncryptedFileStore) -> tuple[StoredFile, bytes]:
    """A stored 80-byte file in 32-byte chunks, and its bytes on disk."""
    stored = small_store.write([SMALL_PLAINTEXT], key=KEY, bound_to=BOUND, max_bytes=MAX)
    return stored, small_store.path_of(stored.id).read_bytes()


def rewrite(store: EncryptedFileStore, file_id: str, content: bytes) -> None:
    store.path_of(file_id).write_bytes(content)


# Round trips ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size",
    [0, 1, DEFAULT_CHUNK_BYTES - 1, DEFAULT_CHUNK_BYTES, DEFAULT_CHUNK_BYTES + 1, 2 * DEFAULT_CHUNK_BYTES],
)
def test_a_file_round_trips_at_every_chunk_edge(store: EncryptedFileStore, size: int) -> None:
    plaintext = os.urandom(size)
    stored = store.write(io.BytesIO(plaintext), key=KEY, bound_to=BOUND, max_bytes=MAX)
    assert stored.size == size
    assert stored.key_id == KEY.id
    assert read_all(store, stored.id) == plaintext


def test_a_multi_megabyte_stream_round_trips_in_odd_pieces(store: EncryptedFileStore) -> None:
    plaintext = os.urandom(5 * 1024 * 1024 + 7)
    stored = store.write(pieces_of(plaintext, 7777), key=KEY, bound_to=BOUND, max_bytes=MAX)
    assert stored.size == len(plaintext)
    with store.open(stored.id, key=KEY, bound_to=BOUND) as reader:
        chunks = list(reader)
    assert all(len(chunk) == DEFAULT_CHUNK_BYTES for chunk in chunks[:-1])
    assert b"".join(chunks) == plaintext


def test_pieces_may_be_bytearrays_memoryviews_or_empty(small_store: EncryptedFileStore) -> None:
    pieces = [b"", bytearray(b"abc"), memoryview(b"defgh"), b"", b"i" * 100]
    stored = small_store.write(iter(pieces), key=KEY, bound_to=BOUND, max_bytes=MAX)  # type: ignore[arg-type]
    assert read_all(small_store, stored.id) == b"abcdefgh" + b"i" * 100


def test_writing_and_reading_stream_without_holding_the_file(tmp_path: Path) -> None:
    """An 8 MiB generated stream is sealed to disk as it arrives and read back chunk by chunk,
    with Python's peak allocation a few chunks, not the file."""
    root = tmp_path / "uploads"
    store = EncryptedFileStore(root)
    total_pieces = 128
    piece = b"\xa5" * DEFAULT_CHUNK_BYTES
    on_disk_while_streaming: list[int] = []

    def generated() -> Iterator[bytes]:
        for index in range(total_pieces):
            if index == total_pieces // 2:
                temporary = [p for p in files_under(root) if p.name.startswith(".tmp-")]
                on_disk_while_streaming.extend(p.stat().st_size for p in temporary)
            yield piece

    tracemalloc.start()
    try:
        stored = store.write(generated(), key=KEY, bound_to=BOUND, max_bytes=MAX)
        digest = hashlib.sha256()
        with store.open(stored.id, key=KEY, bound_to=BOUND) as reader:
            for chunk in reader:
                digest.update(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stored.size == total_pieces * len(piece)
    assert digest.digest() == hashlib.sha256(piece * total_pieces).digest()
    # Half-way through the input, about half the file was already sealed on disk.
    assert on_disk_while_streaming
    assert on_disk_while_streaming[0] >= (total_pieces // 2 - 2) * DEFAULT_CHUNK_BYTES
    assert peak < 1024 * 1024


def test_the_same_plaintext_is_stored_differently_each_time(small_store: EncryptedFileStore) -> None:
    first = small_store.write([SMALL_PLAINTEXT], key=KEY, bound_to=BOUND, max_bytes=MAX)
    second = small_store.write([SMALL_PLAINTEXT], key=KEY, bound_to=BOUND, max_bytes=MAX)
    assert first.id != second.id
    first_bytes = small_store.path_of(first.id).read_bytes()
    second_bytes = small_store.path_of(second.id).read_bytes()
    assert first_bytes[HEADER_BYTES:] != second_bytes[HEADER_BYTES:]  # a fresh salt, so a fresh file key


def test_files_are_opened_with_the_key_their_header_names(small_store: EncryptedFileStore) -> None:
    stored = small_store.write([SMALL_PLAINTEXT], key=OTHER_KEY, bound_to=BOUND, max_bytes=MAX)
    asked: list[uuid.UUID] = []

    def lookup(key_id: uuid.UUID) -> DataKey:
        asked.append(key_id)
        return {KEY.id: KEY, OTHER_KEY.id: OTHER_KEY}[key_id]

    with small_store.open(stored.id, key=lookup, bound_to=BOUND) as reader:
        assert b"".join(reader) == SMALL_PLAINTEXT
    assert asked == [OTHER_KEY.id]


def test_a_destroyed_key_fails_with_the_lookups_error(
    small_file: tuple[StoredFile, bytes], small_store: EncryptedFileStore
) -> None:
    def destroyed(key_id: uuid.UUID) -> DataKey:
        raise KeyUnavailableError("destroyed")

    with pytest.raises(KeyUnavailableError):
        small_store.open(small_file[0].id, key=destroyed, bound_to=BOUND)


# Tamper evidence ------------------------------------------------------------------------------


def test_every_flipped_bit_fails_and_no_bad_chunk_is_given_out(
    small_store: EncryptedFileStore, small_file: tuple[StoredFile, bytes]
) -> None:
    stored, original = small_file
    assert len(original) == HEADER_BYTES + 2 * SEALED_SMALL_CHUNK + 16 + TAG_BYTES
    for position in range(len(original)):
        for bit in range(8):
            tampered = bytearray(original)
            tampered[position] ^= 1 << bit
            rewrite(small_store, stored.id, bytes(tampered))
            received, error = read_until_failure(small_store, stored.id)
            if position < HEADER_BYTES:
                # The magic, version and chunk size are parsed first; the rest of the header
                # fails authentication (or names another key) before any chunk is given out.
                assert isinstance(error, DecryptionError | CiphertextFormatError), (position, bit)
                assert received == []
            else:
                assert isinstance(error, DecryptionError), (position, bit)
                bad_chunk = (position - HEADER_BYTES) // SEALED_SMALL_CHUNK
                assert received == SMALL_CHUNKS[:bad_chunk], (position, bit)


@given(data=st.data())
def test_any_corruption_of_a_file_fails(
    data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    store = EncryptedFileStore(tmp_path_factory.mktemp("uploads"), chunk_bytes=SMALL_CHUNK)
    plaintext = data.draw(st.binary(max_size=200))
    stored = store.write([plaintext], key=KEY, bound_to=BOUND, max_bytes=MAX)
    original = store.path_of(stored.id).read_bytes()
    position = data.draw(st.integers(0, len(original) - 1))
    mask = data.draw(st.integers(1, 255))
    tampered = bytearray(original)
    tampered[position] ^= mask
    rewrite(store, stored.id, bytes(tampered))
    with pytest.raises((DecryptionError, CiphertextFormatError)):
        read_all(store, stored.id)


def test_a_file_cut_at_any_byte_fails(
    small_store: EncryptedFileStore, small_file: tuple[StoredFile, bytes]
) -> None:
    stored, original = small_file
    for length in range(len(original)):
        rewrite(small_store, stored.id, original[:length])
        received, error = read_until_failure(small_store, stored.id)
        assert isinstance(error, DecryptionError), length
        assert b"".join(received) != SMALL_PLAINTEXT


def test_a_file_cut_at_a_chunk_boundary_fails_after_the_whole_chunks(
    small_store: EncryptedFileStore, small_file: tuple[StoredFile, bytes]
) -> None:
    """The reader may have given out the chunks before the cut, but it ends in an error,
    never in a clean end of file."""
    stored, original = small_file
    for kept in range(3):
        rewrite(small_store, stored.id, original[: HEADER_BYTES + kept * SEALED_SMALL_CHUNK])
        received, error = read_until_failure(small_store, stored.id)
        assert isinstance(error, DecryptionError), kept
        assert received == SMALL_CHUNKS[: max(kept - 1, 0)]


def sealed_chunks_of(original: bytes) -> list[bytes]:
    body = original[HEADER_BYTES:]
    return [body[i : i + SEALED_SMALL_CHUNK] for i in range(0, len(body), SEALED_SMALL_CHUNK)]


@pytest.mark.parametrize(
    "arrangement",
    [
        pytest.param([1, 0, 2], id="first-two-swapped"),
        pytest.param([0, 2, 1], id="final-moved-earlier"),
        pytest.param([0, 0, 1, 2], id="first-duplicated"),
        pytest.param([0, 1, 1, 2], id="middle-duplicated"),
        pytest.param([0, 2], id="middle-dropped"),
        pytest.param([1, 2], id="first-dropped"),
        pytest.param([0, 1, 2, 2], id="final-duplicated"),
        pytest.param([2], id="only-the-final"),
    ],
)
def test_reordered_dropped_or_duplicated_chunks_fail(
    small_store: EncryptedFileStore, small_file: tuple[StoredFile, bytes], arrangement: list[int]
) -> None:
    stored, original = small_file
    chunks = sealed_chunks_of(original)
    rewrite(small_store, stored.id, original[:HEADER_BYTES] + b"".join(chunks[i] for i in arrangement))
    with pytest.raises(DecryptionError):
        read_all(small_store, stored.id)


@pytest.mark.parametrize(
    "suffix",
    [b"\x00", b"x" * TAG_BYTES, b"y" * SEALED_SMALL_CHUNK],
    ids=["1-byte", "tag-sized", "chunk-sized"],
)
def test_appended_bytes_fail(
    small_store: EncryptedFileStore, small_file: tuple[StoredFile, bytes], suffix: bytes
) -> None:
    stored, original = small_file
    rewrite(small_store, stored.id, original + suffix)
    received, error = read_until_failure(small_store, stored.id)
    assert isinstance(error, DecryptionError)
    assert received == SMALL_CHUNKS[:2]  # the real final chunk, no longer last, is refused


def test_another_files_header_fails(
    small_store: EncryptedFileStore, small_file: tuple[StoredFile, bytes]
) -> None:
    stored, original = small_file
    other = small_store.write([SMALL_PLAINTEXT], key=KEY, bound_to=BOUND, max_bytes=MAX)
    other_header = small_store.path_of(other.id).read_bytes()[:HEADER_BYTES]
    rewrite(small_store, stored.id, other_header + original[HEADER_BYTES:])
    with pytest.raises(DecryptionError):
        read_all(small_store, stored.id)


def test_chunks_spliced_from_another_file_fail(
    small_store: EncryptedFileStore, small_file: tuple[StoredFile, bytes]
) -> None:
    stored, original = small_file
    other = small_store.write([SMALL_PLAINTEXT], key=KEY, bound_to=BOUND, max_bytes=MAX)
    other_chunks = sealed_chunks_of(small_store.path_of(other.id).read_bytes())
    chunks = sealed_chunks_of(original)
    rewrite(small_store, stored.id, original[:HEADER_BYTES] + chunks[0] + other_chunks[1] + chunks[2])
    received, error = read_until_failure(small_store, stored.id)
    assert isinstance(error, DecryptionError)
    assert received == SMALL_CHUNKS[:1]


def test_a_file_copied_to_another_record_fails(
    small_store: EncryptedFileStore, small_file: tuple[StoredFile, bytes]
) -> None:
    stored, original = small_file
    copy = small_store.write([b"the other record's file"], key=KEY, bound_to=OTHER_RECORD, max_bytes=MAX)
    rewrite(small_store, copy.id, original)
    with pytest.raises(DecryptionError):
        read_all(small_store, copy.id, bound_to=OTHER_RECORD)
    with pytest.raises(DecryptionError):
        read_all(small_store, stored.id, bound_to=OTHER_RECORD)


def test_another_key_is_refused_without_trying_it(
    small_store: EncryptedFileStore, small_file: tuple[StoredFile, bytes]
) -> None:
    with pytest.raises(DecryptionError, match="another key"):
        small_store.open(small_file[0].id, key=OTHER_KEY, bound_to=BOUND)


def test_wrong_key_material_under_the_right_id_fails(
    small_store: EncryptedFileStore, small_file: tuple[StoredFile, bytes]
) -> None:
    impostor = DataKey(KEY.id, bytes(32))
    with pytest.raises(DecryptionError):
        read_all(small_store, small_file[0].id, key=impostor)


def test_a_failed_reader_keeps_failing(
    small_store: EncryptedFileStore, small_file: tuple[StoredFile, bytes]
) -> None:
    stored, original = small_file
    rewrite(small_store, stored.id, original[:-1])
    with small_store.open(stored.id, key=KEY, bound_to=BOUND) as reader:
        assert next(reader) == SMALL_CHUNKS[0]
        assert next(reader) == SMALL_CHUNKS[1]
        with pytest.raises(DecryptionError):
            next(reader)
        with pytest.raises(DecryptionError):
            next(reader)


@pytest.mark.parametrize(
    ("offset", "value"),
    [(0, b"X"), (len(MAGIC), b"\x02"), (len(MAGIC), b"\x00")],
    ids=["magic", "version-2", "version-0"],
)
def test_a_foreign_or_future_format_is_a_format_error(
    small_store: EncryptedFileStore, small_file: tuple[StoredFile, bytes], offset: int, value: bytes
) -> None:
    stored, original = small_file
    rewrite(small_store, stored.id, original[:offset] + value + original[offset + 1 :])
    with pytest.raises(CiphertextFormatError):
        small_store.open(stored.id, key=KEY, bound_to=BOUND)


@pytest.mark.parametrize("chunk_bytes", [0, MIN_CHUNK_BYTES - 1, MAX_CHUNK_BYTES + 1, 2**32 - 1])
def test_a_header_naming_an_impossible_chunk_size_is_refused_before_reading(
    small_store: EncryptedFileStore, small_file: tuple[StoredFile, bytes], chunk_bytes: int
) -> None:
    stored, original = small_file
    rewrite(
        small_store,
        stored.id,
        original[: HEADER_BYTES - 4] + chunk_bytes.to_bytes(4, "big") + original[HEADER_BYTES:],
    )
    with pytest.raises(CiphertextFormatError):
        small_store.open(stored.id, key=KEY, bound_to=BOUND)


# On disk --------------------------------------------------------------------------------------


def test_the_plaintext_never_reaches_the_disk(tmp_path: Path) -> None:
    root = tmp_path / "uploads"
    store = EncryptedFileStore(root)
    canary = b"CANARY-7f3a9c-confidential "
    stored = store.write(pieces_of(canary * 20_000, 4096), key=KEY, bound_to=BOUND, max_bytes=MAX)
    assert read_all(store, stored.id) == canary * 20_000
    for path in files_under(tmp_path):
        content = path.read_bytes()
        assert b"CANARY" not in content
        assert canary[:8] not in content
        assert b"confidential" not in path.name.encode()


def test_files_live_under_random_names_in_private_folders(tmp_path: Path) -> None:
    root = tmp_path / "data" / "uploads"
    store = EncryptedFileStore(root)
    stored = store.write([b"hello"], key=KEY, bound_to=BOUND, max_bytes=MAX)
    path = store.path_of(stored.id)
    assert path.relative_to(root) == Path(stored.id[:2], stored.id[2:4], stored.id)
    assert files_under(root) == [path]  # no temporary file left, nothing else written
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for folder in (root, path.parent, path.parent.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700


@pytest.mark.parametrize(
    "file_id",
    [
        "../../../../etc/passwd",
        "ab/cd/0123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcde/",
        "..",
        "",
        "0123456789ABCDEF0123456789ABCDEF",
        "0123456789abcdef0123456789abcde",
        "0123456789abcdef0123456789abcdef0",
        "0123456789abcdef0123456789abcdef\n",
        "0123456789abcdef0123456789abcde\x00",
        "/0123456789abcdef0123456789abcde",
        "0123456789abcdef0123456789abcdeg",
        "\uff10" * 10 + "abcdef0123456789abcdef",  # fullwidth digits: \d would match them
    ],
)
def test_ids_that_are_not_store_ids_are_refused_before_any_filesystem_use(
    tmp_path: Path, file_id: str
) -> None:
    root = tmp_path / "uploads"
    store = EncryptedFileStore(root)
    with pytest.raises(InvalidFileIdError):
        store.open(file_id, key=KEY, bound_to=BOUND)
    with pytest.raises(InvalidFileIdError):
        store.delete(file_id)
    with pytest.raises(ValueError, match="not a stored file id"):
        store.path_of(file_id)
    assert not root.exists()


def test_a_non_string_id_is_refused(store: EncryptedFileStore) -> None:
    with pytest.raises(InvalidFileIdError):
        store.path_of(b"0123456789abcdef0123456789abcdef")  # type: ignore[arg-type]


def test_an_unknown_id_is_not_found(store: EncryptedFileStore) -> None:
    with pytest.raises(StoredFileNotFoundError):
        store.open("0" * 32, key=KEY, bound_to=BOUND)


def test_delete_removes_the_file_and_empty_folders_and_is_idempotent(tmp_path: Path) -> None:
    root = tmp_path / "uploads"
    store = EncryptedFileStore(root)
    stored = store.write([b"hello"], key=KEY, bound_to=BOUND, max_bytes=MAX)
    path = store.path_of(stored.id)
    assert store.delete(stored.id) is True
    assert not path.exists()
    assert not path.parent.parent.exists()
    assert root.is_dir()
    assert store.delete(stored.id) is False
    with pytest.raises(StoredFileNotFoundError):
        store.open(stored.id, key=KEY, bound_to=BOUND)


def test_delete_keeps_folders_that_hold_other_files(tmp_path: Path) -> None:
    root = tmp_path / "uploads"
    store = EncryptedFileStore(root)
    stored = store.write([b"hello"], key=KEY, bound_to=BOUND, max_bytes=MAX)
    neighbour = store.path_of(stored.id).with_name(stored.id[:-1] + ("0" if stored.id[-1] != "0" else "1"))
    neighbour.write_bytes(b"")
    assert store.delete(stored.id) is True
    assert neighbour.exists()


# Size limit and failed writes -----------------------------------------------------------------


def test_a_stream_of_exactly_max_bytes_is_stored(small_store: EncryptedFileStore) -> None:
    stored = small_store.write([b"a" * 50, b"b" * 50], key=KEY, bound_to=BOUND, max_bytes=100)
    assert stored.size == 100


def test_a_stream_over_max_bytes_stops_reading_and_leaves_nothing(tmp_path: Path) -> None:
    root = tmp_path / "uploads"
    store = EncryptedFileStore(root, chunk_bytes=SMALL_CHUNK)
    pulled: list[int] = []

    def endless() -> Iterator[bytes]:
        while True:
            pulled.append(1)
            yield b"z" * 10

    with pytest.raises(FileTooLargeError) as raised:
        store.write(endless(), key=KEY, bound_to=BOUND, max_bytes=100)
    assert raised.value.max_bytes == 100
    assert len(pulled) == 11
    assert list(root.rglob("*")) == []  # not even an empty folder


def test_a_file_object_over_max_bytes_leaves_nothing(tmp_path: Path) -> None:
    root = tmp_path / "uploads"
    store = EncryptedFileStore(root)
    with pytest.raises(FileTooLargeError):
        store.write(
            io.BytesIO(os.urandom(3 * DEFAULT_CHUNK_BYTES)),
            key=KEY,
            bound_to=BOUND,
            max_bytes=DEFAULT_CHUNK_BYTES,
        )
    assert list(root.rglob("*")) == []  # not even an empty folder


def test_a_stream_that_breaks_leaves_nothing(tmp_path: Path) -> None:
    root = tmp_path / "uploads"
    store = EncryptedFileStore(root, chunk_bytes=SMALL_CHUNK)

    def broken() -> Iterator[bytes]:
        yield b"x" * 100
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        store.write(broken(), key=KEY, bound_to=BOUND, max_bytes=MAX)
    assert list(root.rglob("*")) == []  # not even an empty folder


def test_a_text_stream_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    root = tmp_path / "uploads"
    store = EncryptedFileStore(root)
    with pytest.raises(TypeError):
        store.write(io.StringIO("text"), key=KEY, bound_to=BOUND, max_bytes=MAX)  # type: ignore[arg-type]
    assert list(root.rglob("*")) == []  # not even an empty folder


def test_a_negative_limit_is_refused(store: EncryptedFileStore) -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        store.write([b""], key=KEY, bound_to=BOUND, max_bytes=-1)


@pytest.mark.parametrize("chunk_bytes", [0, MIN_CHUNK_BYTES - 1, MAX_CHUNK_BYTES + 1])
def test_a_store_refuses_an_impossible_chunk_size(tmp_path: Path, chunk_bytes: int) -> None:
    with pytest.raises(ValueError, match="chunk size"):
        EncryptedFileStore(tmp_path, chunk_bytes=chunk_bytes)
