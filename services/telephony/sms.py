"""SMS both ways: what a citizen texts us, and what the outbox texts them.

Inbound (``/twilio/sms/``), in this order:

1. a satisfaction answer (``1``/``2``/``3`` or 满意/基本满意/不满意) from a
   phone with a ticket awaiting its rating → 回访 by the citizen, and 重办
   when unsatisfied;
2. a message with a ticket number of the sender's own → its progress;
3. anything else → a new ticket (channel ``sms``, ``channel_ref=sms:<MessageSid>``).

A MessageSid seen before gets the answer it got the first time, and nothing
else happens.

Outbound: the outbox kind ``citizen.notify`` (``registered``, ``reply``,
``survey``, ``transferred``) is delivered by ``deliver_citizen_notify`` through
``twilio.rest.Client``, at most once per outbox key (see its docstring).
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Mapping
from datetime import timedelta

import requests
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from routing import actions, outbox
from routing.errors import DomainError
from routing.intake import IntakeRequest, register_ticket
from routing.models import Citizen, OutboxMessage, Ticket, normalize_phone, phone_digest
from routing.roles import SYSTEM, citizen_actor
from routing.states import Channel, EventKind, Satisfaction, State, TicketType
from services.telephony import calls, conf, progress
from services.telephony.http import rest_client
from services.telephony.models import SmsMessage

log = logging.getLogger(__name__)

MAX_BODY = 1600  # Twilio's limit for one message
REPLY_EXCERPT = 200  # characters of a department's reply quoted in an SMS; the link has the rest
LOOKUP_SLACK = timedelta(minutes=5)  # clock difference tolerated when looking a message up at Twilio

SURVEY_ANSWERS = {
    "1": Satisfaction.SATISFIED,
    "满意": Satisfaction.SATISFIED,
    "2": Satisfaction.BASICALLY_SATISFIED,
    "基本满意": Satisfaction.BASICALLY_SATISFIED,
    "3": Satisfaction.UNSATISFIED,
    "不满意": Satisfaction.UNSATISFIED,
}
REOPEN_REASON = "短信回访不满意"


# --- inbound --------------------------------------------------------------------------
def survey_answer(text: str) -> str | None:
    """满意度 from a reply such as ``1``, ``１``, ``满意。`` or ``不满意!``; None for anything else."""
    normalized = unicodedata.normalize("NFKC", text or "").strip().rstrip("。.!！~～ ").strip()
    return SURVEY_ANSWERS.get(normalized)


def awaiting_rating(citizen: Citizen | None) -> Ticket | None:
    """The citizen's ticket whose survey they are answering: the latest approved reply awaiting rating."""
    if citizen is None:
        return None
    return Ticket.objects.filter(citizen=citizen, state=State.REPLY_APPROVED).order_by("-replied_at", "-registered_at").first()


def receive(params: Mapping) -> str:
    """Handle one inbound SMS webhook; returns the text to answer with ('' for no answer)."""
    message_sid = calls.sid(params, "MessageSid")
    previous = SmsMessage.objects.filter(message_sid=message_sid).first()
    if previous is not None:
        return previous.reply
    body = params.get("Body") or ""
    if not body.strip():
        return _("您发送的短信没有文字内容。请用文字描述您的诉求，或拨打12345热线。")
    if len(body) > MAX_BODY:
        return _("您发送的短信过长（最多 %(n)d 字），请精简后重新发送，或通过网站提交诉求。") % {"n": MAX_BODY}
    from_number = (params.get("From") or "").strip()[:64]
    digest = phone_digest(from_number) if normalize_phone(from_number) else ""
    try:
        with transaction.atomic():
            message = SmsMessage.objects.create(
                direction=SmsMessage.Direction.INBOUND,
                message_sid=message_sid,
                from_number=from_number,
                to_number=(params.get("To") or "").strip()[:64],
                phone_digest=digest,
                body=body,
                num_media=calls.whole_seconds(params.get("NumMedia")) or 0,
                status=SmsMessage.Status.RECEIVED,
                citizen=calls.find_citizen(digest),
            )
            message.reply = _handle(message, params)
            message.save(update_fields=["reply", "ticket", "citizen", "updated_at"])
    except IntegrityError:
        # The same MessageSid, retried by Twilio while we were handling it: one answer.
        previous = SmsMessage.objects.filter(message_sid=message_sid).first()
        if previous is None:
            raise
        return previous.reply
    return message.reply


def _handle(message: SmsMessage, params: Mapping) -> str:
    text = message.body.strip()
    satisfaction = survey_answer(text)
    if satisfaction:
        return _rate(message, satisfaction)
    number = progress.find_number(text)
    if number:
        ticket = progress.ticket_for_phone(number, message.from_number)
        if ticket is None:
            return _("未查询到与本手机号码对应的工单 %(number)s，请核对工单号。") % {"number": number}
        message.ticket = ticket
        return _("工单 %(number)s：%(state)s。详情请查看 %(url)s") % {
            "number": ticket.number,
            "state": progress.describe_state(ticket),
            "url": progress.tracking_url(ticket.number),
        }
    return _register(message, params)


