"""Keyrings: intake keys with the holder's grant key, the earlier form without one, and grants."""

from __future__ import annotations

import pytest

from crypto.errors import DecryptionError
from crypto.keyring import Keyring, open_grant, pack_keyring, seal_grant, unpack_keyring
from crypto.keys import KeyPair, generate_keypair, key_id


def keyring_of(*pairs: KeyPair, grant: KeyPair | None = None) -> Keyring:
    return Keyring({key_id(pair.public): pair for pair in pairs}, grant)


def test_a_keyring_with_its_grant_key_round_trips() -> None:
    first, second, grant = generate_keypair(), generate_keypair(), generate_keypair()
    opened = unpack_keyring(pack_keyring(keyring_of(first, second, grant=grant)))
    assert opened.intake == keyring_of(first, second).intake
    assert opened.grant == grant


def test_a_keyring_from_before_rotation_existed_still_opens_without_a_grant_key() -> None:
    only = generate_keypair()
    legacy_blob = only.private  # the earlier form: private keys end to end
    opened = unpack_keyring(legacy_blob)
    assert opened.intake == {key_id(only.public): only} and opened.grant is None


@pytest.mark.parametrize("blob", [b"", b"\x01" + bytes(32), bytes(33), bytes(31), b"\x02" + bytes(64)])
def test_malformed_keyrings_are_refused(blob: bytes) -> None:
    with pytest.raises(ValueError):
        unpack_keyring(blob)


def test_an_empty_keyring_is_never_packed() -> None:
    with pytest.raises(ValueError):
        pack_keyring(Keyring({}, generate_keypair()))


def test_handing_a_keyring_on_leaves_the_grant_key_behind_and_repr_hides_it() -> None:
    keyring = keyring_of(generate_keypair(), grant=generate_keypair())
    assert keyring.only_intake().grant is None
    assert keyring.grant is not None and keyring.grant.private.hex() not in repr(keyring)


def test_a_grant_opens_only_with_its_holders_key_and_only_as_the_key_it_names() -> None:
    intake, holder, other = generate_keypair(), generate_keypair(), generate_keypair()
    blob = seal_grant(intake, holder.public)
    assert open_grant(blob, holder, key_id(intake.public)) == intake
    with pytest.raises(DecryptionError):
        open_grant(blob, other, key_id(intake.public))
    with pytest.raises(DecryptionError):
        open_grant(blob, holder, key_id(other.public))
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    with pytest.raises(DecryptionError):
        open_grant(bytes(tampered), holder, key_id(intake.public))
