"""Telephony tests: Twilio credentials in settings, signed webhook posts, a local Twilio API.

Twilio's cloud is the only thing replaced: by ``FakeTwilio``, a real HTTP
server in a thread that speaks enough of the Messages API (POST create, GET
list) for the real ``twilio.rest.Client`` to talk to it through
``services.telephony.http.RedirectingHttpClient``, and serves recordings'
media (``GET …/Recordings/{sid}.mp3``) behind Basic auth.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import email.utils
import json
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from types import SimpleNamespace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from twilio.request_validator import RequestValidator

from routing import actions
from routing.intake import IntakeRequest, register_ticket
from routing.models import Department, User
from routing.roles import Role
from routing.states import TicketType

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "tel-test-auth-token-0123456789abcdef"
HOTLINE_NUMBER = "+8612345000000"
CITIZEN_PHONE = "+8613800138000"


def new_sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


# --- settings ---------------------------------------------------------------------
@pytest.fixture(autouse=True)
def telephony_settings(settings, services):
    """Telephony on, with fake but well-formed credentials; signatures checked; the real services required."""
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_PHONE_NUMBER = HOTLINE_NUMBER
    settings.TELEPHONY_ENABLED = True
    settings.TWILIO_VALIDATE_SIGNATURES = True
    settings.HOTLINE_SERVICE_HOURS = "00:00-24:00"
    settings.PUBLIC_BASE_URL = "https://12345.example.gov.cn"
    # Argon2 costs a third of a second per staff account; these tests do not test passwords.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return settings


# --- signed webhooks ----------------------------------------------------------------
@dataclass
class Twilio:
    """Posts webhooks the way Twilio does: form-encoded, signed over the full URL and all parameters."""

    client: object
    token: str = AUTH_TOKEN
    host: str = "testserver"

    def sign(self, path: str, params: dict) -> str:
        return RequestValidator(self.token).compute_signature(f"http://{self.host}{path}", params)

    def post(self, path: str, params: dict, *, signature: str | None = None, sign: bool = True):
        headers = {}
        if sign:
            headers["HTTP_X_TWILIO_SIGNATURE"] = signature if signature is not None else self.sign(path, params)
        return self.client.post(path, data=urlencode(params), content_type="application/x-www-form-urlencoded", **headers)


@pytest.fixture
def twilio(client):
    return Twilio(client)


def _call_params(call_sid: str, **extra) -> dict:
    """The standard parameters of a voice request for an incoming call."""
    params = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": "in-progress",
        "Called": HOTLINE_NUMBER,
        "Caller": CITIZEN_PHONE,
        "Direction": "inbound",
        "From": CITIZEN_PHONE,
        "To": HOTLINE_NUMBER,
        "FromCountry": "CN",
    }
    params.update(extra)
    return params


def _sms_params(message_sid: str, body: str, *, from_number: str = CITIZEN_PHONE, **extra) -> dict:
    params = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "MessageSid": message_sid,
        "SmsSid": message_sid,
        "SmsMessageSid": message_sid,
        "SmsStatus": "received",
        "From": from_number,
        "To": HOTLINE_NUMBER,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
    }
    params.update(extra)
    return params


def _parse_twiml(response) -> ET.Element:
    """The TwiML of a webhook response, parsed as XML (asserting it is TwiML at all)."""
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/xml")
    root = ET.fromstring(response.content)
    assert root.tag == "Response"
    return root


@pytest.fixture
def tel():
    """Constants and helpers of the telephony tests (conftest modules are not importable by name)."""
    return SimpleNamespace(
        ACCOUNT_SID=ACCOUNT_SID,
        AUTH_TOKEN=AUTH_TOKEN,
        HOTLINE_NUMBER=HOTLINE_NUMBER,
        CITIZEN_PHONE=CITIZEN_PHONE,
        new_sid=new_sid,
        call_params=_call_params,
        sms_params=_sms_params,
        parse=_parse_twiml,
    )


# --- people and tickets -------------------------------------------------------------------
@pytest.fixture
def cast(db):
    department = Department.objects.create(code="chengguan", name="市城市管理局")
    make = User.objects.create_user
    return {
        "agent": make(username="xiaowang", password="demo-12345-pass", role=Role.AGENT, first_name="小王"),
        "dispatcher": make(username="laoli", password="demo-12345-pass", role=Role.DISPATCHER, first_name="老李"),
        "dept": make(username="chengguan", password="demo-12345-pass", role=Role.DEPARTMENT, department=department),
        "department": department,
    }


@pytest.fixture
def ticket_for(cast):
    """A ticket of ``phone``, walked through the real actions to ``state``."""

    def make(state: str = "registered", *, phone: str = CITIZEN_PHONE, description: str = "小区门口路灯不亮已经一周了。"):
        ticket = register_ticket(
            IntakeRequest(channel="web", type=TicketType.COMPLAINT, description=description, citizen_name="张女士", citizen_phone=phone),
            by=cast["agent"],
        ).ticket
        if state == "registered":
            return ticket
        ticket = actions.dispatch_ticket(ticket, department=cast["department"], by=cast["dispatcher"])
        ticket = actions.accept_ticket(ticket, by=cast["dept"])
        if state == "accepted":
            return ticket
        ticket = actions.reply_ticket(ticket, founded=True, solved=True, text="经现场核查，路灯线路老化，已于当日更换修复。", by=cast["dept"])
        ticket = actions.approve_reply(ticket, by=cast["dispatcher"])
        if state == "reply_approved":
            return ticket
        raise ValueError(state)

    return make


# --- a local Twilio Messages API --------------------------------------------------------------
@dataclass
class FakeTwilio:
    """Enough of ``/2010-04-01/Accounts/{sid}/Messages.json`` for the real client; scriptable failures."""

    account_sid: str
    auth_token: str
    messages: list = field(default_factory=list)
    requests: list = field(default_factory=list)
    # Status codes to answer the next create requests with, e.g. [500, 429].
    fail_next: list = field(default_factory=list)
    # Accept the next N creates but answer only after ``slow_seconds`` (the client times out).
    slow_next: int = 0
    slow_seconds: float = 2.0
    # Recording media by RecordingSid: bytes (served as audio/mpeg) or a status code to answer with.
    recordings: dict = field(default_factory=dict)
    # Seconds to wait before answering a recording request (the client times out).
    recording_delay: float = 0.0
    # Send recordings without Content-Length (chunked), so only counting the bytes can cap them.
    recording_chunked: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def creates(self) -> list:
        return [r for r in self.requests if r["method"] == "POST"]

    def expected_auth(self) -> str:
        return "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()


def _handler_for(fake: FakeTwilio):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep the test output clean
            pass

        def _send(self, status: int, payload: dict):
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, code: int, message: str):
            self._send(status, {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status})

        def _route(self) -> bool:
            parts = urlsplit(self.path)
            expected = f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
            if parts.path != expected:
                self._error(404, 20404, "The requested resource was not found")
                return False
            if self.headers.get("Authorization") != fake.expected_auth():
                self._error(401, 20003, "Authenticate")
                return False
            return True

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
            with fake.lock:
                fake.requests.append(
                    {"method": "POST", "path": self.path, "form": form, "raw": raw, "headers": dict(self.headers.items())}
                )
            if not self._route():
                return
            with fake.lock:
                failure = fake.fail_next.pop(0) if fake.fail_next else None
            if failure == 429:
                self._error(429, 20429, "Too Many Requests")
                return
            if failure:
                self._error(failure, 20500, "Internal Server Error")
                return
            if not form.get("To") or not (form.get("Body") or form.get("MediaUrl")):
                self._error(400, 21602, "Message body is required.")
                return
            now = email.utils.format_datetime(dt.datetime.now(dt.timezone.utc), usegmt=True)
            sid = new_sid("SM")
            message = {
                "sid": sid,
                "account_sid": fake.account_sid,
                "to": form["To"],
                "from": form.get("From"),
                "body": form.get("Body", ""),
                "status": "queued",
                "direction": "outbound-api",
                "num_segments": "1",
                "num_media": "0",
                "date_created": now,
                "date_updated": now,
                "date_sent": None,
                "error_code": None,
                "error_message": None,
                "price": None,
                "price_unit": "USD",
                "api_version": "2010-04-01",
                "messaging_service_sid": None,
                "uri": f"/2010-04-01/Accounts/{fake.account_sid}/Messages/{sid}.json",
                "subresource_uris": {},
            }
            with fake.lock:
                fake.messages.append(message)
                slow = fake.slow_next > 0
                if slow:
                    fake.slow_next -= 1
            if slow:
                time.sleep(fake.slow_seconds)
            try:
                self._send(201, message)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting: the message exists all the same

        def _recording(self) -> bool:
            """``GET /2010-04-01/Accounts/{sid}/Recordings/{RecordingSid}.mp3``: True if this was one."""
            prefix = f"/2010-04-01/Accounts/{fake.account_sid}/Recordings/"
            path = urlsplit(self.path).path
            if not (path.startswith(prefix) and path.endswith(".mp3")):
                return False
            if self.headers.get("Authorization") != fake.expected_auth():
                self._error(401, 20003, "Authenticate")
                return True
            if fake.recording_delay:
                time.sleep(fake.recording_delay)
            media = fake.recordings.get(path[len(prefix) : -len(".mp3")], 404)
            if isinstance(media, int):
                self._error(media, 20404 if media == 404 else 20500, "The requested resource was not found" if media == 404 else "Internal Server Error")
                return True
            try:
                self.send_response(200)
                self.send_header("Content-Type", "audio/mpeg")
                if fake.recording_chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for start in range(0, len(media), 64 * 1024):
                        piece = media[start : start + 64 * 1024]
                        self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_header("Content-Length", str(len(media)))
                    self.end_headers()
                    self.wfile.write(media)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading (a refused size, a timeout)
            return True

        def do_GET(self):
            with fake.lock:
                fake.requests.append({"method": "GET", "path": self.path, "form": {}, "raw": "", "headers": dict(self.headers.items())})
            if self._recording():
                return
            if not self._route():
                return
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            with fake.lock:
                found = [
                    m for m in fake.messages if (not query.get("To") or m["to"] == query["To"]) and (not query.get("From") or m["from"] == query["From"])
                ]
            found.reverse()  # newest first, as Twilio lists
            page_size = int(query.get("PageSize", 50))
            uri = f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
            self._send(
                200,
                {
                    "messages": found[:page_size],
                    "end": min(len(found), page_size) - 1,
                    "first_page_uri": f"{uri}?PageSize={page_size}&Page=0",
                    "next_page_uri": None,
                    "previous_page_uri": None,
                    "page": 0,
                    "page_size": page_size,
                    "start": 0,
                    "uri": f"{uri}?PageSize={page_size}&Page=0",
                },
            )

    return Handler


@contextlib.contextmanager
def serving_fake_twilio(settings, *, configure_account: bool = False, **fields):
    """A ``FakeTwilio`` on a loopback port for as long as the block runs, the REST client pointed at it
    (and, with ``configure_account``, telephony switched on with the test account)."""
    fake = FakeTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, **fields)
    fake.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(fake))
    fake.server.daemon_threads = True
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    if configure_account:
        settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, settings.TWILIO_PHONE_NUMBER = ACCOUNT_SID, AUTH_TOKEN, HOTLINE_NUMBER
        settings.TELEPHONY_ENABLED = True
    settings.TWILIO_API_BASE_URL = fake.base_url
    settings.TWILIO_HTTP_TIMEOUT = 5
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def fake_twilio(settings):
    with serving_fake_twilio(settings) as fake:
        yield fake