def _rate(message: SmsMessage, satisfaction: str) -> str:
    ticket = awaiting_rating(message.citizen)
    if ticket is None:
        return _("您目前没有待评价的工单。如需反映问题，请直接发送诉求内容。")
    message.ticket = ticket
    by = citizen_actor(message.citizen)
    try:
        ticket = actions.citizen_rating(ticket, satisfaction=satisfaction, reason=str(REOPEN_REASON), by=by)
        if satisfaction == Satisfaction.UNSATISFIED:
            return _("已收到您的评价。很抱歉未能让您满意，工单 %(number)s 已重新交承办单位办理。") % {"number": ticket.number}
    except DomainError as exc:  # rated meanwhile by an agent's callback call
        log.info("sms rating of %s not recorded: %s", ticket.number, exc.message)
        return _("工单 %(number)s 已完成回访，感谢您的反馈。") % {"number": ticket.number}
    return _("感谢您的评价！工单 %(number)s 已办结。") % {"number": ticket.number}


def _register(message: SmsMessage, params: Mapping) -> str:
    try:
        result = register_ticket(
            IntakeRequest(
                channel=Channel.SMS,
                channel_ref=f"sms:{message.message_sid}",
                type=TicketType.HELP,
                description=message.body.strip(),
                citizen_phone=message.from_number if message.phone_digest else "",
                anonymous=not message.phone_digest,
            ),
            by=SYSTEM,
        )
    except DomainError as exc:
        log.info("sms %s not registered: %s %s", message.message_sid, exc.message, exc.details)
        return _("抱歉，您的短信暂时无法受理，请拨打12345热线或通过网站提交诉求。")
    ticket = result.ticket
    message.ticket = ticket
    message.citizen_id = ticket.citizen_id
    media = [params.get(f"MediaUrl{i}") for i in range(min(message.num_media, 10))]
    media = [url for url in media if url]
    if result.created and media:
        actions.add_note(ticket, kind=EventKind.SMS_MEDIA, text=_("短信附带的图片：%(urls)s") % {"urls": " ".join(media)}, by=SYSTEM)
    return _("您的诉求已受理，工单号 %(number)s。查询办理进度：%(url)s") % {"number": ticket.number, "url": progress.tracking_url(ticket.number)}


# --- outbound ---------------------------------------------------------------------------
TEMPLATES = ("registered", "reply", "survey", "transferred")


def compose(ticket: Ticket, template: str) -> str:
    """The Chinese text of a notice to the citizen."""
    with translation.override(settings.LANGUAGE_CODE):
        link = progress.tracking_url(ticket.number)
        if template == "registered":
            return _("【12345热线】您的诉求已受理，工单号 %(number)s。查询办理进度：%(url)s") % {"number": ticket.number, "url": link}
        if template == "reply":
            text = " ".join((ticket.reply_text or ticket.resolution or "").split())
            if len(text) > REPLY_EXCERPT:
                text = text[: REPLY_EXCERPT - 1] + "…"
            return _("【12345热线】您的工单 %(number)s 已有答复：%(text)s 详情：%(url)s") % {"number": ticket.number, "text": text, "url": link}
        if template == "transferred":
            line = ticket.transferred_to.name if ticket.transferred_to_id else ""
            return _("【12345热线】您的工单 %(number)s 所反映的事项已移交%(line)s处理。情况紧急请直接拨打%(phone)s。") % {
                "number": ticket.number, "line": line, "phone": ticket.transferred_to.phone if ticket.transferred_to_id else "110",
            }  # fmt: skip
        if template == "survey":
            return _("【12345热线】请对工单 %(number)s 的办理结果进行评价：回复1满意，2基本满意，3不满意。") % {"number": ticket.number}
    raise ValueError(f"unknown SMS template {template!r}")


