"""Phone numbers: one normalisation, one digest, one masking, for every channel and every page.

Numbers are parsed with ``phonenumbers`` (Google's libphonenumber): digits of any
script count (a citizen's IME gives full-width ``１３９…``), and the kind of number
decides how much of it a department may see:

- a mainland mobile (11 digits) keeps the national convention ``139****5678``:
  the carrier prefix and the last four, the part a caller confirms as 尾号;
- a landline with its area code keeps the area code and the last two
  (``0571******21``);
- anything else (a local number without area code, a short or odd number, a
  typo) shows at most its last two digits, and nothing when it is shorter than
  seven: ``12345`` → ``*****``.

A mask never has more characters than the number had digits, so it reveals no
digit by its length alone either.
"""

from __future__ import annotations

import hashlib
import hmac
import re

import phonenumbers
from django.conf import settings

REGION = "CN"
# What a typed phone number may look like, everywhere it is typed (web form, chat, API, tracking): 5–15
# digits of any width, an optional leading + or (, at most two separators (space, dash, parentheses)
# between digits. The API's schema publishes the same pattern.
PHONE_PATTERN = r"^[+＋]?[(（]?[0-9０-９](?:[ \-－()（）]{0,2}[0-9０-９]){4,14}$"
_PHONE = re.compile(PHONE_PATTERN)
# A bare local number (7–8 digits, no area code) inside a text: libphonenumber does not call it valid
# without its area code, but it is a phone all the same. Digits next to a dash or other digits are a
# ticket number, a date or an amount's part, not this.
_BARE_LOCAL = re.compile(r"(?<![\d\-－/.])\d{7,8}(?![\d\-－/.])")


def digits_of(raw: str | None) -> str:
    """The ASCII digits of ``raw``, whatever script they were typed in (full-width included)."""
    return phonenumbers.normalize_digits_only(raw or "")


def is_phone(raw: str | None) -> bool:
    """Whether ``raw`` is typed like a phone number (``PHONE_PATTERN``)."""
    return bool(raw) and bool(_PHONE.match(raw.strip()))


def normalize_phone(raw: str | None) -> str:
    """Digits only, without a +86 / 0086 country prefix; '' when nothing is left."""
    digits = digits_of(raw)
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits


def phone_digest(phone: str) -> str:
    """A keyed hash of a normalized phone: lookups by number without the number in queries or logs."""
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, b"phone:" + normalize_phone(phone).encode(), hashlib.sha256).hexdigest()


def _visible(digits: str) -> tuple[int, int]:
    """How many leading and trailing digits of ``digits`` (normalized) a mask shows."""
    try:
        number = phonenumbers.parse(digits, REGION)
    except phonenumbers.NumberParseException:
        number = None
    if number is not None and number.country_code == 86 and phonenumbers.is_valid_number(number):
        kind = phonenumbers.number_type(number)
        if kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE) and len(digits) == 11:
            return 3, 4
        if kind == phonenumbers.PhoneNumberType.FIXED_LINE and digits.startswith("0"):
            area = phonenumbers.length_of_national_destination_code(number)
            return 1 + area, 2
    return 0, (2 if len(digits) >= 7 else 0)


def mask_phone(phone: str | None) -> str:
    """The number with most of its digits hidden (see the module's rules); '' for none."""
    digits = normalize_phone(phone)
    if not digits:
        return ""
    head, tail = _visible(digits)
    hidden = len(digits) - head - tail
    return digits[:head] + "*" * hidden + (digits[-tail:] if tail else "")


def text_for(user, text: str | None) -> str:
    """A citizen's own words as ``user`` may read them: as written for the hotline, phones masked for anyone else."""
    from routing.roles import sees_contact

    return (text or "") if sees_contact(user) else mask_phones_in(text)


def mask_phones_in(text: str | None) -> str:
    """``text`` with every phone number in it masked: what a department reads of a citizen's own words."""
    if not text:
        return text or ""
    spans = [(match.start, match.end) for match in phonenumbers.PhoneNumberMatcher(text, REGION, leniency=phonenumbers.Leniency.VALID)]
    spans += [(m.start(), m.end()) for m in _BARE_LOCAL.finditer(text) if not any(a <= m.start() < b for a, b in spans)]
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + mask_phone(text[start:end]) + text[end:]
    return text
