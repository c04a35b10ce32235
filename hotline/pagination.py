"""The API's page numbers: DRF's, but strict. A ``page`` that is not a whole number from 1 is a 400
(DRF would quietly serve page 1 for ``page=`` and 404 for ``page=abc``); a page past the last one is
DRF's 404. The schema says so (``minimum: 1``)."""

from __future__ import annotations

import re

from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination

_NUMBER = re.compile(r"[0-9]{1,18}")


class Pages(PageNumberPagination):
    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param)
        if raw is None:
            return 1
        if not _NUMBER.fullmatch(raw) or int(raw) < 1:
            raise ValidationError({self.page_query_param: [_("页码须为从 1 开始的整数")]})
        return int(raw)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
        return parameters


class SearchedPages(Pages):
    """The ticket list's pages: ``count_exact`` says whether ``count`` is every ticket that matched the
    list's words (false: the list holds the newest matches only, see ``routing.textsearch``)."""

    def paginate_queryset(self, queryset, request, view=None):
        self.listed = queryset  # its search_exact is known once it has been counted and read
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data):
        response = super().get_paginated_response(data)
        response.data["count_exact"] = getattr(self.listed, "search_exact", True)
        return response

    def get_paginated_response_schema(self, schema):
        answer = super().get_paginated_response_schema(schema)
        answer["properties"]["count_exact"] = {
            "type": "boolean",
            "description": "false: the words of q matched more tickets than the list counts and holds (10,000; with a filter only the database has, the newest 1,000)",
        }
        return answer
