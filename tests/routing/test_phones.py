"""Phone numbers (issue 15, items 7, 8, 10): parsed with phonenumbers, full-width digits too, masked by kind."""

from __future__ import annotations

import pytest

from routing.phones import digits_of, mask_phone, mask_phones_in, normalize_phone, phone_digest


@pytest.mark.parametrize(
    "raw,masked",
    [
        ("13912345678", "139****5678"),  # a mobile: the national convention, the last four to confirm 尾号
        ("+86 139-1234-5678", "139****5678"),
        ("１３９１２３４５６７８", "139****5678"),  # full-width, as an IME types it
        ("0571-87654321", "0571******21"),  # a landline: its area code and two digits
        ("020 8888 9999", "020******99"),
        ("87654321", "******21"),  # a local number without area code
        ("12345", "*****"),  # short: nothing shown (it was 123*2345: every digit and one more)
        ("110", "***"),
        ("1234567890123", "***********23"),
        ("", ""),
        ("无", ""),
    ],
)
def test_a_mask_hides_most_digits_whatever_the_number(raw, masked):
    assert mask_phone(raw) == masked


@pytest.mark.parametrize("raw", ["13912345678", "0571-87654321", "87654321", "12345", "1234567", "123456789012345"])
def test_a_mask_never_shows_more_than_the_number_had_or_most_of_a_short_one(raw):
    digits = normalize_phone(raw)
    masked = mask_phone(raw)
    shown = sum(ch.isdigit() for ch in masked)
    assert len(masked) == len(digits)
    assert shown <= 7 and (len(digits) >= 11 or shown <= len(digits) // 3)


def test_full_width_digits_are_the_same_number_everywhere(settings):
    assert digits_of("１３９ ００１３-９００１") == "13900139001"
    assert normalize_phone("+８６ １３９００１３９００１") == "13900139001"
    assert phone_digest("１３９００１３９００１") == phone_digest("13900139001") == phone_digest("+86 139 0013 9001")


def test_numbers_in_a_citizen_text_are_masked_and_nothing_else():
    text = "我电话13912345678，家里座机 87654321，也可打０５７１－８７６５４３２１。工单20261207-000001，2026-12-07 下午，罚款200元。"
    masked = mask_phones_in(text)
    assert "13912345678" not in masked and "139****5678" in masked
    assert "87654321" not in masked and "******21" in masked
    assert "８７６５４３２１" not in masked and "0571******21" in masked
    assert "工单20261207-000001，2026-12-07 下午，罚款200元。" in masked
    assert mask_phones_in("") == "" and mask_phones_in(None) == ""
