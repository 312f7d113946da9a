"""The password policy: length, then an offline guessability check; no composition rules."""

from __future__ import annotations

import pytest

from hushdesk.identity.passwords import (
    WeakPasswordError,
    check_password_policy,
    hash_password,
    needs_rehash,
    verify_password,
)


@pytest.mark.parametrize(
    "password",
    ["password1234", "qwertyuiopasdf", "123456789012", "iloveyou12345", "aaaaaaaaaaaaaaa"],
)
def test_common_and_easily_guessed_passwords_are_refused(password: str) -> None:
    with pytest.raises(WeakPasswordError):
        check_password_policy(password)


def test_personal_words_make_a_password_weaker() -> None:
    check_password_policy("thandiwemokoena")
    with pytest.raises(WeakPasswordError):
        check_password_policy("thandiwemokoena", personal=["Thandiwe", "Mokoena", "thandiwe@acme.example"])


@pytest.mark.parametrize(
    "password", ["correct horse battery staple", "mauve-kettle-orbit-plinth", "Tr0ub4dor&3xx"]
)
def test_long_uncommon_passwords_pass_without_composition_rules(password: str) -> None:
    check_password_policy(password)


def test_length_limits_come_first() -> None:
    with pytest.raises(WeakPasswordError, match="at least 12"):
        check_password_policy("Xq9!vT2#")
    with pytest.raises(WeakPasswordError, match="at most"):
        check_password_policy("x" * 2000)


def test_hashes_are_argon2id_and_verify() -> None:
    stored = hash_password("correct horse battery staple")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "correct horse battery staple")
    assert not verify_password(stored, "correct horse battery stapler")
    assert not verify_password(None, "correct horse battery staple")
    assert not needs_rehash(stored)


def test_the_unknown_account_hash_can_be_made_ahead_of_the_first_sign_in() -> None:
    from hushdesk.identity import passwords

    passwords._dummy_hash.cache_clear()
    passwords.prepare_unknown_account_hash()
    assert passwords._dummy_hash.cache_info().currsize == 1
    before = passwords._dummy_hash.cache_info().hits
    assert not passwords.verify_password(None, "anything at all here")
    assert passwords._dummy_hash.cache_info().hits == before + 1
