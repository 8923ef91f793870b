import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.errors import DecryptionError
from crypto.padding import bucket_size, pad, unpad

KIB = 1024
MIB = 1 << 20


@pytest.mark.parametrize(
    ("length", "bucket"),
    [
        (0, KIB),
        (KIB - 4, KIB),
        (KIB - 3, 2 * KIB),
        (2 * KIB - 4, 2 * KIB),
        (2 * KIB - 3, 4 * KIB),
        (MIB - 4, MIB),
        (MIB - 3, 2 * MIB),
        (2 * MIB - 4, 2 * MIB),
        (2 * MIB - 3, 3 * MIB),  # whole MiB above 1 MiB, not 4 MiB
        (5 * MIB, 6 * MIB),
    ],
)
def test_bucket_boundaries(length: int, bucket: int) -> None:
    assert bucket_size(length) == bucket


@given(st.integers(min_value=0, max_value=64 * MIB))
def test_every_length_lands_in_a_bucket_that_fits_it(length: int) -> None:
    bucket = bucket_size(length)
    assert bucket >= length + 4
    is_power_of_two = bucket & (bucket - 1) == 0
    assert (KIB <= bucket <= MIB and is_power_of_two) or bucket % MIB == 0
    # Everything from this length up to the bucket's capacity shares the bucket; one more does not.
    assert bucket_size(bucket - 4) == bucket
    assert bucket_size(bucket - 3) > bucket


@pytest.mark.parametrize("length", [-1, 1 << 32])
def test_lengths_the_prefix_cannot_hold_are_refused(length: int) -> None:
    with pytest.raises(ValueError):
        bucket_size(length)


@given(st.binary(max_size=5000))
def test_unpad_undoes_pad(data: bytes) -> None:
    padded = pad(data)
    assert len(padded) == bucket_size(len(data))
    assert unpad(padded) == data


@given(st.binary(max_size=KIB - 4), st.binary(max_size=KIB - 4))
def test_lengths_in_one_bucket_are_indistinguishable(first: bytes, second: bytes) -> None:
    assert len(pad(first)) == len(pad(second)) == KIB


@given(st.binary(max_size=3000), st.data())
def test_a_nonzero_fill_byte_is_refused(data: bytes, draw: st.DataObject) -> None:
    padded = bytearray(pad(data))
    position = draw.draw(st.integers(min_value=4 + len(data), max_value=len(padded) - 1))
    padded[position] = draw.draw(st.integers(min_value=1, max_value=255))
    with pytest.raises(DecryptionError, match="zero"):
        unpad(bytes(padded))


@given(st.binary(min_size=1, max_size=3000), st.data())
def test_a_prefix_that_disagrees_with_the_size_is_refused(data: bytes, draw: st.DataObject) -> None:
    padded = pad(data)
    claimed = draw.draw(
        st.integers(min_value=0, max_value=2**32 - 1).filter(
            lambda length: bucket_size(length) != len(padded)
        )
    )
    with pytest.raises(DecryptionError, match="prefix"):
        unpad(claimed.to_bytes(4, "big") + padded[4:])


def test_shortening_the_prefix_exposes_data_in_the_fill() -> None:
    padded = pad(b"evidence")
    with pytest.raises(DecryptionError, match="zero"):
        unpad((len(b"evidence") - 1).to_bytes(4, "big") + padded[4:])


@pytest.mark.parametrize("cut", [0, 3, 4, 100, KIB - 1])
def test_truncated_padding_is_refused(cut: int) -> None:
    with pytest.raises(DecryptionError):
        unpad(pad(b"evidence")[:cut])
