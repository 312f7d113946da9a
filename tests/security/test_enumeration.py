"""Account enumeration: "no such account" and "wrong password" do the same work and give the
same answer. The timings themselves are measured in bench/auth_bench.py, never in a test."""

from __future__ import annotations

import re
from typing import Literal

import pytest
from argon2 import PasswordHasher, extract_parameters
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from hushdesk.identity import passwords
from tests.web.helpers import signed_in_owner


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every argon2 hash that a password was verified against, in order."""
    seen: list[str] = []

    class SpyHasher(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            seen.append(hash if isinstance(hash, str) else hash.decode())
            return super().verify(hash, password)

    monkeypatch.setattr(passwords, "_hasher", SpyHasher())
    return seen


def test_an_unknown_account_runs_the_same_argon2_verification_as_a_known_one(
    client: TestClient, sqlite_engine: Engine, verifications: list[str]
) -> None:
    signed_in_owner(client, sqlite_engine)
    client.cookies.clear()
    known = client.post("/login", data={"email": "ada@example.com", "password": "not the password!"})
    unknown = client.post("/login", data={"email": "nobody@example.com", "password": "not the password!"})
    assert known.status_code == unknown.status_code == 401
    strip = re.compile(r'value="[^"]*"')
    assert strip.sub("", known.text) == strip.sub("", unknown.text)
    # One verification each, against hashes with the very same cost parameters.
    assert len(verifications) == 2
    known_hash, dummy_hash = verifications
    assert known_hash != dummy_hash
    assert extract_parameters(known_hash) == extract_parameters(dummy_hash)
    assert extract_parameters(known_hash).memory_cost == PasswordHasher().memory_cost
