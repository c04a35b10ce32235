"""Twilio webhooks: each checks the signature (``security.twilio_webhook``), calls one
function of ``calls`` / ``sms`` and answers TwiML.

A request that is signed but malformed (no CallSid, say) gets a 400 in the
project's JSON error shape; nothing is half-written, since every change is
one transaction in the functions called.
"""

from __future__ import annotations

import functools
import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant
from twilio.twiml.messaging_response import MessagingResponse

from hotline.api_errors import error_body
from routing.errors import DomainError, InvalidInput, NotAllowed
from routing.models import User
from routing.roles import HOTLINE_ROLES
from services.telephony import callbacks, calls, conf, progress, recordings, screen_pop, sms, twiml
from services.telephony.http import MediaError
from services.telephony.models import CallRecord
from services.telephony.security import twilio_webhook

log = logging.getLogger(__name__)

TWIML_CONTENT_TYPE = "text/xml; charset=utf-8"


def twiml_response(document) -> HttpResponse:
    return HttpResponse(str(document), content_type=TWIML_CONTENT_TYPE)


def webhook(view):
    """A Twilio webhook answering TwiML; a domain error (bad parameters) becomes its 4xx."""

    @twilio_webhook
    @functools.wraps(view)
    def wrapper(request: HttpRequest):
        try:
            return twiml_response(view(request))
        except DomainError as exc:
            log.warning("twilio webhook %s rejected: %s %s", request.path, exc.message, exc.details)
            return JsonResponse(error_body(exc.code, exc.message, exc.details), status=exc.http_status)

    return wrapper


# --- the caller's path ------------------------------------------------------------
@webhook
def incoming_call(request: HttpRequest):
    """The number's voice webhook: greeting and main menu."""
    calls.ensure_call(request.POST)
    return twiml.welcome()


@webhook
def menu(request: HttpRequest):
    """The menu's ``<Gather>`` action; no key pressed means an agent (or the menu again after a lookup)."""
    digits = (request.POST.get("Digits") or "").strip()
    if not digits:
        calls.ensure_call(request.POST)
        if request.GET.get("repeat"):
            return twiml.menu(twiml.VoiceResponse(), greeting=False)
        return twiml.to_agents(open_now=conf.within_service_hours())
    if digits not in CallRecord.Menu.values:
        calls.ensure_call(request.POST)
        return twiml.invalid_choice()
    calls.choose(request.POST, digits)
    if digits == CallRecord.Menu.TRACK:
        return twiml.ask_ticket_number()
    return twiml.to_agents(open_now=conf.within_service_hours())


@webhook
def track(request: HttpRequest):
    """The ticket number keyed in after menu 3: its progress, for the caller's own tickets only."""
    call = calls.ensure_call(request.POST)
    number = progress.number_from_digits(request.POST.get("Digits", ""))
    if number is None:
        return twiml.ask_ticket_number(retry=True)
    ticket = progress.ticket_for_phone(number, call.from_number)
    if ticket is None:
        return twiml.ticket_progress(_("没有查询到与您来电号码对应的该工单，请核对工单号码。"))
    return twiml.ticket_progress(_("您查询的工单，当前状态为：%(state)s。") % {"state": progress.describe_state(ticket)})


@webhook
def wait(request: HttpRequest):
    """The queue's waitUrl (and its ``<Gather>`` action): hold, or leave the queue to record a message."""
    calls.ensure_call(request.POST)
    if (request.POST.get("Digits") or "").strip() == "1":
        return twiml.leave_queue_for_voicemail()
    queue_time = calls.whole_seconds(request.POST.get("QueueTime")) or 0
    position = calls.whole_seconds(request.POST.get("QueuePosition"))
    return twiml.waiting(position=position, overflow=queue_time >= conf.get("HOTLINE_QUEUE_MAX_WAIT"))


@webhook
def queue_result(request: HttpRequest):
    """The ``<Enqueue>`` action: the caller left the queue — by choice, overflow or error → voicemail."""
    calls.queue_left(request.POST)
    result = (request.POST.get("QueueResult") or "").strip()
    if result in {"leave", "queue-full", "error", "system-error"}:
        return twiml.voicemail()
    if result == "hangup":
        return twiml.empty()
    return twiml.queue_finished()  # bridged: the conversation with the agent is over


@webhook
def recording(request: HttpRequest):
    """The ``<Record>`` action: the message becomes a ticket (once per call)."""
    ticket = calls.register_voicemail(request.POST)
    return twiml.voicemail_received(number=ticket.number if ticket else None)


@webhook
def recording_status(request: HttpRequest):
    calls.recording_status(request.POST)
    return twiml.empty()


@webhook
def transcription(request: HttpRequest):
    calls.add_transcription(request.POST)
    return twiml.empty()


@webhook
def status(request: HttpRequest):
    """The call status callback configured on the number."""
    calls.update_status(request.POST)
    return twiml.empty()


# --- the agent's side ------------------------------------------------------------------
@webhook
def agent(request: HttpRequest):
    """The TwiML App's voice URL, fetched when an agent's Twilio Client (identity = username) is ready."""
    user = calls.agent_from_identity(request.POST.get("From", ""))
    if user is None:
        log.warning("twilio agent leg refused for identity %r", request.POST.get("From", "")[:80])
        return twiml.agent_refused()
    return twiml.agent_dequeue(agent_id=user.pk)