def deliver_citizen_notify(message: OutboxMessage) -> dict:
    """Outbox handler for ``citizen.notify``: send the SMS once, whatever happens in between.

    The ``SmsMessage`` row keyed by the outbox idempotency key says how far
    an earlier attempt got:

    - ``sent``: done before (the worker died before recording it): nothing is sent;
    - ``sending``: a request went out and its outcome is unknown (timeout, 5xx,
      connection lost): the message is looked up at Twilio first, and sent only
      if it is not there;
    - ``pending``: nothing reached Twilio (or Twilio said 429): send.

    429 and 5xx raise, so the outbox retries with back-off; a refusal for good
    (400/404, e.g. not a mobile number) is recorded and skipped.
    """
    if not conf.telephony_enabled():
        raise outbox.Skip("telephony is off (no Twilio credentials)")
    payload = message.payload
    template = payload.get("template")
    if template not in TEMPLATES:
        raise outbox.Skip(f"unknown template {template!r}")
    ticket = Ticket.objects.select_related("citizen").filter(pk=payload.get("ticket_id")).first()
    if ticket is None:
        raise outbox.Skip("ticket not found")
    if template == "registered" and ticket.channel == Channel.SMS:
        raise outbox.Skip("the ticket number was answered in the citizen's own SMS conversation")
    if ticket.citizen_id and ticket.citizen.demo:
        raise outbox.Skip("a citizen of the demo city is never texted")
    phone = ticket.citizen.phone if ticket.citizen_id else ""
    if not normalize_phone(phone):
        raise outbox.Skip("the citizen has no phone number")

    sms, _created = SmsMessage.objects.get_or_create(
        outbox_key=message.idempotency_key,
        defaults={
            "direction": SmsMessage.Direction.OUTBOUND,
            "from_number": settings.TWILIO_PHONE_NUMBER,
            "to_number": _e164(phone),
            "phone_digest": phone_digest(phone),
            "body": compose(ticket, template),
            "template": template,
            "ticket": ticket,
            "citizen": ticket.citizen,
            "status": SmsMessage.Status.PENDING,
        },
    )
    if sms.status == SmsMessage.Status.SENT:
        return {"sid": sms.message_sid, "already_sent": True}
    if sms.status == SmsMessage.Status.FAILED:
        raise outbox.Skip(f"refused by Twilio before: {sms.error}")

    client = rest_client()
    if sms.status == SmsMessage.Status.SENDING:
        found = _find_at_twilio(client, sms)
        if found is not None:
            _mark_sent(sms, found)
            return {"sid": sms.message_sid, "found_at_twilio": True}

    # Written (and committed: the worker runs outside a transaction) before the
    # request leaves, so a crash after sending still leaves the trace to look up.
    now = timezone.now()
    SmsMessage.objects.filter(pk=sms.pk).update(
        status=SmsMessage.Status.SENDING, attempts=sms.attempts + 1, first_attempt_at=sms.first_attempt_at or now, updated_at=now
    )
    sms.refresh_from_db()
    try:
        resource = client.messages.create(to=sms.to_number, from_=sms.from_number, body=sms.body)
    except requests.RequestException as exc:
        _note_error(sms, f"{type(exc).__name__}: {exc}")  # stays "sending": look it up next time
        raise
    except Exception as exc:
        status = getattr(exc, "status", None)
        if not isinstance(status, int):
            _note_error(sms, f"{type(exc).__name__}: {exc}")
            raise
        if status == 429:
            _note_error(sms, f"429 {exc}", status=SmsMessage.Status.PENDING)
            raise outbox.Retry(f"Twilio rate limit (429): {exc}") from exc
        if status >= 500:
            _note_error(sms, f"{status} {exc}")
            raise
        if status in (400, 404):
            _note_error(sms, f"{status} {exc}", status=SmsMessage.Status.FAILED)
            raise outbox.Skip(f"Twilio refused the message: {exc}") from exc
        _note_error(sms, f"{status} {exc}", status=SmsMessage.Status.PENDING)  # 401/403: credentials, retried
        raise
    _mark_sent(sms, resource)
    return {"sid": sms.message_sid}


def _e164(phone: str) -> str:
    """A stored phone as Twilio wants it (E.164). Stored numbers are mainland numbers without +86
    (``routing.models.normalize_phone``): mobiles get +86, landlines lose their trunk 0."""
    phone = phone.strip()
    if phone.startswith("+"):
        return phone
    digits = normalize_phone(phone)
    if digits.startswith("0"):  # mainland landline with its trunk prefix, e.g. 021…
        return f"+86{digits[1:]}"
    if len(digits) == 11 and digits.startswith("1"):  # mainland mobile
        return f"+86{digits}"
    return f"+{digits}"


def _note_error(sms: SmsMessage, error: str, *, status: str | None = None) -> None:
    update = {"error": error[:2000], "updated_at": timezone.now()}
    if status:
        update["status"] = status
    SmsMessage.objects.filter(pk=sms.pk).update(**update)


def _find_at_twilio(client, sms: SmsMessage):
    """The message an earlier, uncertain attempt may have created, or None.

    Listed by To and From (newest first) and matched on body and creation
    time. Not filtered by DateSent: Twilio's filter is by day and a message
    still queued has no date_sent yet.
    """
    since = (sms.first_attempt_at or sms.created_at) - LOOKUP_SLACK
    candidates = client.messages.list(to=sms.to_number, from_=sms.from_number, limit=50)
    # A message already recorded for another outbox key is not this one (the same text can be sent twice).
    known = set(SmsMessage.objects.filter(message_sid__in=[c.sid for c in candidates]).exclude(pk=sms.pk).values_list("message_sid", flat=True))
    for candidate in candidates:
        created = candidate.date_created
        if candidate.sid in known or (created is not None and created < since):
            continue
        if sms.body in (candidate.body or ""):
            return candidate
    return None


def _mark_sent(sms: SmsMessage, resource) -> None:
    now = timezone.now()
    SmsMessage.objects.filter(pk=sms.pk).update(
        status=SmsMessage.Status.SENT, message_sid=resource.sid, provider_status=(resource.status or "")[:16], sent_at=now, error="", updated_at=now
    )
    sms.refresh_from_db()
