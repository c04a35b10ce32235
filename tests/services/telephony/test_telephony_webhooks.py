"""Only Twilio gets in: signatures over the full URL and every parameter; TwiML in Mandarin pointing at our own paths."""

from __future__ import annotations

import json

import pytest
from django.urls import resolve, reverse

from services.telephony.models import CallRecord, SmsMessage

VOICE_URLS = [
    "telephony-voice",
    "telephony-voice-menu",
    "telephony-voice-track",
    "telephony-voice-wait",
    "telephony-voice-queue",
    "telephony-voice-recording",
    "telephony-voice-recording-status",
    "telephony-voice-transcription",
    "telephony-voice-status",
    "telephony-voice-agent",
    "telephony-voice-connect",
]
ALL_URLS = [*VOICE_URLS, "telephony-sms"]

# Attributes of TwiML verbs that hold a URL Twilio will request next.
URL_ATTRIBUTES = ("action", "waitUrl", "url", "transcribeCallback", "recordingStatusCallback")


def test_the_contract_paths():
    assert reverse("telephony-voice") == "/twilio/voice/"
    assert reverse("telephony-sms") == "/twilio/sms/"
    assert reverse("telephony-voice-connect") == "/twilio/voice/connect/"


# --- signatures ---------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("name", ALL_URLS)
def test_unsigned_requests_are_refused_everywhere(name, twilio, tel):
    # given a request with every parameter Twilio would send, but no signature
    params = tel.call_params(tel.new_sid("CA"))
    # when
    response = twilio.post(reverse(name), params, sign=False)
    # then
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "bad_signature"
    assert CallRecord.objects.count() == 0 and SmsMessage.objects.count() == 0


@pytest.mark.django_db
def test_a_signature_made_with_another_token_is_refused(twilio, tel):
    params = tel.call_params(tel.new_sid("CA"))
    forged = type(twilio)(twilio.client, token="not-our-token-0123456789").sign("/twilio/voice/", params)
    response = twilio.post("/twilio/voice/", params, signature=forged)
    assert response.status_code == 403
    assert CallRecord.objects.count() == 0


@pytest.mark.django_db
def test_a_signature_over_other_parameters_is_refused(twilio, tel):
    # given a signature over the real parameters
    params = tel.sms_params(tel.new_sid("SM"), "路灯坏了")
    signature = twilio.sign("/twilio/sms/", params)
    # when one parameter is changed on the way (and one that Twilio adds without notice is dropped)
    tampered = {**params, "Body": "改过的内容"}
    response = twilio.post("/twilio/sms/", tampered, signature=signature)
    # then
    assert response.status_code == 403
    assert SmsMessage.objects.count() == 0


@pytest.mark.django_db
def test_a_signature_for_another_url_is_refused(twilio, tel):
    params = tel.call_params(tel.new_sid("CA"))
    signature = twilio.sign("/twilio/voice/menu/", params)
    assert twilio.post("/twilio/voice/", params, signature=signature).status_code == 403


@pytest.mark.django_db
def test_parameters_we_do_not_read_are_signed_too(twilio, tel):
    # Twilio adds parameters without notice: the signature covers all of them.
    params = tel.call_params(tel.new_sid("CA"), StirVerstat="TN-Validation-Passed-A", CallToken="%7B%22x%22%3A1%7D")
    assert twilio.post("/twilio/voice/", params).status_code == 200
    without_one = dict(params)
    without_one.pop("StirVerstat")
    assert twilio.post("/twilio/voice/", without_one, signature=twilio.sign("/twilio/voice/", params)).status_code == 403


@pytest.mark.django_db
def test_signed_requests_are_answered_with_twiml(twilio, tel):
    root = tel.parse(twilio.post("/twilio/voice/", tel.call_params(tel.new_sid("CA"))))
    assert root.find("Gather") is not None
    assert CallRecord.objects.count() == 1


@pytest.mark.django_db
def test_debug_does_not_turn_verification_off(twilio, tel, settings):
    settings.DEBUG = True
    assert twilio.post("/twilio/voice/", tel.call_params(tel.new_sid("CA")), sign=False).status_code == 403


