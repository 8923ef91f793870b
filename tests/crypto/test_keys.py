import base64
import re

import pytest

from crypto.keys import KeyPair, generate_keypair, key_id, parse_public_key_b64, public_key_b64


def test_public_key_survives_the_configuration_file() -> None:
    public = generate_keypair().public
    text = public_key_b64(public)
    assert re.fullmatch(r"[A-Za-z0-9+/]{43}=", text)
    assert parse_public_key_b64(f"  {text}\n") == public


@pytest.mark.parametrize(
    "text",
    [
        "not base64 at all!",
        base64.b64encode(bytes(32)).decode()[:-1],  # padding removed
        base64.urlsafe_b64encode(b"\xfb" * 32).decode(),  # URL-safe alphabet
        "Ḁ" * 44,  # non-ASCII
    ],
)
def test_mangled_public_key_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="base64"):
        parse_public_key_b64(text)


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_public_key_of_wrong_length_is_refused(length: int) -> None:
    with pytest.raises(ValueError, match=f"32 bytes, got {length}"):
        parse_public_key_b64(base64.b64encode(bytes(length)).decode())


def test_key_id_is_a_stable_short_fingerprint() -> None:
    first, second = generate_keypair(), generate_keypair()
    assert re.fullmatch(r"[0-9a-f]{16}", key_id(first.public))
    assert key_id(bytes(32)) == "66687aadf862bd77"  # SHA-256 of 32 zero bytes: stored in cases
    assert key_id(first.public) != key_id(second.public)


def test_keypairs_are_fresh_and_consistent() -> None:
    pair = generate_keypair()
    assert pair != generate_keypair()
    assert KeyPair.from_private(pair.private) == pair


def test_repr_never_shows_the_private_key() -> None:
    pair = generate_keypair()
    shown = repr(pair) + str(pair) + f"{pair!r}"
    assert key_id(pair.public) in shown
    private = pair.private
    for encoding in (repr(private), private.hex(), base64.b64encode(private).decode()):
        assert encoding not in shown


def test_keys_of_wrong_length_are_refused() -> None:
    pair = generate_keypair()
    with pytest.raises(ValueError, match="private key must be 32 bytes"):
        KeyPair(public=pair.public, private=pair.private[:31])
    with pytest.raises(ValueError, match="public key must be 32 bytes"):
        KeyPair(public=pair.public + b"\0", private=pair.private)
