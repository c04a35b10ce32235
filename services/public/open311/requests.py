"""Service requests: creating one from a POST, reading them back.

Creating goes through ``routing.intake.register_ticket`` with channel
``open311``. A retried POST returns the request it already made:

- with our extension parameter ``request_token`` (the client's own id for the
  request), the same key and token are always the same request;
- without it, the same key and the same content (service, location,
  description, contact, attributes, device_id/account_id) within 24 hours are
  the same request. Concurrent POSTs of one key are serialized on the key's
  row, so a retry racing the original cannot slip through.

Reading (GET requests, GET requests/{id}) publishes only tickets that came in
through the channels in ``settings.OPEN311_PUBLIC_CHANNELS`` (default: only
``open311``) and never a confidential one: the other channels' citizens
never agreed to see their words on an open API.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import transaction
from django.db.models import QuerySet
from django.utils import dateparse, timezone
from django.utils.translation import gettext as _

from routing.errors import InvalidInput
from routing.intake import IntakeRequest, register_ticket
from routing.models import Ticket
from routing.states import Channel, State, TicketType, Urgency
from services.public.models import Open311ApiKey, Open311Request
from services.public.open311 import catalog
from services.public.open311.formats import Open311Error

MAX_DESCRIPTION = 4000
MAX_SPAN = dt.timedelta(days=90)
MAX_RESULTS = 1000
MAX_IDS = 200
RETRY_WINDOW = dt.timedelta(hours=24)
ATTRIBUTE_KEY = re.compile(r"^attribute\[([A-Za-z0-9_.\-]{1,64})\](\[\])?$")
CLIENT_TOKEN = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
REPLY_STATES = frozenset({State.REPLY_APPROVED, State.RATED, State.CLOSED})


def _param(data, name: str) -> str:
    """A parameter's value; an empty parameter is the same as a missing one."""
    return (data.get(name) or "").strip()


# --- POST requests -----------------------------------------------------------------
def parse_attributes(data) -> dict[str, str]:
    """``attribute[CODE]`` and ``attribute[CODE][]`` from the literal keys of a QueryDict.

    Raises Open311Error(400) naming every malformed key, unknown code or
    value outside an attribute's list.
    """
    known = {a.code: a for a in catalog.attributes()}
    problems: list[str] = []
    values: dict[str, str] = {}
    seen: set[str] = set()
    for key in data.keys():
        if not key.startswith("attribute"):
            continue
        match = ATTRIBUTE_KEY.match(key)
        if match is None:
            problems.append(_("参数名「%(key)s」格式不正确，应为 attribute[CODE] 或 attribute[CODE][]") % {"key": key[:80]})
            continue
        code = match.group(1)
        if code in seen:
            problems.append(_("属性「%(code)s」重复提交") % {"code": code})
            continue
        seen.add(code)
        attribute = known.get(code)
        if attribute is None:
            problems.append(_("未知属性「%(code)s」，可用：%(known)s") % {"code": code, "known": ", ".join(sorted(known))})
            continue
        given = [v.strip() for v in data.getlist(key) if v.strip()]
        if not given:
            continue
        if attribute.datatype == "singlevaluelist" and len(given) > 1:
            problems.append(_("属性「%(code)s」只能取一个值") % {"code": code})
            continue
        wrong = [v for v in given if v not in attribute.keys()]
        if wrong:
            problems.append(
                _("属性「%(code)s」的取值「%(value)s」无效，可用：%(keys)s") % {"code": code, "value": wrong[0][:40], "keys": ", ".join(k for k, _n in attribute.choices)}
            )
            continue
        values[code] = given[0]
    for attribute in known.values():
        if attribute.required and attribute.code not in values:
            problems.append(_("缺少必填属性「%(code)s」") % {"code": attribute.code})
    if problems:
        raise Open311Error(400, *problems)
    return values


def _coordinate(raw: str, name: str, limit: int) -> Decimal:
    try:
        number = Decimal(raw)
    except InvalidOperation:
        raise Open311Error(400, _("%(name)s 须为数字") % {"name": name}) from None
    if not number.is_finite() or abs(number) > limit:
        raise Open311Error(400, _("%(name)s 超出范围") % {"name": name})
    return number.quantize(Decimal("0.000001"))


