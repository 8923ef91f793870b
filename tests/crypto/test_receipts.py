import hashlib
import hmac
import re
from random import Random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.errors import ReceiptFormatError
from crypto.keys import KeyPair
from crypto.receipts import (
    ALPHABET,
    CASE_SALT_BYTES,
    format_receipt,
    generate_receipt,
    lookup_id,
    new_case_salt,
    normalise_code,
    parse_receipt,
    reporter_keypair,
)
from crypto.sealing import open_document, seal_document

PEPPER = bytes(range(32))
DISPLAY = re.compile(rf"[{ALPHABET}]{{4}}(-[{ALPHABET}]{{4}}){{4}}")


def reason(text: str) -> str:
    with pytest.raises(ReceiptFormatError) as caught:
        parse_receipt(text)
    return caught.value.reason


def complete(payload: str) -> str:
    """The valid receipt for 19 payload characters, found through the public API only."""
    valid = [payload + check for check in ALPHABET if _parses(payload + check)]
    assert len(valid) == 1, "exactly one check character must fit each payload"
    return valid[0]


def _parses(code: str) -> bool:
    try:
        return parse_receipt(code) == code
    except ReceiptFormatError as error:
        assert error.reason == "check"
        return False


payloads = st.text(alphabet=ALPHABET, min_size=19, max_size=19)
receipts = payloads.map(complete)


def test_generated_receipts_look_right_and_parse_back() -> None:
    for _ in range(200):
        shown = generate_receipt()
        assert DISPLAY.fullmatch(shown)
        canonical = parse_receipt(shown)
        assert canonical == shown.replace("-", "")
        assert len(canonical) == 20
        assert format_receipt(canonical) == shown


def test_generated_receipts_do_not_repeat() -> None:
    assert len({generate_receipt() for _ in range(1000)}) == 1000


@settings(max_examples=25)
@given(receipts)
def test_every_single_substitution_is_caught(receipt: str) -> None:
    for position in range(len(receipt)):
        for typo in ALPHABET:
            if typo != receipt[position]:
                assert reason(receipt[:position] + typo + receipt[position + 1 :]) == "check"
        for typo in "U*#Đ":
            assert reason(receipt[:position] + typo + receipt[position + 1 :]) == "character"


def test_adjacent_swaps_are_caught_except_zero_with_z() -> None:
    # Luhn mod 32 misses exactly one kind of neighbour swap, "0Z" <-> "Z0"; measure it.
    random = Random(2024)
    swaps, missed = 0, set()
    for _ in range(300):
        receipt = complete("".join(random.choice(ALPHABET) for _ in range(19)))
        for position in range(len(receipt) - 1):
            first, second = receipt[position], receipt[position + 1]
            if first == second:
                continue
            swaps += 1
            swapped = receipt[:position] + second + first + receipt[position + 2 :]
            if _parses(swapped):
                missed.add(first + second)
    assert missed <= {"0Z", "Z0"}
    assert 1 - len(missed) / swaps > 0.9


@st.composite
def retyped(draw: st.DrawFn, receipt: str) -> str:
    """The receipt as someone might copy it from a screen or paper onto a phone."""
    lookalikes = {"0": "0Oo", "1": "1IiLl"}
    separators = ["", "", " ", "-", "\u00a0", "\u200b", "\t", "\u2013", "_", "."]
    typed = draw(st.sampled_from(["", " "]))
    for char in receipt:
        typed += draw(st.sampled_from(lookalikes.get(char, char + char.lower())))
        typed += draw(st.sampled_from(separators))
    return typed


@given(st.data())
def test_retyped_receipts_are_accepted(data: st.DataObject) -> None:
    receipt = data.draw(receipts)
    assert parse_receipt(data.draw(retyped(receipt))) == receipt


def test_normalise_code_undoes_typing_habits() -> None:
    assert normalise_code(" ab-c_d.e\u200b\u00a0fO0iIlL1\n") == "ABCDEF0011111"
    assert normalise_code("ＡＢ１\u2014\ufeffz") == "AB1Z"  # full-width, em dash, BOM
    assert normalise_code("u*") == "U*"  # validation is parse_receipt's job


@pytest.mark.parametrize(
    "text", ["", "ABC", "0" * 19, "0" * 21, "0000-0000-0000-0000-000", "\u200b" * 20]
)
def test_wrong_length_is_reported(text: str) -> None:
    assert reason(text) == "length"


