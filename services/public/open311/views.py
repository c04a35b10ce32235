"""GeoReport v2 endpoints. Each view checks the jurisdiction, calls one function and renders.

Errors: 404 unknown resource or jurisdiction, 403 missing or bad ``api_key``,
429 too many POSTs for one key, 405 a method the resource does not take,
400 anything else — always as a GeoReport error list.
"""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from services.public import ratelimit
from services.public.models import Open311ApiKey
from services.public.open311 import catalog, requests
from services.public.open311.formats import Open311Error, error_response, respond

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# The date this server's GeoReport interface last changed.
CHANGESET = "2026-11-22T00:00:00+08:00"


def jurisdiction_id() -> str:
    return getattr(settings, "OPEN311_JURISDICTION_ID", "shifan.gov.cn")


def open311_view(*methods: str):
    """Wrap a view: allowed methods, the jurisdiction check, and errors rendered in the asked format."""

    def decorate(view):
        @csrf_exempt  # integrators authenticate with api_key, not cookies
        @wraps(view)
        def wrapper(request: HttpRequest, fmt: str, **kwargs) -> HttpResponse:
            try:
                if request.method not in methods:
                    response = error_response(fmt, Open311Error(405, _("不支持 %(method)s 方法") % {"method": request.method}))
                    response["Allow"] = ", ".join(methods)
                    return response
                if request.method == "GET":
                    verdict = ratelimit.hit("open311.get.ip", ratelimit.client_ip(request))
                    if not verdict.allowed:
                        raise Open311Error(429, _("请求过于频繁，请 %(s)d 秒后再试") % {"s": max(verdict.retry_after, 1)})
                data = request.POST if request.method == "POST" else request.GET
                given = (data.get("jurisdiction_id") or request.GET.get("jurisdiction_id") or "").strip()
                if given and given != jurisdiction_id():
                    raise Open311Error(404, _("jurisdiction_id「%(id)s」不存在") % {"id": given[:64]})
                return view(request, fmt, data, **kwargs)
            except Open311Error as exc:
                return error_response(fmt, exc)

        return wrapper

    return decorate


@open311_view("GET")
def discovery(request: HttpRequest, fmt: str, data) -> HttpResponse:
    base = request.build_absolute_uri(reverse("open311-root")).rstrip("/")
    body = {
        "changeset": CHANGESET,
        "contact": _("12345 政务服务便民热线（拨打 12345）"),
        "key_service": _("请向 12345 热线管理部门申请 api_key"),
        "endpoints": [
            {"specification": SPECIFICATION, "url": base, "changeset": CHANGESET, "type": "production", "formats": ["text/xml", "application/json"]}
        ],
    }
    return respond(fmt, "discovery", body)


@open311_view("GET")
def service_list(request: HttpRequest, fmt: str, data) -> HttpResponse:
    return respond(fmt, "services", catalog.service_list())


@open311_view("GET")
def service_definition(request: HttpRequest, fmt: str, data, code: str) -> HttpResponse:
    category = catalog.find_service(code)
    if category is None:
        raise Open311Error(404, _("service_code「%(code)s」不存在") % {"code": code[:64]})
    return respond(fmt, "service_definition", catalog.definition(category))


@open311_view("GET", "POST")
def service_requests(request: HttpRequest, fmt: str, data) -> HttpResponse:
    if request.method == "GET":
        return respond(fmt, "service_requests", [requests.as_open311(t) for t in requests.find(data)])
    key = Open311ApiKey.objects.find_active((data.get("api_key") or "").strip())
    if key is None:
        raise Open311Error(403, _("api_key 缺失或无效"))
    verdict = ratelimit.hit("open311.post.key", str(key.pk))
    if not verdict.allowed:
        response = error_response(fmt, Open311Error(429, _("提交过于频繁，请 %(s)d 秒后再试") % {"s": max(verdict.retry_after, 1)}))
        response["Retry-After"] = str(max(verdict.retry_after, 1))
        return response
    new = requests.parse_new_request(data)
    created_request, _created = requests.create(new, key=key)
    return respond(fmt, "service_requests", requests.created_answer(created_request))


@open311_view("GET")
def service_request(request: HttpRequest, fmt: str, data, request_id: str) -> HttpResponse:
    return respond(fmt, "service_requests", [requests.as_open311(requests.find_one(request_id))])


@open311_view("GET")
def token(request: HttpRequest, fmt: str, data, token: str) -> HttpResponse:
    found = requests.find_token(token)
    return respond(fmt, "service_requests", [{"service_request_id": found.ticket.number, "token": found.token}])


@csrf_exempt
def unknown(request: HttpRequest, path: str = "") -> HttpResponse:
    """Anything else under /open311/v2/: a 404 in the format the path asks for."""
    fmt = "xml" if path.endswith(".xml") else "json"
    return error_response(fmt, Open311Error(404, _("资源不存在：%(path)s") % {"path": path[:100] or "/"}))


def root(request: HttpRequest) -> HttpResponse:
    """/open311/v2/ itself points to the discovery document."""
    return error_response("json", Open311Error(404, _("请从 discovery.xml 或 discovery.json 开始")))