@dataclass
class NewRequest:
    """A validated POST requests body."""

    category: object
    description: str
    lat: Decimal | None = None
    lng: Decimal | None = None
    address: str = ""
    address_id: str = ""
    email: str = ""
    device_id: str = ""
    account_id: str = ""
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    media_url: str = ""
    client_token: str = ""
    attributes: dict = field(default_factory=dict)

    def fingerprint(self, key: Open311ApiKey) -> str:
        content = {
            "key": key.pk,
            "service": self.category.code,
            "description": self.description,
            "lat": str(self.lat),
            "long": str(self.lng),
            "address": self.address,
            "address_id": self.address_id,
            "email": self.email,
            "device_id": self.device_id,
            "account_id": self.account_id,
            "name": [self.first_name, self.last_name],
            "phone": self.phone,
            "media_url": self.media_url,
            "attributes": self.attributes,
        }
        return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def parse_new_request(data) -> NewRequest:
    """Validate a POST requests body completely; Open311Error(400) lists everything wrong."""
    problems: list[str] = []
    code = _param(data, "service_code")
    category = None
    if not code:
        problems.append(_("缺少 service_code"))
    else:
        category = catalog.find_service(code)
        if category is None:
            problems.append(_("service_code「%(code)s」不存在") % {"code": code[:64]})
    try:
        attributes = parse_attributes(data)
    except Open311Error as exc:
        problems.extend(exc.descriptions)
        attributes = {}

    lat_raw, long_raw = _param(data, "lat"), _param(data, "long")
    lat = lng = None
    if lat_raw or long_raw:
        if not (lat_raw and long_raw):
            problems.append(_("lat 与 long 须同时提供"))
        else:
            try:
                lat, lng = _coordinate(lat_raw, "lat", 90), _coordinate(long_raw, "long", 180)
            except Open311Error as exc:
                problems.extend(exc.descriptions)
    address, address_id = _param(data, "address_string"), _param(data, "address_id")
    if lat is None and not address and not address_id and not (lat_raw or long_raw):
        problems.append(_("须提供位置：lat 和 long，或 address_string，或 address_id"))
    if len(address) > 300:
        problems.append(_("address_string 最多 300 字"))

    description = _param(data, "description")
    if len(description) > MAX_DESCRIPTION:
        problems.append(_("description 最多 %(n)d 字（现有 %(got)d 字）") % {"n": MAX_DESCRIPTION, "got": len(description)})

    limits = {"address_id": 100, "device_id": 100, "account_id": 100, "first_name": 50, "last_name": 50, "phone": 32, "email": 254}
    for name, limit in limits.items():
        if len(_param(data, name)) > limit:
            problems.append(_("%(name)s 最多 %(n)d 个字符") % {"name": name, "n": limit})
    email = _param(data, "email")
    if email:
        try:
            EmailValidator()(email)
        except ValidationError:
            problems.append(_("email 格式不正确"))
    media_url = _param(data, "media_url")
    if media_url:
        try:
            if len(media_url) > 500:
                raise ValidationError("too long")
            URLValidator(schemes=["http", "https"])(media_url)
        except ValidationError:
            problems.append(_("media_url 须为不超过 500 字符的 http(s) 地址"))
    client_token = _param(data, "request_token")
    if client_token and not CLIENT_TOKEN.match(client_token):
        problems.append(_("request_token 须为 1–64 个字母、数字或 _.:-"))
    if problems:
        raise Open311Error(400, *problems)
    return NewRequest(
        category=category,
        description=description,
        lat=lat,
        lng=lng,
        address=address,
        address_id=address_id,
        email=email,
        device_id=_param(data, "device_id"),
        account_id=_param(data, "account_id"),
        first_name=_param(data, "first_name"),
        last_name=_param(data, "last_name"),
        phone=_param(data, "phone"),
        media_url=media_url,
        client_token=client_token,
        attributes=attributes,
    )


