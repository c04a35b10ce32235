"""The knowledge API (``/api/v1/knowledge/``): search, suggestions, ticket search, one article.

Views validate input and call one function of the room; errors use the API's
one shape (``hotline.api_errors``). A search backend that does not answer is
a 503 with a clear message, never a 500.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from hotline.api_errors import error_body
from hotline.fields import Text, phone_validator
from knowledge import search, suggestions
from knowledge.errors import InvalidInput, KnowledgeError, SearchUnavailable
from knowledge.models import Article
from knowledge.search import ArticleQuery
from knowledge.search.query import MAX_PAGE_SIZE, MAX_QUERY_LENGTH, TICKET_NUMBER
from routing.models import Category, Department


class IsStaffUser(BasePermission):
    """Hotline roles and department staff (the knowledge base is not public)."""

    message = _("只有工作人员可以使用知识库")

    def has_permission(self, request, view) -> bool:
        return suggestions.is_staff_user(request.user)


class KnowledgeAPIView(APIView):
    permission_classes = [IsStaffUser]

    def handle_exception(self, exc):
        if isinstance(exc, SearchUnavailable):
            message = _("知识库检索服务暂时不可用，请稍后重试；数据没有丢失，恢复后自动补齐。")
            return Response(error_body(exc.code, message, {"backend": settings.SEARCH_BACKEND}), status=exc.http_status)
        if isinstance(exc, KnowledgeError):
            return Response(error_body(exc.code, exc.message, exc.details), status=exc.http_status)
        return super().handle_exception(exc)


def _validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _existing(model, pk: int | None, field: str):
    if pk is not None and not model.objects.filter(pk=pk).exists():
        raise InvalidInput(_("%(field)s 不存在") % {"field": field}, details={field: [_("不存在")]})
    return pk


class SearchParams(serializers.Serializer):
    q = Text(required=False, allow_blank=True, max_length=MAX_QUERY_LENGTH, default="")
    category = serializers.IntegerField(required=False, min_value=1)
    department = serializers.IntegerField(required=False, min_value=1)
    include_expired = serializers.BooleanField(required=False, default=False)
    page = serializers.IntegerField(required=False, min_value=1, default=1)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=MAX_PAGE_SIZE, default=10)
    cursor = Text(required=False, allow_blank=True, max_length=500, default="")


ARTICLE_HITS = inline_serializer(
    "ArticleHit",
    many=True,
    fields={
        "id": serializers.IntegerField(), "slug": serializers.CharField(), "title": serializers.CharField(),
        "highlight": serializers.CharField(help_text="HTML-escaped snippet; matches in <em>"),
        "category": serializers.CharField(), "category_id": serializers.IntegerField(),
        "department": serializers.CharField(), "department_id": serializers.IntegerField(),
        "valid_from": serializers.DateField(allow_null=True), "valid_until": serializers.DateField(allow_null=True),
        "version": serializers.IntegerField(), "stale": serializers.BooleanField(), "score": serializers.FloatField(),
    },
)  # fmt: skip
TICKET_HITS = inline_serializer(
    "TicketHit",
    many=True,
    fields={
        "id": serializers.IntegerField(), "number": serializers.CharField(), "title": serializers.CharField(),
        "highlight": serializers.CharField(), "state": serializers.CharField(), "resolved": serializers.BooleanField(),
        "answer": serializers.CharField(), "category": serializers.CharField(), "department": serializers.CharField(),
        "address": serializers.CharField(), "registered_at": serializers.DateTimeField(allow_null=True),
        "score": serializers.FloatField(),
    },
)  # fmt: skip


class ArticleSearchView(KnowledgeAPIView):
    """GET search/?q=&category=&department=&page= — knowledge articles, best first."""

    @extend_schema(
        parameters=[SearchParams],
        responses=inline_serializer(
            "ArticleSearchResult",
            {"count": serializers.IntegerField(), "page": serializers.IntegerField(), "next_cursor": serializers.CharField(allow_null=True), "results": ARTICLE_HITS},
        ),
    )
    def get(self, request):
        params = _validated(SearchParams, request.query_params)
        query = ArticleQuery(
            text=params["q"],
            category_id=_existing(Category, params.get("category"), "category"),
            department_id=_existing(Department, params.get("department"), "department"),
            include_expired=params["include_expired"],
            page=params["page"],
            size=params["page_size"],
            cursor=params["cursor"] or None,
        )
        page = search.search_articles(query)
        cutoff = suggestions.stale_before()
        return Response(
            {
                "count": page.count,
                "page": params["page"],
                "next_cursor": page.next_cursor,
                "results": [hit.as_dict(stale_before=cutoff) for hit in page.results],
            }
        )


class SuggestBody(serializers.Serializer):
    text = Text(allow_blank=True, max_length=suggestions.MAX_TEXT, trim_whitespace=True)
    phone = Text(required=False, allow_blank=True, max_length=32, default="", validators=[phone_validator()])
    ticket = Text(required=False, allow_blank=True, max_length=20, default="", help_text="number of the ticket being written, left out of the answer")


# The same component, not required: only for the hotline roles, when a phone is given.
CALLER_TICKETS = type(TICKET_HITS.child)(many=True, required=False)


class SuggestView(KnowledgeAPIView):
    """POST suggest/ {"text"} — articles and similar resolved tickets for what the agent is typing."""

    @extend_schema(
        request=SuggestBody,
        responses=inline_serializer(
            "Suggestions",
            {"articles": ARTICLE_HITS, "similar_tickets": TICKET_HITS, "caller_tickets": CALLER_TICKETS},
        ),
    )
    def post(self, request):
        body = _validated(SuggestBody, request.data)
        return Response(suggestions.suggest(text=body["text"], user=request.user, phone=body["phone"], exclude_number=body["ticket"]))


class TicketSearchParams(serializers.Serializer):
    q = Text(required=False, allow_blank=True, max_length=MAX_QUERY_LENGTH, default="")
    number = Text(required=False, allow_blank=True, max_length=20, default="", validators=[RegexValidator(TICKET_NUMBER.pattern, _("工单号格式为 YYYYMMDD-NNNNNN"))])
    phone = Text(required=False, allow_blank=True, max_length=32, default="", validators=[phone_validator()])
    address = Text(required=False, allow_blank=True, max_length=MAX_QUERY_LENGTH, default="")
    resolved = serializers.BooleanField(required=False, default=False)
    page = serializers.IntegerField(required=False, min_value=1, default=1)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=MAX_PAGE_SIZE, default=10)
    cursor = Text(required=False, allow_blank=True, max_length=500, default="")


class TicketSearchView(KnowledgeAPIView):
    """GET tickets/?q=&number=&phone=&address= — tickets this user may see (the phone is matched by its digest)."""

    @extend_schema(
        parameters=[TicketSearchParams],
        responses=inline_serializer(
            "TicketSearchResult",
            {
                "count": serializers.IntegerField(), "count_exact": serializers.BooleanField(help_text="false: at least count"),
                "page": serializers.IntegerField(), "next_cursor": serializers.CharField(allow_null=True), "results": TICKET_HITS,
            },
        ),
    )
    def get(self, request):
        params = _validated(TicketSearchParams, request.query_params)
        if not any(params[k] for k in ("q", "number", "phone", "address")):
            raise InvalidInput(_("请至少填写一个查询条件"), details={"q": [_("q、number、phone、address 至少填一个")]})
        query = suggestions.ticket_query_for(
            request.user,
            text=params["q"],
            number=params["number"],
            phone=params["phone"],
            address=params["address"],
            resolved_only=params["resolved"],
            page=params["page"],
            size=params["page_size"],
            cursor=params["cursor"] or None,
        )
        page = search.search_tickets(query)
        return Response(
            {
                "count": page.count,
                "count_exact": page.count_exact,
                "page": params["page"],
                "next_cursor": page.next_cursor,
                "results": [hit.as_dict() for hit in page.results],
            }
        )


class ArticleDetailView(KnowledgeAPIView):
    """GET articles/<id>/ — the live (published) version of an article, as agents read it."""

    @extend_schema(
        responses=inline_serializer(
            "ArticleLive",
            {
                "id": serializers.IntegerField(), "slug": serializers.CharField(), "title": serializers.CharField(),
                "body_html": serializers.CharField(), "keywords": serializers.ListField(child=serializers.CharField()),
                "category": serializers.CharField(), "department": serializers.CharField(),
                "valid_from": serializers.DateField(allow_null=True), "valid_until": serializers.DateField(allow_null=True),
                "version": serializers.IntegerField(), "published_at": serializers.DateTimeField(),
                "reviewed_at": serializers.DateTimeField(allow_null=True), "stale": serializers.BooleanField(),
                "expired": serializers.BooleanField(),
            },
        )
    )  # fmt: skip
    def get(self, request, pk: int):
        article = get_object_or_404(Article.objects.live().select_related("department"), pk=pk)
        version = article.live_version()
        if version is None:
            raise Http404
        return Response(
            {
                "id": article.pk,
                "slug": article.slug,
                "title": version.title,
                "body_html": version.body_html,
                "keywords": version.keyword_list(),
                "category": version.category.full_name(),
                "department": version.department.name,
                "valid_from": version.valid_from,
                "valid_until": version.valid_until,
                "version": version.number,
                "published_at": version.published_at,
                "reviewed_at": article.reviewed_at,
                "stale": article.is_stale,
                "expired": version.valid_until is not None and version.valid_until < timezone.localdate(),
            }
        )
