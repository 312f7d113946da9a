"""The canary scan: known strings written through every encrypted field and the file store
appear nowhere on disk or in the logs; the same scan finds one written to a plaintext column
(the positive control that proves the scan can see)."""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from hushdesk.credentials.models import CredentialKind
from hushdesk.credentials.service import do_store_credential
from hushdesk.crypto.aead import binding
from hushdesk.crypto.files import EncryptedFileStore
from hushdesk.infra.db.uow import unit_of_work
from tests.crypto.conftest import Vault
from tests.crypto.encrypted_models import Dossier
from tests.logging_support import json_log_capture

SECRET_CANARIES = {
    "body": "CANARY-BODY-7f3a9c",
    "details": "CANARY-JSON-41be02",
    "attachment": "CANARY-BYTES-d2c6e8",
    "phone": "CANARY-PHONE-90aa17",
    "file": "CANARY-FILE-5e1d33",
    "credential": "CANARY-CREDENTIAL-a4c9e1f07b",
}
CONTROL_CANARY = "CANARY-PLAINTEXT-CONTROL-c0ffee"


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    with json_log_capture() as stream:
        yield stream


def _write_everything(vault: Vault, uploads: Path) -> None:
    # SQL echo on: the statements and their parameters go through the logs too.
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)
    try:
        with unit_of_work(vault.sessions) as session:
            for copy in range(3):
                session.add(
                    Dossier(
                        workspace_id=vault.workspace_id,
                        contact_id=uuid.uuid4(),
                        label=CONTROL_CANARY,
                        body=f"{SECRET_CANARIES['body']} copy {copy}",
                        details={"note": SECRET_CANARIES["details"]},
                        attachment=SECRET_CANARIES["attachment"].encode(),
                        phone=SECRET_CANARIES["phone"],
                    )
                )
            do_store_credential(
                session,
                workspace_id=vault.workspace_id,
                name="provider",
                kind=CredentialKind.MODEL_API_KEY,
                value=SecretStr(SECRET_CANARIES["credential"]),
            )
            key = vault.keyring.data_key_for_writing(session, workspace_id=vault.workspace_id)
        store = EncryptedFileStore(uploads)
        store.write(
            [SECRET_CANARIES["file"].encode() * 5000],
            key=key,
            bound_to=binding("file", str(vault.workspace_id), "canary"),
            max_bytes=10_000_000,
        )
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)


def _files_under(*folders: Path) -> list[Path]:
    return [path for folder in folders for path in folder.rglob("*") if path.is_file()]


def _found(canary: str, blobs: dict[str, bytes]) -> list[str]:
    needle = canary.encode()
    return [name for name, blob in blobs.items() if needle in blob]


def _database_contents(vault: Vault, tmp_path: Path) -> dict[str, bytes]:
    """Every byte the database holds: the SQLite file with its -wal and -shm, or a pg_dump."""
    if vault.engine.dialect.name == "sqlite":
        files = _files_under(tmp_path / "var")
        assert any(path.name.endswith("-wal") for path in files)
        return {str(path): path.read_bytes() for path in files if "uploads" not in path.parts}
    pg_dump = shutil.which("pg_dump")
    assert pg_dump is not None, "pg_dump is needed for this test"
    url = vault.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    dump = subprocess.run([pg_dump, "--data-only", url], capture_output=True, check=True, timeout=120).stdout
    return {"pg_dump": dump}


def test_no_canary_in_the_database_uploads_keys_or_logs(
    vault: Vault, tmp_path: Path, captured_logs: io.StringIO
) -> None:
    uploads = tmp_path / "var" / "uploads"
    _write_everything(vault, uploads)
    database = _database_contents(vault, tmp_path)
    blobs = dict(database)
    blobs |= {str(path): path.read_bytes() for path in _files_under(uploads, vault.keys_dir)}
    statements = captured_logs.getvalue()
    # The statements were logged, their parameters not (the engines hide them): a plaintext
    # value cannot reach the logs through SQL logging either.
    assert "INSERT INTO" in statements
    assert "SQL parameters hidden" in statements
    assert CONTROL_CANARY not in statements
    # A value that does reach a log line is seen by the scan (the positive control below).
    logging.getLogger("hushdesk.test").warning("control value %s", CONTROL_CANARY)
    blobs["logs"] = captured_logs.getvalue().encode()
    assert any(path.startswith(str(uploads)) for path in blobs)
    for name, canary in SECRET_CANARIES.items():
        assert _found(canary, blobs) == [], f"the {name} canary leaked"
    # Positive control: the same scan sees a plaintext column in the database, and a value
    # written to a log line.
    seen = _found(CONTROL_CANARY, blobs)
    assert set(seen) & set(database), "the scan cannot see the database"
    assert "logs" in seen, "the scan cannot see the logs"