def create(new: NewRequest, *, key: Open311ApiKey) -> tuple[Open311Request, bool]:
    """Register the ticket (or find the one a retry of this POST made); returns (request, created)."""
    now = timezone.now()
    fingerprint = new.fingerprint(key)
    with transaction.atomic():
        Open311ApiKey.objects.select_for_update().filter(pk=key.pk).update(last_used_at=now)
        earlier = Open311Request.objects.select_related("ticket").filter(api_key=key)
        if new.client_token:
            earlier = earlier.filter(client_token=new.client_token)
            channel_ref = f"open311:{key.pk}:t:{new.client_token}"
        else:
            earlier = earlier.filter(fingerprint=fingerprint, created_at__gte=now - RETRY_WINDOW)
            channel_ref = f"open311:{key.pk}:f:{fingerprint[:40]}:{int(now.timestamp() * 1000)}"
        existing = earlier.order_by("-created_at").first()
        if existing is not None:
            return existing, False
        address = new.address or (_("地址编号：%(id)s") % {"id": new.address_id} if new.address_id else "")
        intake = IntakeRequest(
            channel=Channel.OPEN311,
            channel_ref=channel_ref,
            type=new.attributes.get("request_type", TicketType.HELP),
            urgency=new.attributes.get("urgency", Urgency.NORMAL),
            category=new.category,
            description=new.description or new.category.name,
            address=address,
            lat=new.lat,
            lng=new.lng,
            citizen_name=f"{new.last_name}{new.first_name}".strip(),
            citizen_phone=new.phone,
        )
        try:
            result = register_ticket(intake)
        except InvalidInput as exc:
            details = [f"{name}: {'; '.join(map(str, messages))}" for name, messages in exc.details.items()]
            raise Open311Error(400, *(details or [exc.message])) from None
        request, created = Open311Request.objects.get_or_create(
            ticket=result.ticket,
            defaults={
                "api_key": key,
                "fingerprint": fingerprint,
                "client_token": new.client_token,
                "service_code": new.category.code,
                "device_id": new.device_id,
                "account_id": new.account_id,
                "email": new.email,
                "address_id": new.address_id,
                "media_url": new.media_url,
                "attributes": new.attributes,
                "created_at": now,
            },
        )
    return request, created


def created_answer(request: Open311Request) -> list[dict]:
    """The POST's answer: ``[{service_request_id, service_notice, account_id, token}]``."""
    notice = _("已受理，工单号 %(number)s，可凭工单号查询办理进度。") % {"number": request.ticket.number}
    return [{"service_request_id": request.ticket.number, "service_notice": notice, "account_id": request.account_id or None, "token": request.token}]


# --- GET requests ---------------------------------------------------------------------
def public_channels() -> list[str]:
    return list(getattr(settings, "OPEN311_PUBLIC_CHANNELS", [Channel.OPEN311]))


def published() -> QuerySet[Ticket]:
    """Tickets the open API may show."""
    return (
        Ticket.objects.filter(channel__in=public_channels(), confidential=False, category__isnull=False)
        .select_related("category", "department", "open311_request")
        .order_by("-registered_at", "-id")
    )


def _iso(value: dt.datetime | None) -> str | None:
    return timezone.localtime(value).isoformat(timespec="seconds") if value else None


def status_of(ticket: Ticket) -> str:
    """closed = the FSM's final states (closed, declined, withdrawn, merged, transferred); everything else is open."""
    return "closed" if ticket.state in State.final() else "open"


def status_notes(ticket: Ticket) -> str | None:
    if ticket.state in REPLY_STATES and ticket.reply_text:
        return ticket.reply_text
    if ticket.state == State.CLOSED and ticket.resolution:
        return ticket.resolution
    if ticket.state == State.DECLINED:
        return ticket.decline_reason or str(State.DECLINED.label)
    if ticket.state == State.TRANSFERRED and ticket.transferred_to_id:
        return _("已移交%(line)s处理") % {"line": ticket.transferred_to.name}
    if ticket.state in {State.WITHDRAWN, State.MERGED}:
        return str(State(ticket.state).label)
    return None


