"""Forms of the citizen portal: the web report, tracking, rating and withdrawal."""

from __future__ import annotations

import secrets
from decimal import Decimal

from django import forms
from django.core import signing
from django.utils.translation import gettext_lazy as _

from routing.models import Category, normalize_phone
from routing.phones import is_phone
from routing.states import Satisfaction, TicketType

MAX_DESCRIPTION = 4000
FORM_TOKEN_SALT = "services.public.report.form-token"
FORM_TOKEN_MAX_AGE = 24 * 3600


def new_form_token() -> str:
    """A signed, random per-form token; its random part becomes the ticket's channel_ref."""
    return signing.TimestampSigner(salt=FORM_TOKEN_SALT).sign(secrets.token_urlsafe(18))


def form_token_value(signed: str) -> str | None:
    """The random part of a token this server issued in the last day, or None."""
    try:
        return signing.TimestampSigner(salt=FORM_TOKEN_SALT).unsign(signed or "", max_age=FORM_TOKEN_MAX_AGE)
    except signing.BadSignature:  # includes SignatureExpired
        return None


def category_choices() -> list:
    """Leaf categories grouped under their parents' names, in one query."""
    rows = list(Category.objects.order_by("path").values("pk", "name", "path", "parent_id"))
    names = {row["pk"]: row["name"] for row in rows}
    parents = {row["parent_id"] for row in rows if row["parent_id"]}
    groups: dict[str, list] = {}
    for row in rows:
        if row["pk"] in parents:
            continue
        ancestors = [int(part) for part in row["path"].strip("/").split("/")[:-1]]
        group = " › ".join(names[a] for a in ancestors if a in names) or str(_("其他"))
        groups.setdefault(group, []).append((row["pk"], row["name"]))
    return [("", _("（不确定，可不选）"))] + list(groups.items())


class PhoneField(forms.CharField):
    def clean(self, value):
        value = super().clean(value)
        digits = normalize_phone(value)
        if value and not (is_phone(value) and 5 <= len(digits) <= 15):
            raise forms.ValidationError(_("电话号码格式不正确"), code="phone")
        return digits


class ReportForm(forms.Form):
    """我要反映: everything a citizen tells the hotline through the web."""

    type = forms.ChoiceField(label=_("诉求类型"), choices=TicketType.choices, initial=TicketType.HELP)
    category = forms.TypedChoiceField(label=_("诉求分类"), required=False, coerce=int, empty_value=None)
    description = forms.CharField(
        label=_("诉求内容"),
        max_length=MAX_DESCRIPTION,
        widget=forms.Textarea(attrs={"rows": 6, "maxlength": MAX_DESCRIPTION}),
        error_messages={"required": _("请填写诉求内容"), "max_length": _("诉求内容最多 %(limit_value)d 字（现有 %(show_value)d 字）")},
    )
    address = forms.CharField(label=_("地址"), max_length=300, required=False, error_messages={"max_length": _("地址最多 %(limit_value)d 字")})
    lat = forms.DecimalField(label=_("纬度"), required=False, min_value=Decimal(-90), max_value=Decimal(90), decimal_places=6, max_digits=9)
    lng = forms.DecimalField(label=_("经度"), required=False, min_value=Decimal(-180), max_value=Decimal(180), decimal_places=6, max_digits=9)
    name = forms.CharField(label=_("姓名"), max_length=100, required=False, error_messages={"max_length": _("姓名最多 %(limit_value)d 字")})
    anonymous = forms.BooleanField(label=_("匿名反映"), required=False)
    phone = PhoneField(
        label=_("联系电话"),
        max_length=32,
        error_messages={"required": _("请填写联系电话：凭工单号和电话查询进度"), "max_length": _("电话号码格式不正确")},
    )
    confidential = forms.BooleanField(label=_("要求保密"), required=False)
    form_token = forms.CharField(widget=forms.HiddenInput)
    # The honeypot: hidden from people by CSS, filled in by bots.
    homepage = forms.CharField(label=_("请勿填写此项"), required=False, widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = category_choices()

    def clean_category(self):
        pk = self.cleaned_data.get("category")
        if pk is None:
            return None
        category = Category.objects.filter(pk=pk).first()
        if category is None:
            raise forms.ValidationError(_("请选择有效的分类"), code="category")
        return category

    def clean_description(self):
        value = self.cleaned_data["description"].strip()
        if not value:
            raise forms.ValidationError(_("请填写诉求内容"), code="required")
        return value

    def clean(self):
        data = super().clean()
        if (data.get("lat") is None) != (data.get("lng") is None) and not self.has_error("lat") and not self.has_error("lng"):
            self.add_error("lng", _("经纬度须同时填写"))
        if data.get("anonymous"):
            data["name"] = ""
        return data


class TrackForm(forms.Form):
    """进度查询: the ticket number and the phone it was registered with."""

    number = forms.CharField(label=_("工单号"), max_length=20, error_messages={"required": _("请填写工单号")})
    phone = PhoneField(label=_("联系电话"), max_length=32, error_messages={"required": _("请填写登记时的联系电话")})

    def clean_number(self):
        return self.cleaned_data["number"].strip().upper()


class RatingForm(forms.Form):
    """评价: the citizen's own callback answer."""

    solved = forms.TypedChoiceField(
        label=_("问题是否已解决"), choices=[("yes", _("已解决")), ("no", _("未解决"))], coerce=lambda v: v == "yes", widget=forms.RadioSelect
    )
    satisfaction = forms.ChoiceField(label=_("满意度"), choices=Satisfaction.choices, widget=forms.RadioSelect)
    comment = forms.CharField(
        label=_("意见（不满意时请说明原因）"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": 500}),
        error_messages={"max_length": _("意见最多 %(limit_value)d 字")},
    )


class WithdrawForm(forms.Form):
    """撤单, with an optional reason."""

    reason = forms.CharField(
        label=_("撤单原因"), required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 2, "maxlength": 500}),
        error_messages={"max_length": _("撤单原因最多 %(limit_value)d 字")},
    )  # fmt: skip