@pytest.mark.django_db
def test_only_the_explicit_setting_turns_verification_off(twilio, tel, settings):
    settings.TWILIO_VALIDATE_SIGNATURES = False
    response = twilio.post("/twilio/voice/", tel.call_params(tel.new_sid("CA")), sign=False)
    assert response.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["telephony-voice", "telephony-sms"])
def test_webhooks_say_503_while_telephony_is_off(name, twilio, tel, settings):
    settings.TELEPHONY_ENABLED = False
    response = twilio.post(reverse(name), tel.call_params(tel.new_sid("CA")))
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "telephony_disabled"
    assert "TWILIO_AUTH_TOKEN" in error["message"]


@pytest.mark.django_db
def test_get_is_not_a_webhook(client):
    response = client.get("/twilio/voice/")
    assert response.status_code == 405
    assert response["Allow"] == "POST"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name,params",
    [
        ("telephony-voice", {"From": "+8613800138000"}),
        ("telephony-voice", {"CallSid": "not-a-sid"}),
        ("telephony-voice-transcription", {"TranscriptionText": "x"}),
        ("telephony-sms", {"Body": "路灯坏了"}),
    ],
)
def test_signed_but_malformed_requests_get_a_clear_400(name, params, twilio):
    response = twilio.post(reverse(name), params)
    assert response.status_code == 400
    body = json.loads(response.content)
    assert body["error"]["code"] == "invalid"
    assert CallRecord.objects.count() == 0 and SmsMessage.objects.count() == 0


# --- TwiML -----------------------------------------------------------------------------------
def _urls_in(root) -> list[str]:
    urls = [element.get(attribute) for element in root.iter() for attribute in URL_ATTRIBUTES if element.get(attribute)]
    urls += [element.text for element in root.iter("Redirect")]
    return urls


def _assert_mandarin_and_ours(root):
    says = list(root.iter("Say"))
    assert says, "every answer speaks"
    for say in says:
        assert say.get("language") == "cmn-CN"
        assert say.get("voice") == "Polly.Zhiyu"
        assert any("\u4e00" <= ch <= "\u9fff" for ch in say.text)
    for gather in root.iter("Gather"):
        assert gather.get("language") == "cmn-Hans-CN"
        assert gather.get("input") == "dtmf"
    for url in _urls_in(root):
        assert url.startswith("/twilio/voice/"), url
        assert resolve(url.split("?")[0]).url_name in VOICE_URLS


@pytest.mark.django_db
def test_the_greeting_and_menu(twilio, tel):
    root = tel.parse(twilio.post("/twilio/voice/", tel.call_params(tel.new_sid("CA"))))
    _assert_mandarin_and_ours(root)
    gather = root.find("Gather")
    assert gather.get("numDigits") == "1"
    assert gather.get("action") == "/twilio/voice/menu/"
    prompt = "".join(say.text for say in gather.iter("Say"))
    for words in ("12345", "咨询请按1", "求助、投诉、举报请按2", "查询工单办理进度请按3", "人工服务请按0"):
        assert words in prompt
    # no key pressed: on to the menu, which hands the caller to an agent
    assert root.find("Redirect").text == "/twilio/voice/menu/"


@pytest.mark.django_db
def test_every_answer_of_the_voice_path_is_mandarin_and_points_home(twilio, tel, settings):
    call_sid = tel.new_sid("CA")
    steps = [
        ("/twilio/voice/menu/", {"Digits": "1"}),
        ("/twilio/voice/menu/", {"Digits": "3"}),
        ("/twilio/voice/menu/", {"Digits": "9"}),
        ("/twilio/voice/track/", {"Digits": "123"}),
        ("/twilio/voice/wait/", {"QueueTime": "5", "QueuePosition": "3"}),
        ("/twilio/voice/wait/", {"QueueTime": "500", "QueuePosition": "1"}),
        ("/twilio/voice/queue/", {"QueueResult": "leave", "QueueTime": "130"}),
        ("/twilio/voice/queue/", {"QueueResult": "bridged", "QueueTime": "20"}),
    ]
    for path, extra in steps:
        _assert_mandarin_and_ours(tel.parse(twilio.post(path, tel.call_params(call_sid, **extra))))
    settings.HOTLINE_SERVICE_HOURS = ""
    _assert_mandarin_and_ours(tel.parse(twilio.post("/twilio/voice/menu/", tel.call_params(call_sid, Digits="2"))))
