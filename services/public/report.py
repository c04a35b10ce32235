"""我要反映: the citizen's web form, from the empty form to the ticket number.

Order of checks on a POST, cheapest first, so that nothing is written for a
request that fails any of them:

1. the body size (before Django parses the upload),
2. the honeypot (a filled hidden field: 400, nothing created),
3. the signed per-form token (expired or forged: 400 with a fresh form),
4. a double submit of the same form (the ticket it already made is shown again),
5. the per-address rate limit, the fields and the files, the per-phone limit,
6. ``routing.intake.register_ticket`` with ``channel_ref = "web:<token>"``.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from routing.errors import InvalidInput
from routing.intake import IntakeRequest, find_by_channel_ref, register_ticket
from routing.models import Ticket, phone_digest
from routing.states import Channel
from services.public import ratelimit, uploads
from services.public.forms import MAX_DESCRIPTION, ReportForm, form_token_value, new_form_token
from services.public.pages import rate_limited, too_large

# Intake's field names (its InvalidInput details) mapped onto the form's.
INTAKE_FIELDS = {"type": "type", "citizen.phone": "phone", "citizen.name": "name", "description": "description", "address": "address", "lat": "lat", "lng": "lng"}


def channel_ref_for(token_value: str) -> str:
    return f"web:{token_value}"


def tracking_url(ticket: Ticket) -> str:
    return f"{reverse('public-track')}?{urlencode({'number': ticket.number})}"


def _render_form(request: HttpRequest, form: ReportForm, *, status: int = 200, file_errors: list[str] | None = None) -> HttpResponse:
    context = {
        "form": form,
        "file_errors": file_errors or [],
        "max_files": uploads.MAX_FILES,
        "max_file_mb": uploads.MAX_FILE_BYTES // (1024 * 1024),
        "max_description": MAX_DESCRIPTION,
    }
    return render(request, "public/report.html", context, status=status)


def _render_done(request: HttpRequest, ticket: Ticket, *, repeated: bool) -> HttpResponse:
    return render(request, "public/report_done.html", {"ticket": ticket, "tracking_url": tracking_url(ticket), "repeated": repeated})


@csrf_exempt  # the size check runs before CSRF parses the body; CSRF is enforced right after
def report(request: HttpRequest) -> HttpResponse:
    """GET: an empty form with a fresh token. POST: register the citizen's request."""
    if request.method == "POST":
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > uploads.MAX_REQUEST_BYTES:
            return too_large(request, max_mb=uploads.MAX_REQUEST_BYTES // (1024 * 1024))
    return _report(request)


@csrf_protect
def _report(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _render_form(request, ReportForm(initial={"form_token": new_form_token()}))

    if request.POST.get("homepage", "").strip():
        # Documented choice: a bot gets a plain 400 and nothing is created.
        return render(request, "public/message.html", {"title": _("提交未成功"), "message": _("表单中含有不应填写的内容，请刷新页面后重新填写。")}, status=400)

    token_value = form_token_value(request.POST.get("form_token", ""))
    if token_value is None:
        data = request.POST.copy()
        data["form_token"] = new_form_token()  # the citizen's input comes back with a new token
        form = ReportForm(data)
        form.is_valid()
        form.add_error(None, _("表单已过期或无效，请检查内容后重新提交。"))
        return _render_form(request, form, status=400)

    existing = find_by_channel_ref(Channel.WEB, channel_ref_for(token_value))
    if existing is not None:
        return _render_done(request, existing, repeated=True)

    verdict = ratelimit.hit("report.ip", ratelimit.client_ip(request))
    if not verdict.allowed:
        return rate_limited(request, retry_after=verdict.retry_after)

    form = ReportForm(request.POST)
    files: list = []
    file_errors: list[str] = []
    try:
        files = uploads.read_uploads(request.FILES.getlist("attachments"))
    except uploads.UploadError as exc:
        file_errors = exc.messages
    if not form.is_valid() or file_errors:
        return _render_form(request, form, status=400, file_errors=file_errors)

    data = form.cleaned_data
    verdict = ratelimit.hit("report.phone", phone_digest(data["phone"]), once=token_value)
    if not verdict.allowed:
        return rate_limited(request, retry_after=verdict.retry_after)

    intake = IntakeRequest(
        channel=Channel.WEB,
        channel_ref=channel_ref_for(token_value),
        type=data["type"],
        category=data["category"],
        description=data["description"],
        address=data["address"],
        lat=data["lat"],
        lng=data["lng"],
        citizen_name=data["name"],
        citizen_phone=data["phone"],
        anonymous=data["anonymous"],
        confidential=data["confidential"],
        attachments=files,
    )
    try:
        result = register_ticket(intake)
    except InvalidInput as exc:
        for field_name, messages in exc.details.items():
            for message in messages:
                form.add_error(INTAKE_FIELDS.get(field_name), message)
        if not exc.details:
            form.add_error(None, exc.message)
        return _render_form(request, form, status=400)
    return _render_done(request, result.ticket, repeated=not result.created)
