"""The one way a ticket is born, from any channel.

A channel adapter (voice, SMS, chat, web form, Open311, the agent's console)
turns what arrived into an ``IntakeRequest`` and calls ``register_ticket``.
The channel's own id (a CallSid, a form token, an Open311 device token)
makes a retry return the ticket it already created.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from routing import actions, effects, intelligence, linkage, numbering, outbox, rules
from routing.errors import InvalidInput
from routing.models import Area, Attachment, Category, Citizen, EmergencyLine, IntelligencePolicy, Ticket, normalize_phone, phone_digest
from routing.roles import SYSTEM, Actor, as_actor
from routing.states import Channel, EventKind, TicketType, Urgency

log = logging.getLogger(__name__)

MAX_DESCRIPTION = 8000


@dataclass
class IncomingFile:
    name: str
    content_type: str
    data: bytes


@dataclass
class IntakeRequest:
    """What arrived, from whichever channel."""

    channel: str
    description: str
    type: str = TicketType.HELP
    channel_ref: str = ""
    category: Category | None = None
    urgency: str = Urgency.NORMAL
    life_safety: bool = False
    title: str = ""
    address: str = ""
    lat: Decimal | float | str | None = None
    lng: Decimal | float | str | None = None
    area: Area | None = None
    citizen_name: str = ""
    citizen_phone: str = ""
    anonymous: bool = False
    confidential: bool = False
    attachments: list[IncomingFile] = field(default_factory=list)
    # 110 转 12345: the line that referred the matter and its reference (警情号); one ticket per reference.
    referred_from: EmergencyLine | None = None
    referral_reference: str = ""
    # False: the agent settles the ticket at once (直接办结, 移交), so no automatic rule or confident
    # classifier dispatches it in between.
    auto_dispatch: bool = True


@dataclass
class IntakeResult:
    ticket: Ticket
    created: bool


def _coordinate(value, name: str, limit: int) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise InvalidInput(_("坐标格式不正确"), details={name: [_("须为数字")]}) from None
    if not number.is_finite() or abs(number) > limit:
        raise InvalidInput(_("坐标超出范围"), details={name: [_("超出范围")]})
    return number.quantize(Decimal("0.000001"))


def validate(request: IntakeRequest) -> IntakeRequest:
    """Check an intake request completely before anything is written."""
    errors: dict[str, list[str]] = {}
    if request.channel not in Channel.values:
        errors["channel"] = [_("未知渠道")]
    if request.type not in TicketType.values:
        errors["type"] = [_("未知诉求类型")]
    if request.urgency not in Urgency.values:
        errors["urgency"] = [_("未知紧急程度")]
    request.description = (request.description or "").strip()
    if not request.description:
        errors["description"] = [_("请填写诉求内容")]
    elif len(request.description) > MAX_DESCRIPTION:
        errors["description"] = [_("诉求内容最多 %(n)d 字") % {"n": MAX_DESCRIPTION}]
    request.title = (request.title or "").strip()[:200]
    request.address = (request.address or "").strip()
    if len(request.address) > 300:
        errors["address"] = [_("地址最多 300 字")]
    request.citizen_name = (request.citizen_name or "").strip()
    if len(request.citizen_name) > 100:
        errors["citizen.name"] = [_("姓名过长")]
    phone = normalize_phone(request.citizen_phone)
    if request.citizen_phone and not (5 <= len(phone) <= 15):
        errors["citizen.phone"] = [_("电话号码格式不正确")]
    request.citizen_phone = phone
    if len(request.channel_ref) > 128:
        errors["channel_ref"] = [_("渠道标识过长")]
    request.referral_reference = (request.referral_reference or "").strip()
    if request.referred_from is not None:
        if not request.referred_from.active:
            errors["referred_from.line"] = [_("该联动单位已停用")]
        if not request.referral_reference:
            errors["referred_from.reference"] = [_("请填写转来单位的编号（如警情号）")]
        elif len(request.referral_reference) > actions.MAX_REFERENCE:
            errors["referred_from.reference"] = [_("最多 %(n)d 字") % {"n": actions.MAX_REFERENCE}]
    elif request.referral_reference:
        errors["referred_from.line"] = [_("请选择转来单位")]
    if errors:
        raise InvalidInput(_("登记信息有误"), details=errors)
    request.lat = _coordinate(request.lat, "lat", 90)
    request.lng = _coordinate(request.lng, "lng", 180)
    if (request.lat is None) != (request.lng is None):
        raise InvalidInput(_("经纬度须同时填写"), details={"lat": [_("须与经度同时填写")]})
    return request


def find_or_create_citizen(*, phone: str, name: str) -> Citizen | None:
    """The citizen with this phone (by its digest), created on first contact."""
    if not phone:
        return None
    digest = phone_digest(phone)
    citizen = Citizen.objects.filter(phone_digest=digest).first()
    if citizen is None:
        citizen = insert_citizen(phone=phone, digest=digest, name=name)
    elif name and not citizen.name:
        citizen.name = name
        citizen.save(update_fields=["name"])
    return citizen


def insert_citizen(*, phone: str, digest: str, name: str) -> Citizen:
    """Insert the citizen unless a concurrent registration just did; either way, the row.

    ``INSERT … ON CONFLICT DO NOTHING``: the loser of a race gets no unique-key
    error, so PostgreSQL never writes the failed statement, with the citizen's
    name and phone in it, to its log.
    """
    Citizen.objects.bulk_create([Citizen(phone=phone, phone_digest=digest, name=name)], ignore_conflicts=True)
    return Citizen.objects.get(phone_digest=digest)


def find_by_channel_ref(channel: str, channel_ref: str) -> Ticket | None:
    if not channel_ref:
        return None
    return Ticket.objects.filter(channel=channel, channel_ref=channel_ref).first()


def _existing(request: IntakeRequest) -> Ticket | None:
    """The ticket a retry of this request already made: by the referral (line, reference), else by the channel id."""
    return linkage.find_referral(request.referred_from, request.referral_reference) or find_by_channel_ref(request.channel, request.channel_ref)


def register_ticket(request: IntakeRequest, *, by=None) -> IntakeResult:
    """受理: create a ticket in ``registered`` (or return the one this channel id already made).

    Proposes a department from the dispatch catalogue; a rule marked
    automatic dispatches at once, by the system (unless ``request.auto_dispatch`` is False).
    """
    actor: Actor = as_actor(by) if by is not None else SYSTEM
    request = validate(request)
    existing = _existing(request)
    if existing is not None:
        return IntakeResult(existing, created=False)
    try:
        with transaction.atomic():
            ticket = _create(request, actor)
    except IntegrityError:
        # A retry of the same channel id (or the same referral) raced us; the first one won.
        existing = _existing(request)
        if existing is None:
            raise
        return IntakeResult(existing, created=False)
    proposal_rule = ticket.proposed_rule
    if request.auto_dispatch and proposal_rule is not None and proposal_rule.automatic:
        ticket = actions.dispatch_ticket(ticket, department=ticket.proposed_department, by=SYSTEM, rule=proposal_rule)
    elif request.auto_dispatch and _confident(ticket):
        model = {"version": ticket.proposal_version, "score": ticket.proposal_score}
        ticket = actions.dispatch_ticket(ticket, department=ticket.proposed_department, by=SYSTEM, rule=proposal_rule, category=ticket.proposed_category, model=model)
    return IntakeResult(ticket, created=True)


def _confident(ticket: Ticket) -> bool:
    """The classifier is sure enough, by the city's threshold (off unless set), to dispatch without a dispatcher."""
    if ticket.category_id or not ticket.proposed_category_id or not ticket.proposed_department_id or ticket.proposal_score is None:
        return False
    threshold = IntelligencePolicy.current().auto_dispatch_threshold
    return threshold is not None and ticket.proposal_score >= threshold


