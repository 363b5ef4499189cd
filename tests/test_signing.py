"""Signature check: golden vectors, key rotation, expiry edges, malformed fields."""

from __future__ import annotations

import pytest

from shared.errors import ExpiredSignature, InvalidSignature, MissingSignature
from shared.signing import sign, verify_signature

T = 1700000600
NOW = T - 600  # CSS sets t = event time + 600 s


def test_sign_matches_golden_vectors() -> None:
    # md5("testkey" + "1700000600") and md5("abc" + "1234567890"), computed independently.
    assert sign("testkey", 1700000600) == "a5ba09136801fd83c5375189bcfc3194"
    assert sign("abc", "1234567890") == "57041f8f7dff9b67e3f97d7facbaf8d3"


def test_valid_signature_is_accepted_with_the_index_of_the_key() -> None:
    assert verify_signature({"sign": sign("k1", T), "t": T}, ["k1"], now=NOW) == 0


def test_upper_case_hex_and_t_as_digit_string_are_accepted() -> None:
    payload = {"sign": sign("k1", T).upper(), "t": str(T)}
    assert verify_signature(payload, ["k1"], now=NOW) == 0


def test_any_configured_key_is_accepted_for_rotation() -> None:
    payload = {"sign": sign("old-key", T), "t": T}
    assert verify_signature(payload, ["new-key", "old-key"], now=NOW) == 1


def test_key_of_a_retired_rotation_is_refused() -> None:
    payload = {"sign": sign("retired", T), "t": T}
    with pytest.raises(InvalidSignature):
        verify_signature(payload, ["new-key", "old-key"], now=NOW)


def test_signature_of_another_t_is_refused() -> None:
    with pytest.raises(InvalidSignature):
        verify_signature({"sign": sign("k1", T + 1), "t": T}, ["k1"], now=NOW)


@pytest.mark.parametrize(
    ("now", "accepted"),
    [(T, True), (T + 300, True), (T + 301, False), (T + 86400, False)],
)
def test_expiry_is_t_plus_tolerance(now: int, accepted: bool) -> None:
    payload = {"sign": sign("k1", T), "t": T}
    if accepted:
        assert verify_signature(payload, ["k1"], now=now, tolerance=300) == 0
    else:
        with pytest.raises(ExpiredSignature, match="expired"):
            verify_signature(payload, ["k1"], now=now, tolerance=300)


def test_t_in_the_future_is_not_mistaken_for_expired() -> None:
    # The public-code bug `time() - t < 60` is always true; here a far-future t is simply valid.
    assert verify_signature({"sign": sign("k1", T), "t": T}, ["k1"], now=T - 3600) == 0


@pytest.mark.parametrize(
    "payload",
    [
        {"t": T},
        {"sign": None, "t": T},
        {"sign": 12345, "t": T},
        {"sign": "not-hex", "t": T},
        {"sign": "a" * 31, "t": T},
        {"sign": "a" * 32},
        {"sign": "a" * 32, "t": "17000006OO"},
        {"sign": "a" * 32, "t": 1700000600.5},
        {"sign": "a" * 32, "t": True},
        {"sign": "a" * 32, "t": "-1700000600"},
        {"sign": "a" * 32, "t": "1" * 40},
        {"sign": "a" * 32, "t": ["1700000600"]},
    ],
)
def test_missing_or_malformed_sign_or_t_is_unauthorised(payload: dict[str, object]) -> None:
    with pytest.raises(MissingSignature) as raised:
        verify_signature(payload, ["k1"], now=NOW)
    assert raised.value.status == 401


def test_wrong_and_expired_signatures_are_forbidden() -> None:
    with pytest.raises(InvalidSignature) as wrong:
        verify_signature({"sign": sign("other", T), "t": T}, ["k1"], now=NOW)
    with pytest.raises(ExpiredSignature) as expired:
        verify_signature({"sign": sign("k1", T), "t": T}, ["k1"], now=T + 10_000)
    assert wrong.value.status == expired.value.status == 403


def test_no_configured_key_accepts_nothing() -> None:
    with pytest.raises(InvalidSignature):
        verify_signature({"sign": sign("", T), "t": T}, [], now=NOW)


def test_a_valid_sign_with_anything_after_its_32_digits_is_malformed_not_merely_wrong() -> None:
    with pytest.raises(MissingSignature) as raised:
        verify_signature({"sign": sign("k1", T) + "00", "t": T}, ["k1"], now=NOW)
    assert raised.value.status == 401
