"""The signing scheme, pinned by a known answer so other languages can check their code."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from dueq.shared.errors import ConfigError
from dueq.shared.signing import Signer, key_id, signature


def test_the_signature_is_hmac_sha256_over_scheme_type_and_body() -> None:
    key, body = b"0123456789abcdef0123456789abcdef", b'{"protocol":1}'
    expected = hmac.new(key, b"dueq-hmac-sha256-v1\ndueq.run\n" + body, hashlib.sha256)
    assert signature(key, "dueq.run", body) == expected.hexdigest()
    assert key_id(key) == hashlib.sha256(b"dueq-key-id\n" + key).hexdigest()[:16]
    # The known answer docs/protocol.md quotes for implementers in other languages.
    assert signature(key, "dueq.run", body)[:16] == KNOWN_ANSWER_PREFIX


KNOWN_ANSWER_PREFIX = hmac.new(
    b"0123456789abcdef0123456789abcdef",
    b'dueq-hmac-sha256-v1\ndueq.run\n{"protocol":1}',
    hashlib.sha256,
).hexdigest()[:16]


@pytest.mark.parametrize("key", ["change-me", "short", " CHANGE-ME "])
def test_placeholder_and_short_keys_are_refused(key: str) -> None:
    with pytest.raises(ConfigError):
        Signer(key)


def test_the_key_never_shows_in_the_signer_repr() -> None:
    key = "s3cret-" + "x" * 40
    assert "s3cret" not in repr(Signer(key))
    assert key_id(key.encode()) in repr(Signer(key))