def as_open311(ticket: Ticket) -> dict:
    """One service request as GeoReport v2 describes it."""
    extra = getattr(ticket, "open311_request", None)
    closed = status_of(ticket) == "closed"
    return {
        "service_request_id": ticket.number,
        "status": status_of(ticket),
        "status_notes": status_notes(ticket),
        "service_name": ticket.category.name,
        "service_code": ticket.category.code,
        "description": ticket.description[:MAX_DESCRIPTION],
        "agency_responsible": ticket.department.name if ticket.department_id else None,
        "service_notice": None,
        "requested_datetime": _iso(ticket.registered_at),
        "updated_datetime": _iso(ticket.closed_at if closed and ticket.closed_at else ticket.updated_at),
        "expected_datetime": _iso(ticket.handle_due),
        "address": ticket.address or None,
        "address_id": (extra.address_id or None) if extra else None,
        "zipcode": None,
        "lat": float(ticket.lat) if ticket.lat is not None else None,
        "long": float(ticket.lng) if ticket.lng is not None else None,
        "media_url": (extra.media_url or None) if extra else None,
    }


def _datetime(raw: str, name: str) -> dt.datetime:
    """A W3C datetime (or a plain date, read as its start in local time)."""
    try:
        value = dateparse.parse_datetime(raw)
        if value is None:
            day = dateparse.parse_date(raw)
            if day is None:
                raise ValueError(raw)
            value = dt.datetime.combine(day, dt.time.min)
    except ValueError:
        raise Open311Error(400, _("%(name)s 须为 W3C 日期时间，如 2026-01-31T08:00:00+08:00") % {"name": name}) from None
    if not 2000 <= value.year <= 2099:  # and the 90-day window around it cannot overflow
        raise Open311Error(400, _("%(name)s 须在 2000 年至 2099 年之间") % {"name": name})
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


def find(data) -> list[Ticket]:
    """GET requests with every filter: ids override the rest; otherwise codes, dates (≤ 90 days) and status."""
    tickets = published()
    ids = [part.strip() for part in _param(data, "service_request_id").split(",") if part.strip()]
    if ids:
        if len(ids) > MAX_IDS:
            raise Open311Error(400, _("service_request_id 一次最多 %(n)d 个") % {"n": MAX_IDS})
        return list(tickets.filter(number__in=ids)[:MAX_RESULTS])

    codes = [part.strip() for part in _param(data, "service_code").split(",") if part.strip()]
    if codes:
        tickets = tickets.filter(category__code__in=codes)

    start_raw, end_raw = _param(data, "start_date"), _param(data, "end_date")
    start = _datetime(start_raw, "start_date") if start_raw else None
    end = _datetime(end_raw, "end_date") if end_raw else None
    if start is None and end is None:
        end = timezone.now()
        start = end - MAX_SPAN
    elif start is None:
        start = end - MAX_SPAN
    elif end is None:
        end = start + MAX_SPAN
    if end < start:
        raise Open311Error(400, _("end_date 不能早于 start_date"))
    if end - start > MAX_SPAN:
        raise Open311Error(400, _("start_date 与 end_date 相隔不能超过 90 天"))
    tickets = tickets.filter(registered_at__gte=start, registered_at__lte=end)

    statuses = {part.strip() for part in _param(data, "status").split(",") if part.strip()}
    if statuses - {"open", "closed"}:
        raise Open311Error(400, _("status 只能是 open、closed 或两者（逗号分隔）"))
    if statuses == {"open"}:
        tickets = tickets.exclude(state__in=State.final())
    elif statuses == {"closed"}:
        tickets = tickets.filter(state__in=State.final())
    return list(tickets[:MAX_RESULTS])


def find_one(request_id: str) -> Ticket:
    ticket = published().filter(number=request_id).first()
    if ticket is None:
        raise Open311Error(404, _("服务请求「%(id)s」不存在") % {"id": request_id[:40]})
    return ticket


def find_token(token: str) -> Open311Request:
    request = Open311Request.objects.select_related("ticket").filter(token=token).first() if token else None
    if request is None:
        raise Open311Error(404, _("token「%(token)s」不存在") % {"token": token[:64]})
    return request