@webhook
def connect(request: HttpRequest):
    """The ``<Queue url>``: a queued caller is about to be bridged to the agent named in the URL — the screen pop."""
    agent_id = calls.whole_seconds(request.GET.get("agent"))
    user = User.objects.filter(pk=agent_id, is_active=True).first() if agent_id else None
    if user is None:
        raise InvalidInput(_("未知的话务员"), details={"agent": [_("无效")]})
    call, first = calls.bridge(request.POST, agent=user)
    if first:
        screen_pop.push_after_commit(call, user.pk)
    return twiml.bridging()


@require_GET
@never_cache
def agent_token(request: HttpRequest):
    """A Voice SDK access token for the signed-in hotline staff member; identity = username.

    The console's Twilio Device registers with it and dials the TwiML App,
    whose voice URL (``/twilio/voice/agent/``) dequeues the next caller.
    """
    user = request.user
    if not user.is_authenticated:
        return JsonResponse(error_body("not_authenticated", _("请先登录")), status=401)
    if user.role not in HOTLINE_ROLES:
        return JsonResponse(error_body("forbidden", _("只有热线工作人员可以接听来电")), status=403)
    if not conf.agent_client_enabled():
        return JsonResponse(
            error_body("telephony_disabled", _("坐席软电话未启用：请设置 Twilio 凭据及 TWILIO_API_KEY_SID、TWILIO_API_KEY_SECRET、TWILIO_TWIML_APP_SID")),
            status=503,
        )
    ttl = conf.get("TWILIO_AGENT_TOKEN_TTL")
    token = AccessToken(
        settings.TWILIO_ACCOUNT_SID, conf.get("TWILIO_API_KEY_SID"), conf.get("TWILIO_API_KEY_SECRET"), identity=user.get_username(), ttl=ttl
    )
    token.add_grant(VoiceGrant(outgoing_application_sid=conf.get("TWILIO_TWIML_APP_SID"), incoming_allow=False))
    return JsonResponse({"identity": user.get_username(), "token": token.to_jwt(), "expires_in": ttl})


# --- playing a voice message back (收听录音) ------------------------------------------
# What the browser is told when Twilio does not deliver; never Twilio's URL or answer.
MEDIA_FAILURES = {
    "timeout": (504, "recording_timeout", gettext_lazy("录音服务响应超时，请稍后再试")),
    "unreachable": (502, "recording_unavailable", gettext_lazy("暂时无法获取录音，请稍后再试")),
    "too_large": (502, "recording_too_large", gettext_lazy("录音文件过大，无法播放")),
    "not_media": (502, "recording_unavailable", gettext_lazy("暂时无法获取录音，请稍后再试")),
}


def _media_failure(exc: MediaError) -> JsonResponse:
    if exc.reason == "status" and exc.status == 404:
        status, code, message = 404, "recording_gone", _("录音在语音平台上已不存在")
    elif exc.reason == "status":
        status, code, message = 502, "recording_unavailable", _("暂时无法获取录音，请稍后再试")
    else:
        status, code, message = MEDIA_FAILURES[exc.reason]
    return JsonResponse(error_body(code, message), status=status)


@require_GET
@login_required
def recording_audio(request: HttpRequest, number: str, recording_sid: str):
    """A ticket's voice message as MP3, fetched from Twilio for signed-in staff who may hear it; each play is logged.

    404 when the ticket has no such recording or the user does not see the
    ticket; 403 when they see it but may not hear the citizen (confidential);
    502/504 when Twilio does not deliver.
    """
    user = request.user
    if not getattr(user, "role", ""):
        return JsonResponse(error_body("forbidden", _("无权访问")), status=403)
    call = recordings.find(user, number=number, recording_sid=recording_sid)
    if call is None:
        return JsonResponse(error_body("not_found", _("未找到该录音")), status=404)
    if not recordings.may_play(user, call.ticket):
        return JsonResponse(error_body("confidential", _("诉求人要求保密，无权收听录音")), status=403)
    if not conf.telephony_enabled():
        return JsonResponse(error_body("telephony_disabled", _("电话渠道未启用：请设置 TWILIO_ACCOUNT_SID、TWILIO_AUTH_TOKEN、TWILIO_PHONE_NUMBER")), status=503)
    try:
        media, _event = recordings.play(call, by=user)
    except MediaError as exc:
        log.warning("recording %s of ticket %s not relayed: %s", call.recording_sid, number, exc)
        return _media_failure(exc)
    except NotAllowed as exc:
        return JsonResponse(error_body(exc.code, exc.message, exc.details), status=exc.http_status)
    response = HttpResponse(media.content, content_type="audio/mpeg")
    response["Content-Length"] = str(len(media.content))
    response["Cache-Control"] = "private, no-store"
    response["Content-Disposition"] = f'inline; filename="{number}-{recording_sid}.mp3"'
    return response


# --- 漏接回拨 -------------------------------------------------------------------------------
@require_POST
@login_required
def missed_callback(request: HttpRequest, call_sid: str):
    """The console's 记录回拨 form: the call back's result; back to the console with what happened."""
    try:
        callbacks.record(call_sid, result=request.POST.get("result", ""), note=request.POST.get("note", ""), by=request.user)
    except DomainError as exc:
        if exc.http_status == 403:
            return HttpResponse(exc.message, status=403, content_type="text/plain; charset=utf-8")
        messages.error(request, exc.message)
    else:
        messages.success(request, _("已记录回拨结果"))
    return redirect(reverse("console") + "#missed-calls")


# --- SMS ---------------------------------------------------------------------------------
@webhook
def sms_inbound(request: HttpRequest):
    """The number's messaging webhook."""
    answer = sms.receive(request.POST)
    response = MessagingResponse()
    if answer:
        response.message(answer)
    return response
