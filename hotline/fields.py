"""API input fields stricter than DRF's where the schema says so.

DRF's ``CharField`` turns a JSON number into its text (``{"reason": 405}`` is the
reason "405"); the schema says ``string``, so a number there is a 400, as any
other value of the wrong type is. Form bodies and query strings only carry text
and are unaffected.
"""

from __future__ import annotations

from rest_framework import serializers


class Text(serializers.CharField):
    """A string, and only a string; its ``max_length`` counts what was sent, before whitespace is trimmed.

    A required text that is trimmed must hold something besides spaces: the schema says so (pattern ``\\S``),
    as the field refuses "   " after trimming.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if not self.allow_blank and self.trim_whitespace:
            from django.core.validators import RegexValidator

            self.validators.append(RegexValidator(r"\S"))

    def run_validation(self, data=serializers.empty):
        if isinstance(data, str) and self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().run_validation(data)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def phone_validator():
    """The phone pattern (``routing.phones.PHONE_PATTERN``) as a validator the schema publishes."""
    from django.core.validators import RegexValidator
    from django.utils.translation import gettext_lazy as _

    from routing.phones import PHONE_PATTERN

    return RegexValidator(PHONE_PATTERN, _("电话号码格式不正确"))
