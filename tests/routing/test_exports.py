"""Exports of the ticket list and the KPI report (CSV streamed, XLSX), with the audit of who exported what."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from routing import actions
from routing.models import ExportRecord

TICKETS = "/api/v1/tickets/export/"
KPIS = "/api/v1/kpis/export/"


def _csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")  # Excel reads the Chinese as UTF-8
    return list(csv.reader(io.StringIO(body[1:])))


def _xlsx(response) -> list[list]:
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    return [list(row) for row in workbook.active.iter_rows(values_only=True)]


@pytest.mark.django_db
def test_the_ticket_list_exports_as_csv_with_its_filters_and_no_contact(api, new_ticket, cast, departments):
    # given: three tickets, one of them dispatched, and a citizen who wrote a formula as the title
    dispatched = actions.dispatch_ticket(new_ticket(), department=departments["city_mgmt"], by=cast["dispatcher"])
    formula = new_ticket(title="=HYPERLINK(\"http://evil.example\",\"点我\")", citizen_name="欧阳导出", citizen_phone="13955556666")
    new_ticket()

    # when
    response = api("dispatcher").get(TICKETS, {"format": "csv"})
    filtered = api("dispatcher").get(TICKETS, {"format": "csv", "state": "dispatched"})

    # then: every ticket, newest first, the header in Chinese; no name or phone; the formula is text
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="tickets-') and response["Cache-Control"] == "private, no-store"
    rows = _csv(response)
    assert rows[0][:5] == ["工单号", "受理时间", "渠道", "类型", "状态"]
    assert len(rows) == 4
    titles = {row[0]: row[9] for row in rows[1:]}
    assert titles[formula.number] == "'=HYPERLINK(\"http://evil.example\",\"点我\")"
    text = "\n".join(",".join(row) for row in rows)
    assert "欧阳导出" not in text and "13955556666" not in text and "5556666" not in text
    assert [row[0] for row in _csv(filtered)[1:]] == [dispatched.number]

    # and: each export is in the audit, with who, what, the filters and the rows written
    records = list(ExportRecord.objects.order_by("id").values("user__username", "kind", "format", "params", "rows"))
    assert records == [
        {"user__username": cast["dispatcher"].username, "kind": "tickets", "format": "csv", "params": {}, "rows": 3},
        {"user__username": cast["dispatcher"].username, "kind": "tickets", "format": "csv", "params": {"state": "dispatched"}, "rows": 1},
    ]


@pytest.mark.django_db
def test_a_department_exports_only_its_own_tickets(api, new_ticket, cast, departments):
    mine = actions.dispatch_ticket(new_ticket(), department=departments["city_mgmt"], by=cast["dispatcher"])
    actions.dispatch_ticket(new_ticket(), department=departments["housing"], by=cast["dispatcher"])
    new_ticket()
    rows = _xlsx(api("dept_own").get(TICKETS))  # XLSX is the default
    assert [row[0] for row in rows[1:]] == [mine.number]


@pytest.mark.django_db
def test_control_characters_in_a_citizen_text_do_not_break_the_workbook(api, new_ticket):
    # given: a message pasted from somewhere with control characters (a spreadsheet cannot hold them)
    ticket = new_ticket(title="路灯\x01不亮\x0b", address="中山路\x1f1号\t东门")

    # when
    response = api("dispatcher").get(TICKETS, {"format": "xlsx"})

    # then: the workbook is written, the text is kept without those characters
    assert response.status_code == 200
    row = next(row for row in _xlsx(response)[1:] if row[0] == ticket.number)
    assert (row[9], row[10]) == ("路灯不亮", "中山路1号\t东门")


@pytest.mark.django_db
def test_the_kpi_report_exports_per_department_as_xlsx(api, new_ticket, cast, departments):
    # given: two tickets dispatched to the city management bureau, one accepted
    for n in range(2):
        ticket = actions.dispatch_ticket(new_ticket(), department=departments["city_mgmt"], by=cast["dispatcher"])
        if n == 0:
            actions.accept_ticket(ticket, by=cast["dept_own"])

    # when
    response = api("supervisor").get(KPIS, {"by": "department", "format": "xlsx"})

    # then: a 考核 sheet, the total first, then one row per department with each rate, numerator and denominator
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    rows = _xlsx(response)
    header = rows[0]
    assert header[0] == "承办单位" and "按时签收率" in header and "按时签收率·分母" in header
    column = header.index("按时签收率")
    assert rows[1][0].startswith("合计")
    bureau = next(row for row in rows[2:] if row[0] == departments["city_mgmt"].name)
    assert bureau[column : column + 3] == [50, 1, 2]
    assert ExportRecord.objects.get().rows == len(rows) - 1


@pytest.mark.django_db
def test_exports_refuse_bad_input_and_other_roles_with_the_api_error_shape(api):
    assert api("supervisor").get(KPIS, {"format": "pdf"}).json()["error"]["details"]["format"]
    assert api("supervisor").get(KPIS, {"from": "9999-12-31"}).status_code == 400
    refused = api("agent").get(KPIS)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert api("dept_own").get(KPIS).status_code == 403
    assert api("dispatcher").get(TICKETS, {"format": "doc"}).status_code == 400
    assert not ExportRecord.objects.exists()  # a refused export is not an export


@pytest.mark.django_db
def test_a_department_exports_its_queue_in_deadline_order(api, new_ticket, cast, departments):
    first = actions.dispatch_ticket(new_ticket(), department=departments["city_mgmt"], by=cast["dispatcher"])
    second = actions.dispatch_ticket(new_ticket(), department=departments["city_mgmt"], by=cast["dispatcher"])
    response = api("dept_own").get("/api/v1/queues/mine/export/", {"format": "csv"})
    assert response["Content-Disposition"].startswith('attachment; filename="queue-')
    listed = [row[0] for row in _csv(response)[1:]]
    queue = [t["number"] for t in api("dept_own").get("/api/v1/queues/mine/").json()["results"]]
    assert listed == queue and set(listed) == {first.number, second.number}
    assert ExportRecord.objects.get().kind == "queue"


@pytest.mark.django_db
def test_the_reply_quality_report_exports_per_department(api, ticket_in, cast):
    ticket_in("replied")
    response = api("supervisor").get("/api/v1/kpis/replies/export/?format=csv")
    assert response.status_code == 200, response.content
    rows = _csv(response)
    assert rows[0][:2] == ["承办单位", "答复数"]
    assert [r[0] for r in rows[1:]] == ["市城市管理局"] and rows[1][1] == "1"
    assert ExportRecord.objects.get(kind="replies").user == cast["supervisor"]
    assert api("dept_own").get("/api/v1/kpis/replies/export/?format=csv").status_code == 403
    assert api("supervisor").get("/api/v1/kpis/replies/export/?format=pdf").status_code == 400
