"""Encryption at rest: what ``hushdesk.crypto`` costs over the bare primitive, in one run.

- AEAD values: encrypt then decrypt a 200-byte message through ``aead.encrypt/decrypt``
  (versioned format, key id check, binding), against raw ``AESGCM`` with the same nonce size
  and the same amount of associated data, once building the ``AESGCM`` object per call (as
  ``aead`` does) and once reusing a cached object. Each case is timed in batches of
  ``--batch-size`` operations with ``time.perf_counter_ns``, the cases interleaved batch by
  batch in rotating order; the figure is the median per-operation time over the batches.
- Encrypted file store: MiB/s writing and reading a ``--file-mib`` stream through
  ``EncryptedFileStore`` against a plain ``shutil.copyfileobj`` copy, in a temporary folder,
  interleaved over ``--runs`` runs. The store fsyncs each file and its folder before it
  returns, so the plain write fsyncs its file too; both reads come from the page cache (each
  file was just written).

More operation cases: write a function returning a list of ``OpCase`` (its first case is the
group's reference) and add it to ``OP_CASE_GROUPS``.

Usage: .venv/bin/python bench/crypto_bench.py [--batches 300 --batch-size 500 --file-mib 64 --runs 5]
Results: printed, and written to bench/results/crypto-<time>.json.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import shutil
import ssl
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

import cryptography
from cryptography.hazmat.backends.openssl.backend import backend as openssl_backend
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.orm import Session

from harness import machine_facts, median, print_table, write_result
from hushdesk.crypto import aead
from hushdesk.crypto.aead import NONCE_BYTES, DataKey, column_binding
from hushdesk.crypto.columns import EncryptedText, open_value, seal_value
from hushdesk.crypto.file_format import DEFAULT_CHUNK_BYTES
from hushdesk.crypto.files import EncryptedFileStore, StoredFile
from hushdesk.crypto.keyring import Keyring
from hushdesk.crypto.keystore import ContactKeyStore
from hushdesk.crypto.providers import LocalKeyProvider

MESSAGE_BYTES = 200
MIB = 1024 * 1024
COPY_BUFFER_BYTES = 64 * 1024
T = TypeVar("T")


@dataclass(frozen=True)
class OpCase:
    """One way of doing an operation; ``run`` does it once."""

    name: str
    run: Callable[[], object]


def aead_cases() -> list[OpCase]:
    """Encrypt + decrypt of one 200-byte value; the reference is raw AESGCM, cached object."""
    key = DataKey.generate(uuid.uuid4())
    message = os.urandom(MESSAGE_BYTES)
    bound_to = column_binding(workspace_id=uuid.uuid4(), table="message", column="text", row_id=uuid.uuid4())
    # The same associated data aead authenticates: version, key id, binding.
    associated = bytes([aead.VERSION]) + key.id.bytes + bound_to
    cached = AESGCM(key.material)

    def raw_cached() -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return cached.decrypt(nonce, cached.encrypt(nonce, message, associated), associated)

    def raw_per_call() -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(key.material).encrypt(nonce, message, associated)
        return AESGCM(key.material).decrypt(nonce, sealed, associated)

    def through_aead() -> bytes:
        return aead.decrypt(key, aead.encrypt(key, message, bound_to=bound_to), bound_to=bound_to)

    assert through_aead() == raw_cached() == raw_per_call() == message
    return [
        OpCase("raw AESGCM, cached object", raw_cached),
        OpCase("raw AESGCM, object per call", raw_per_call),
        OpCase("aead.encrypt + aead.decrypt", through_aead),
    ]


def column_cases() -> list[OpCase]:
    """The per-value work of an encrypted column on the cached-key path: binding the value to
    its row, encoding, sealing; then finding the key its header names in the keyring's cache,
    opening and decoding. (The database round trip is not in it: that is the same with or
    without encryption.)"""
    workdir = Path(tempfile.mkdtemp(prefix="hushdesk-bench-"))
    keyring = Keyring(
        provider=LocalKeyProvider.from_base64(base64.b64encode(os.urandom(32)).decode()),
        contact_keys=ContactKeyStore.open(f"sqlite:///{workdir / 'contact-keys.sqlite3'}"),
    )
    column = EncryptedText()
    message = os.urandom(MESSAGE_BYTES // 2).hex()  # 200 characters of text
    workspace_id, row_id = uuid.uuid4(), uuid.uuid4()
    # A contact's key, made through the real path: wrapped, stored, and left in the cache.
    key = keyring.contact_key_for_writing(workspace_id=workspace_id, contact_id=uuid.uuid4())

    def through_column() -> object:
        bound_to = column_binding(workspace_id=workspace_id, table="message", column="text", row_id=row_id)
        sealed = seal_value(column, key, message, bound_to=bound_to)
        found = keyring.key_for_ciphertext(cast(Session, None), sealed.ciphertext)  # a cache hit
        reopened = column_binding(workspace_id=workspace_id, table="message", column="text", row_id=row_id)
        return open_value(column, found, sealed, bound_to=reopened)

    assert through_column() == message
    return [OpCase("encrypted column (cached key)", through_column)]


OP_CASE_GROUPS: list[Callable[[], list[OpCase]]] = [aead_cases, column_cases]


def time_batch(case: OpCase, batch_size: int) -> float:
    """Nanoseconds per operation over one batch."""
    run = case.run
    started = time.perf_counter_ns()
    for _ in range(batch_size):
        run()
    return (time.perf_counter_ns() - started) / batch_size


def measure_ops(cases: Sequence[OpCase], *, batches: int, batch_size: int) -> list[dict[str, Any]]:
    """Per case: the median ns per operation, and its ratio and difference to ``cases[0]``."""
    for case in cases:  # warm-up
        time_batch(case, batch_size)
    samples: dict[str, list[float]] = {case.name: [] for case in cases}
    for round_index in range(batches):
        shift = round_index % len(cases)
        for case in [*cases[shift:], *cases[:shift]]:
            samples[case.name].append(time_batch(case, batch_size))
    reference = median(samples[cases[0].name])
    results = []
    for case in cases:
        values = sorted(samples[case.name])
        per_op = median(values)
        results.append(
            {
                "case": case.name,
                "median_us": per_op / 1000,
                "p10_us": values[len(values) // 10] / 1000,
                "p90_us": values[len(values) * 9 // 10] / 1000,
                "vs_reference": per_op / reference,
                "added_us": (per_op - reference) / 1000,
                "batch_ns": values,
            }
        )
    return results


class _Discard(io.RawIOBase):
    """A sink that keeps nothing (the read side's destination)."""

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return len(data)


def plain_write(payload: bytes, destination: Path) -> None:
    with destination.open("wb") as out:
        shutil.copyfileobj(io.BytesIO(payload), out, COPY_BUFFER_BYTES)
        out.flush()
        os.fsync(out.fileno())


def plain_read(source: Path) -> None:
    with source.open("rb") as stream:
        shutil.copyfileobj(stream, _Discard(), COPY_BUFFER_BYTES)


def measure_file_store(*, file_mib: int, runs: int, workdir: Path) -> list[dict[str, Any]]:
    """MiB/s per variant over ``runs`` interleaved runs, with the ratio to the plain copy."""
    payload = os.urandom(file_mib * MIB)
    key = DataKey.generate(uuid.uuid4())
    bound_to = aead.binding("file", str(uuid.uuid4()), "attachment", str(uuid.uuid4()))
    store = EncryptedFileStore(workdir / "uploads")
    plain_path = workdir / "plain.bin"
    seconds: dict[str, list[float]] = {
        "store write": [],
        "plain write": [],
        "store read": [],
        "plain read": [],
    }

    def timed(name: str, action: Callable[[], T]) -> T:
        started = time.perf_counter()
        outcome = action()
        seconds[name].append(time.perf_counter() - started)
        return outcome

    def read_store(file_id: str) -> None:
        with store.open(file_id, key=key, bound_to=bound_to) as reader:
            for _ in reader:
                pass

    def write_store() -> StoredFile:
        return store.write(io.BytesIO(payload), key=key, bound_to=bound_to, max_bytes=len(payload))

    for run_index in range(runs + 1):  # run 0 warms up and is dropped
        if run_index % 2:
            timed("plain write", lambda: plain_write(payload, plain_path))
            file_id = timed("store write", write_store).id
        else:
            file_id = timed("store write", write_store).id
            timed("plain write", lambda: plain_write(payload, plain_path))
        if run_index % 2:
            timed("store read", partial(read_store, file_id))
            timed("plain read", lambda: plain_read(plain_path))
        else:
            timed("plain read", lambda: plain_read(plain_path))
            timed("store read", partial(read_store, file_id))
        store.delete(file_id)
        plain_path.unlink()
        if run_index == 0:
            for values in seconds.values():
                values.clear()
    rates = {name: [file_mib / value for value in values] for name, values in seconds.items()}
    results = []
    for name, values in rates.items():
        reference = median(rates[name.replace("store", "plain")])
        results.append(
            {
                "variant": name,
                "median_mib_s": median(values),
                "min_mib_s": min(values),
                "max_mib_s": max(values),
                "vs_plain": median(values) / reference,
                "seconds": seconds[name],
            }
        )
    return results


def crypto_facts() -> dict[str, Any]:
    aes_ni = False
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                aes_ni = " aes " in f" {line.split(':', 1)[1]} "
                break
    return {
        "cryptography": cryptography.__version__,
        "openssl": openssl_backend.openssl_version_text(),
        "python_ssl": ssl.OPENSSL_VERSION,
        "cpu_aes_instructions": aes_ni,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--file-mib", type=int, default=64)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None, help="parent of the temporary folder")
    arguments = parser.parse_args()

    facts = {**machine_facts(), **crypto_facts()}
    started = time.monotonic()
    op_groups = [
        measure_ops(group(), batches=arguments.batches, batch_size=arguments.batch_size)
        for group in OP_CASE_GROUPS
    ]
    with tempfile.TemporaryDirectory(prefix="hushdesk-crypto-bench-", dir=arguments.dir) as workdir:
        files = measure_file_store(file_mib=arguments.file_mib, runs=arguments.runs, workdir=Path(workdir))
    elapsed = time.monotonic() - started

    for results in op_groups:
        print_table(
            ["case", "µs/op (median)", "p10-p90 µs", "vs reference", "added µs"],
            [
                [
                    r["case"],
                    f"{r['median_us']:.2f}",
                    f"{r['p10_us']:.2f}-{r['p90_us']:.2f}",
                    f"{r['vs_reference']:.2f}",
                    f"{r['added_us']:+.2f}",
                ]
                for r in results
            ],
        )
        print()
    print_table(
        ["file store", "MiB/s (median)", "MiB/s range", "vs plain copy"],
        [
            [
                r["variant"],
                f"{r['median_mib_s']:.0f}",
                f"{r['min_mib_s']:.0f}-{r['max_mib_s']:.0f}",
                f"{r['vs_plain']:.2f}",
            ]
            for r in files
        ],
    )
    print(f"\n{elapsed:.1f} s; {facts['cryptography']=} {facts['openssl']=}")
    path = write_result(
        "crypto",
        {
            "machine": facts,
            "parameters": {
                "message_bytes": MESSAGE_BYTES,
                "batches": arguments.batches,
                "batch_size": arguments.batch_size,
                "file_mib": arguments.file_mib,
                "runs": arguments.runs,
                "chunk_bytes": DEFAULT_CHUNK_BYTES,
            },
            "operations": op_groups,
            "file_store": files,
            "elapsed_s": elapsed,
        },
    )
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
