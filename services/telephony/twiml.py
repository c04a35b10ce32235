"""The spoken side of the hotline: TwiML documents in Mandarin.

Every ``<Say>`` uses ``TWILIO_SAY_VOICE`` / ``TWILIO_SAY_LANGUAGE``
(Amazon Polly's Mandarin voice Zhiyu, language ``cmn-CN``, by default), and
every URL in a document is one of our own paths under ``/twilio/voice/``
(relative: Twilio resolves it against the URL it just called).
"""

from __future__ import annotations

from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from services.telephony import conf


def url(name: str, **query) -> str:
    path = reverse(name)
    return f"{path}?{urlencode(query)}" if query else path


def say(node, text: str) -> None:
    node.say(text, voice=conf.get("TWILIO_SAY_VOICE"), language=conf.get("TWILIO_SAY_LANGUAGE"))


def _digits_gather(response: VoiceResponse, *, action: str, num_digits: int, timeout: int, finish_on_key: str | None = None) -> Gather:
    return response.gather(
        input="dtmf",
        action=action,
        method="POST",
        num_digits=num_digits,
        timeout=timeout,
        finish_on_key=finish_on_key,
        language=conf.get("TWILIO_GATHER_LANGUAGE"),
    )


def menu(response: VoiceResponse, *, greeting: bool) -> VoiceResponse:
    """主菜单: 1 咨询, 2 求助/投诉/举报, 3 查询工单进度, 0 人工; silence goes to an agent."""
    gather = _digits_gather(response, action=url("telephony-voice-menu"), num_digits=1, timeout=6)
    if greeting:
        say(gather, _("您好，欢迎致电12345政务服务便民热线。"))
    say(gather, _("政策咨询请按1；求助、投诉、举报请按2；查询工单办理进度请按3；人工服务请按0。"))
    response.redirect(url("telephony-voice-menu"), method="POST")  # no key pressed
    return response


def welcome() -> VoiceResponse:
    return menu(VoiceResponse(), greeting=True)


def invalid_choice() -> VoiceResponse:
    response = VoiceResponse()
    say(response, _("输入有误。"))
    return menu(response, greeting=False)


def to_agents(*, open_now: bool) -> VoiceResponse:
    """Within service hours: the agents' queue. Otherwise: leave a message."""
    if not open_now:
        return voicemail(reason=_("现在是非人工服务时间。"))
    response = VoiceResponse()
    say(response, _("正在为您转接话务员，请稍候。"))
    response.enqueue(
        conf.get("HOTLINE_QUEUE_NAME"),
        action=url("telephony-voice-queue"),
        method="POST",
        wait_url=url("telephony-voice-wait"),
        wait_url_method="POST",
    )
    return response


def waiting(*, position: int | None, overflow: bool) -> VoiceResponse:
    """What a queued caller hears, again and again (Twilio re-fetches the waitUrl); ``<Leave>`` on overflow."""
    response = VoiceResponse()
    if overflow:
        say(response, _("当前话务繁忙，请您留言，我们将尽快处理。"))
        response.leave()
        return response
    gather = _digits_gather(response, action=url("telephony-voice-wait"), num_digits=1, timeout=1)
    if position and position > 1:
        say(gather, _("您前面还有%(n)d位来电，请耐心等候。") % {"n": position - 1})
    else:
        say(gather, _("话务员马上为您服务，请稍候。"))
    say(gather, _("如需留言，请按1。"))
    response.pause(length=10)
    return response


def leave_queue_for_voicemail() -> VoiceResponse:
    response = VoiceResponse()
    response.leave()
    return response


def voicemail(*, reason: str = "") -> VoiceResponse:
    """Record a message that becomes a ticket; transcribed, with recording status callbacks."""
    response = VoiceResponse()
    if reason:
        say(response, reason)
    say(response, _("请在提示音后说明您的诉求、地点和联系方式，说完请按井号键。"))
    response.record(
        action=url("telephony-voice-recording"),
        method="POST",
        max_length=conf.get("HOTLINE_VOICEMAIL_MAX_LENGTH"),
        timeout=5,
        finish_on_key="#",
        play_beep=True,
        transcribe=True,
        transcribe_callback=url("telephony-voice-transcription"),
        recording_status_callback=url("telephony-voice-recording-status"),
        recording_status_callback_method="POST",
        recording_status_callback_event="completed absent",
    )
    # Reached only when nothing was recorded.
    say(response, _("没有收到您的留言，感谢您的来电，再见。"))
    response.hangup()
    return response


def voicemail_received(*, number: str | None) -> VoiceResponse:
    response = VoiceResponse()
    if number:
        say(response, _("您的留言已记录，我们已为您登记工单，工单号将以短信发送给您。感谢您的来电，再见。"))
    else:
        say(response, _("没有收到您的留言，感谢您的来电，再见。"))
    response.hangup()
    return response


def ask_ticket_number(*, retry: bool = False) -> VoiceResponse:
    """查询: 14 digits of the ticket number, finished with #."""
    response = VoiceResponse()
    gather = _digits_gather(response, action=url("telephony-voice-track"), num_digits=14, timeout=10, finish_on_key="#")
    if retry:
        say(gather, _("工单号码应为14位数字。"))
    say(gather, _("请输入14位工单号码，不含横线，以井号键结束。"))
    say(response, _("没有收到输入。"))
    response.redirect(url("telephony-voice-menu", repeat=1), method="POST")
    return response


def ticket_progress(text: str) -> VoiceResponse:
    response = VoiceResponse()
    say(response, text)
    return menu(response, greeting=False)


def queue_finished() -> VoiceResponse:
    response = VoiceResponse()
    say(response, _("感谢您的来电，再见。"))
    response.hangup()
    return response


def bridging() -> VoiceResponse:
    """Spoken to the caller just before the agent is connected (``<Queue url>``: Say/Play/Pause/Redirect only)."""
    response = VoiceResponse()
    say(response, _("正在为您接通话务员。"))
    return response


def agent_dequeue(*, agent_id: int) -> VoiceResponse:
    """An agent's client leg: take the next caller from the queue; the connect URL names the agent."""
    response = VoiceResponse()
    dial = Dial()
    dial.queue(conf.get("HOTLINE_QUEUE_NAME"), url=url("telephony-voice-connect", agent=agent_id), method="POST")
    response.append(dial)
    return response


def agent_refused() -> VoiceResponse:
    response = VoiceResponse()
    say(response, _("该坐席未获授权接听热线来电。"))
    response.hangup()
    return response


def empty() -> VoiceResponse:
    return VoiceResponse()