def test_input_over_64_characters_is_refused_outright() -> None:
    receipt = generate_receipt()
    assert parse_receipt(receipt.center(64)) == receipt.replace("-", "")
    assert reason(receipt.center(65)) == "length"
    assert reason("0" * 1_000_000) == "length"


@pytest.mark.parametrize("typo", ["U", "*", "Đ", "é", "@"])
def test_characters_outside_the_alphabet_are_reported(typo: str) -> None:
    canonical = parse_receipt(generate_receipt())
    assert reason(typo + canonical[1:]) == "character"


def test_receipt_format_error_is_a_value_error_with_a_reason() -> None:
    error = ReceiptFormatError("check")
    assert isinstance(error, ValueError)
    assert error.reason == "check"


def test_format_receipt_refuses_what_parse_receipt_would_not_return() -> None:
    canonical = parse_receipt(generate_receipt())
    for almost in (canonical.lower(), format_receipt(canonical), canonical[:-1]):
        with pytest.raises(ValueError):
            format_receipt(almost)


def test_lookup_id_is_an_hmac_of_the_canonical_receipt() -> None:
    receipt = parse_receipt(generate_receipt())
    expected = hmac.new(PEPPER, receipt.encode(), hashlib.sha256).digest()
    assert lookup_id(PEPPER, receipt) == expected
    assert len(expected) == 32
    assert lookup_id(PEPPER, receipt) == lookup_id(PEPPER, receipt)


def test_lookup_id_differs_per_pepper_and_per_receipt() -> None:
    receipt, other = parse_receipt(generate_receipt()), parse_receipt(generate_receipt())
    assert lookup_id(PEPPER, receipt) != lookup_id(bytes(32), receipt)
    assert lookup_id(PEPPER, receipt) != lookup_id(PEPPER, other)


def test_lookup_id_refuses_a_short_pepper_or_a_display_form() -> None:
    shown = generate_receipt()
    with pytest.raises(ValueError, match="pepper"):
        lookup_id(bytes(31), parse_receipt(shown))
    with pytest.raises(ValueError):
        lookup_id(PEPPER, shown)


def test_case_salts_are_fresh() -> None:
    salts = {new_case_salt() for _ in range(100)}
    assert len(salts) == 100
    assert all(len(salt) == CASE_SALT_BYTES == 16 for salt in salts)


def test_reporter_key_is_blake2b_of_the_receipt() -> None:
    receipt, salt = parse_receipt(generate_receipt()), new_case_salt()
    private = hashlib.blake2b(
        receipt.encode(), digest_size=32, salt=salt, person=b"reporter-key-v1"
    ).digest()
    assert reporter_keypair(receipt, salt) == KeyPair.from_private(private)


def test_reporter_key_depends_on_receipt_and_salt_only() -> None:
    receipt, other = parse_receipt(generate_receipt()), parse_receipt(generate_receipt())
    salt, other_salt = new_case_salt(), new_case_salt()
    assert reporter_keypair(receipt, salt) == reporter_keypair(receipt, salt)
    assert reporter_keypair(receipt, salt) != reporter_keypair(receipt, other_salt)
    assert reporter_keypair(receipt, salt) != reporter_keypair(other, salt)


def test_reporter_reads_what_was_sealed_to_their_key() -> None:
    receipt, salt = parse_receipt(generate_receipt()), new_case_salt()
    body = {"text": "Tố cáo cán bộ phường Ô Chợ Dừa nhận hối lộ 50 triệu đồng"}
    [sealed] = seal_document("report", body, [reporter_keypair(receipt, salt).public])
    # Later, from the receipt alone, as the reporter retypes it.
    key = reporter_keypair(parse_receipt(format_receipt(receipt).lower()), salt)
    assert open_document(sealed, key.private, "report") == body


@pytest.mark.parametrize("length", [0, 15, 17, 32])
def test_reporter_key_needs_a_16_byte_salt(length: int) -> None:
    with pytest.raises(ValueError, match="salt"):
        reporter_keypair(parse_receipt(generate_receipt()), bytes(length))


def test_reporter_key_refuses_a_display_form() -> None:
    with pytest.raises(ValueError):
        reporter_keypair(generate_receipt(), new_case_salt())
