"""Twilio webhooks (see docs/TELEPHONY.md for which URL goes where in the Twilio console)."""

from django.urls import path

from services.telephony import api, views

urlpatterns = [
    path("twilio/voice/", views.incoming_call, name="telephony-voice"),
    path("twilio/voice/menu/", views.menu, name="telephony-voice-menu"),
    path("twilio/voice/track/", views.track, name="telephony-voice-track"),
    path("twilio/voice/wait/", views.wait, name="telephony-voice-wait"),
    path("twilio/voice/queue/", views.queue_result, name="telephony-voice-queue"),
    path("twilio/voice/recording/", views.recording, name="telephony-voice-recording"),
    path("twilio/voice/recording-status/", views.recording_status, name="telephony-voice-recording-status"),
    path("twilio/voice/transcription/", views.transcription, name="telephony-voice-transcription"),
    path("twilio/voice/status/", views.status, name="telephony-voice-status"),
    path("twilio/voice/agent/", views.agent, name="telephony-voice-agent"),
    path("twilio/voice/connect/", views.connect, name="telephony-voice-connect"),
    path("twilio/sms/", views.sms_inbound, name="telephony-sms"),
    # Not a webhook: the signed-in agent's console fetches its Voice SDK token here.
    path("twilio/agent-token/", views.agent_token, name="telephony-agent-token"),
    # Not a webhook: a signed-in staff member's browser plays a voice message here (never from twilio.com).
    path("twilio/recordings/<str:number>/<str:recording_sid>.mp3", views.recording_audio, name="telephony-recording"),
    # 漏接回拨: the console's form, and the API.
    path("twilio/missed/<str:call_sid>/", views.missed_callback, name="telephony-missed-callback"),
    path("api/v1/calls/missed/", api.MissedCalls.as_view(), name="api-calls-missed"),
    path("api/v1/calls/missed/export/", api.MissedCallExport.as_view(), name="api-calls-missed-export"),
    path("api/v1/calls/missed/<str:call_sid>/", api.CallBack.as_view(), name="api-calls-missed-record"),
]
