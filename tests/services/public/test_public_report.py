"""我要反映: the web form, its uploads, honeypot, double submits and rate limits."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from routing.models import Attachment, Ticket, TicketEvent
from services.public import uploads

from .conftest import CITIZEN_PHONE

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
GIF = b"GIF89a" + b"\x00" * 32
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 32
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + b"0" * 32


def form_page(client: Client) -> tuple[str, str]:
    """GET the form; returns its per-form token and the page."""
    response = client.get(reverse("public-report"))
    assert response.status_code == 200
    html = response.content.decode()
    token = re.search(r'name="form_token" value="([^"]+)"', html).group(1)
    return token, html


def payload(token: str, **overrides) -> dict:
    data = {
        "form_token": token,
        "type": "complaint",
        "category": "",
        "description": "小区门口的路灯坏了两周，晚上很黑。",
        "address": "示范市东城区东华街道 8 号",
        "lat": "",
        "lng": "",
        "name": "李先生",
        "phone": "138-0013-8000",
        "homepage": "",
    }
    data.update(overrides)
    return data


@pytest.fixture
def client(db):
    return Client(enforce_csrf_checks=True)


def post(client: Client, data: dict, files: list | None = None, **extra):
    """POST the form the way a browser does: with the CSRF cookie and token."""
    client.get(reverse("public-report"))
    data = dict(data, csrfmiddlewaretoken=client.cookies["csrftoken"].value)
    if files is not None:
        data["attachments"] = files
    return client.post(reverse("public-report"), data, **extra)


# --- content sniffing ------------------------------------------------------------------
@pytest.mark.parametrize(
    "head, content_type",
    [(PNG, "image/png"), (JPEG, "image/jpeg"), (GIF, "image/gif"), (WEBP, "image/webp"), (PDF, "application/pdf")],
)
def test_sniff_recognises_each_allowed_type_by_its_bytes(head, content_type):
    assert uploads.sniff(head[:16]).content_type == content_type


@pytest.mark.parametrize("head", [b"hello world, I am text", b"MZ\x90\x00\x03", b"PK\x03\x04zip", b"<svg xmlns", b"RIFF\x00\x00\x00\x00WAVE", b""])
def test_sniff_refuses_everything_else(head):
    assert uploads.sniff(head) is None


def test_safe_name_drops_paths_and_takes_the_sniffed_extension():
    assert uploads.safe_name("../../etc/passwd.jpg", uploads.PNG) == "passwd.png"
    assert uploads.safe_name("C:\\Users\\x\\照片 1.JPG", uploads.JPEG) == "照片 1.jpg"
    assert uploads.safe_name("", uploads.PDF) == "attachment.pdf"


# --- the happy path ----------------------------------------------------------------------
def test_form_page_offers_categories_and_a_fresh_token(client, categories):
    token_a, html = form_page(client)
    token_b, _ = form_page(client)
    assert token_a != token_b
    assert "路灯" in html and "城乡建设 › 城市建设和市政管理" in html
    assert 'name="homepage"' in html and 'class="hp"' in html
    assert "csrfmiddlewaretoken" in html


def test_a_report_becomes_one_ticket_and_the_citizen_sees_its_number(client, categories):
    # given
    token, _ = form_page(client)
    files = [SimpleUploadedFile("现场.png", PNG, content_type="image/png"), SimpleUploadedFile("说明.pdf", PDF, content_type="application/pdf")]
    # when
    response = post(client, payload(token, category=str(categories["lamp"].pk), lat="39.9", lng="116.4", confidential="on"), files)
    # then
    assert response.status_code == 200
    ticket = Ticket.objects.get()
    html = response.content.decode()
    assert ticket.number in html
    assert f"{reverse('public-track')}?number={ticket.number}" in html
    assert ticket.channel == "web" and ticket.channel_ref.startswith("web:")
    assert ticket.type == "complaint" and ticket.category == categories["lamp"]
    assert ticket.confidential is True and ticket.anonymous is False
    assert ticket.citizen.phone == CITIZEN_PHONE and ticket.citizen.name == "李先生"
    assert str(ticket.lat) == "39.900000" and str(ticket.lng) == "116.400000"
    stored = sorted(Attachment.objects.filter(ticket=ticket).values_list("original_name", "content_type"))
    assert stored == [("现场.png", "image/png"), ("说明.pdf", "application/pdf")]
    assert list(TicketEvent.objects.filter(ticket=ticket).values_list("kind", flat=True)) == ["ticket.registered"]


def test_anonymous_report_keeps_the_phone_but_not_the_name(client):
    token, _ = form_page(client)
    response = post(client, payload(token, anonymous="on", name="不该保存"))
    assert response.status_code == 200
    ticket = Ticket.objects.get()
    assert ticket.anonymous is True
    assert ticket.citizen.name == ""


def test_a_double_submit_makes_one_ticket(client):
    # given one form, submitted twice (a double click, a refresh of the POST)
    token, _ = form_page(client)
    first = post(client, payload(token))
    second = post(client, payload(token))
    # then
    assert Ticket.objects.count() == 1
    number = Ticket.objects.get().number
    assert number in first.content.decode() and number in second.content.decode()
    assert "已经提交过" in second.content.decode()


def test_two_forms_make_two_tickets(client):
    post(client, payload(form_page(client)[0]))
    post(client, payload(form_page(client)[0]))
    assert Ticket.objects.count() == 2


# --- bad input: a clear 4xx and no ticket ----------------------------------------------
def test_csrf_is_required(db):
    client = Client(enforce_csrf_checks=True)
    token, _ = form_page(client)
    response = client.post(reverse("public-report"), payload(token))
    assert response.status_code == 403
    assert Ticket.objects.count() == 0


def test_a_filled_honeypot_is_refused_and_creates_nothing(client):
    token, _ = form_page(client)
    response = post(client, payload(token, homepage="http://spam.example"))
    assert response.status_code == 400
    assert Ticket.objects.count() == 0


@pytest.mark.parametrize("token", ["", "forged-token", "abc:def:ghi"])
def test_a_missing_or_forged_form_token_is_refused_with_a_fresh_form(client, token):
    response = post(client, payload(token))
    assert response.status_code == 400
    html = response.content.decode()
    assert "表单已过期或无效" in html
    assert "小区门口的路灯坏了两周" in html  # the citizen's text comes back
    assert Ticket.objects.count() == 0


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"description": ""}, "请填写诉求内容"),
        ({"description": "   "}, "请填写诉求内容"),
        ({"description": "长" * 4001}, "诉求内容最多 4000 字"),
        ({"phone": ""}, "请填写联系电话"),
        ({"phone": "12"}, "电话号码格式不正确"),
        ({"type": "rumour"}, "选择一个有效的选项"),
        ({"category": "999999"}, "选择一个有效的选项"),
        ({"lat": "39.9"}, "经纬度须同时填写"),
        ({"lat": "91", "lng": "116"}, "90"),
        ({"lat": "abc", "lng": "116"}, "输入一个数字"),
        ({"address": "路" * 301}, "地址最多 300 字"),
        ({"name": "名" * 101}, "姓名最多 100 字"),
    ],
)
def test_invalid_fields_get_a_400_with_the_reason_and_no_ticket(client, categories, overrides, message):
    token, _ = form_page(client)
    response = post(client, payload(token, **overrides))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Ticket.objects.count() == 0


def test_a_jpg_that_is_really_text_is_refused(client):
    token, _ = form_page(client)
    fake = SimpleUploadedFile("photo.jpg", b"I am not a picture at all, just text.\n" * 10, content_type="image/jpeg")
    response = post(client, payload(token), [SimpleUploadedFile("ok.png", PNG, content_type="image/png"), fake])
    assert response.status_code == 400
    html = response.content.decode()
    assert "photo.jpg" in html and "不是允许的类型" in html
    assert Ticket.objects.count() == 0 and Attachment.objects.count() == 0


def test_an_svg_claiming_to_be_png_is_refused(client):
    token, _ = form_page(client)
    svg = SimpleUploadedFile("x.png", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', content_type="image/png")
    response = post(client, payload(token), [svg])
    assert response.status_code == 400
    assert Ticket.objects.count() == 0


def test_an_oversized_file_is_refused(client):
    token, _ = form_page(client)
    big = SimpleUploadedFile("big.jpg", JPEG + b"\x00" * uploads.MAX_FILE_BYTES, content_type="image/jpeg")
    response = post(client, payload(token), [big])
    assert response.status_code == 400
    assert "big.jpg" in response.content.decode() and "超过 5 MB" in response.content.decode()
    assert Ticket.objects.count() == 0


def test_too_many_files_are_refused(client):
    token, _ = form_page(client)
    files = [SimpleUploadedFile(f"p{i}.png", PNG, content_type="image/png") for i in range(uploads.MAX_FILES + 1)]
    response = post(client, payload(token), files)
    assert response.status_code == 400
    assert "最多上传 5 个附件" in response.content.decode()
    assert Ticket.objects.count() == 0


def test_an_empty_file_is_refused(client):
    token, _ = form_page(client)
    response = post(client, payload(token), [SimpleUploadedFile("empty.png", b"", content_type="image/png")])
    assert response.status_code == 400
    assert Ticket.objects.count() == 0


def test_a_body_over_the_limit_is_refused_before_it_is_parsed(client):
    token, _ = form_page(client)
    response = post(client, payload(token), CONTENT_LENGTH=str(uploads.MAX_REQUEST_BYTES + 1))
    assert response.status_code == 413
    assert "MB" in response.content.decode()
    assert Ticket.objects.count() == 0


# --- rate limits -----------------------------------------------------------------------------
def test_reports_are_rate_limited_per_phone(client, settings):
    settings.PUBLIC_RATE_LIMITS = {"report.phone": (2, 3600)}
    for _ in range(2):
        assert post(client, payload(form_page(client)[0])).status_code == 200
    response = post(client, payload(form_page(client)[0]))
    assert response.status_code == 429
    assert "过于频繁" in response.content.decode() and int(response["Retry-After"]) > 0
    assert Ticket.objects.count() == 2
    # another phone from the same address is still welcome
    assert post(client, payload(form_page(client)[0], phone="13900139000")).status_code == 200


def test_the_per_phone_limit_reads_full_width_digits_as_the_same_phone(client, settings):
    # given: a limit of two an hour; the citizen's IME types full-width digits the second time
    settings.PUBLIC_RATE_LIMITS = {"report.phone": (2, 3600)}
    assert post(client, payload(form_page(client)[0], phone="13900139001")).status_code == 200
    assert post(client, payload(form_page(client)[0], phone="１３９００１３９００１")).status_code == 200

    # when: the third report for that phone, in ASCII again
    response = post(client, payload(form_page(client)[0], phone="139 0013 9001"))

    # then: refused, and both tickets belong to one citizen
    assert response.status_code == 429
    assert Ticket.objects.count() == 2 and len({t.citizen_id for t in Ticket.objects.all()}) == 1


def test_the_per_phone_limit_counts_one_form_once_however_often_it_is_sent(settings, db):
    from routing.models import phone_digest
    from services.public import ratelimit

    settings.PUBLIC_RATE_LIMITS = {"report.phone": (2, 3600)}
    phone = phone_digest("13900139002")
    # one form sent three times (a double click, a reload), then a second form: two attempts, both allowed
    assert [ratelimit.hit("report.phone", phone, once="form-a").allowed for _ in range(3)] == [True, True, True]
    assert ratelimit.hit("report.phone", phone, once="form-b").allowed
    # a third form is over the limit; the second one, sent again, is still judged as it was
    assert not ratelimit.hit("report.phone", phone, once="form-c").allowed
    assert ratelimit.hit("report.phone", phone, once="form-b").allowed
    # without a form token every hit counts
    assert not ratelimit.hit("report.phone", phone).allowed


def test_reports_are_rate_limited_per_address(client, settings):
    settings.PUBLIC_RATE_LIMITS = {"report.ip": (2, 3600)}
    phones = ["13900000001", "13900000002", "13900000003"]
    codes = [post(client, payload(form_page(client)[0], phone=p)).status_code for p in phones]
    assert codes == [200, 200, 429]
    assert Ticket.objects.count() == 2
    other_address = post(client, payload(form_page(client)[0], phone="13900000004"), REMOTE_ADDR="10.0.0.9")
    assert other_address.status_code == 200