def _create(request: IntakeRequest, actor: Actor) -> Ticket:
    citizen = None if request.anonymous and not request.citizen_phone else find_or_create_citizen(phone=request.citizen_phone, name=request.citizen_name)
    now = timezone.now()
    ticket = Ticket(
        channel=request.channel,
        channel_ref=request.channel_ref,
        type=request.type,
        category=request.category,
        urgency=request.urgency,
        life_safety=request.life_safety,
        title=request.title or request.description[:40],
        description=request.description,
        address=request.address,
        lat=request.lat,
        lng=request.lng,
        area=request.area,
        citizen=citizen,
        anonymous=request.anonymous,
        confidential=request.confidential,
        registered_by=actor.user,
        registered_at=now,
        referred_from=request.referred_from,
        referral_reference=request.referral_reference if request.referred_from is not None else "",
    )
    learned = intelligence.propose(ticket) if ticket.category_id is None else None
    proposal = rules.propose(ticket)
    if learned is not None and learned.department is not None:  # the catalogue applied to the learned category and area
        proposal = rules.Proposal(department=learned.department, rule=learned.rule)
    if proposal is not None:
        ticket.proposed_department = proposal.department
        ticket.proposed_rule = proposal.rule
    # The day's number row stays locked until commit and serializes registrations: take it last.
    ticket.number = numbering.next_number(now)
    ticket.save()
    for incoming in request.attachments:
        attachment = Attachment(ticket=ticket, original_name=incoming.name[:200], content_type=incoming.content_type, size=len(incoming.data))
        attachment.file.save(incoming.name[-100:] or "file", ContentFile(incoming.data), save=False)
        attachment.save()
    data = {"channel": request.channel}
    if request.referred_from is not None:
        data.update(referred_from=request.referred_from.code, referred_from_name=request.referred_from.name, referral_reference=request.referral_reference)
    if proposal is not None:
        data.update(proposed_department=proposal.department.pk, proposed_rule=proposal.rule.pk)
    if learned is not None:
        data.update(proposed_category=learned.best.category.pk, proposal_score=ticket.proposal_score, model=ticket.proposal_version)
    event = actions.record_event(ticket, kind=EventKind.REGISTERED, actor=actor, data=data)
    effects.after_transition(ticket, event, notify_citizen=["registered"])
    outbox.enqueue("hotissue.join", {"ticket_id": ticket.pk}, key=f"hotissue.join:{ticket.pk}")  # the worker finds its hot issue
    return ticket
