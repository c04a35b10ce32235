"""Exports of staff lists and KPI reports to CSV and XLSX, with who exported what kept in ``ExportRecord``.

A table is its headers and a stream of rows; the writers never hold a whole
list in memory: CSV is streamed line by line, XLSX is written by openpyxl's
write-only workbook into a temporary file (a ZIP needs its end before it can
be sent) that is served and then removed.

- **No contact data**: a ticket export has no name or phone of the citizen, for
  any role (an export leaves the system; one citizen's data is
  ``manage.py export_citizen``).
- **Formula injection**: a cell a citizen wrote (title, address) that starts with
  ``=``, ``+``, ``-``, ``@`` or a control character is written with a leading
  ``'``, so a spreadsheet shows it as text and never runs it.
- **Audit**: every export writes one ``ExportRecord`` (user, what, the filters,
  the format, the rows written) *before* the file is sent, and a log line.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from routing import kpis, ratings
from routing.models import ExportRecord, User
from routing.states import State

log = logging.getLogger(__name__)

FORMATS = ("csv", "xlsx")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


@dataclass
class Table:
    """What an export writes: a sheet title, the header row and the rows (an iterable read once)."""

    kind: str
    title: str
    headers: Sequence[str]
    rows: Iterable[Sequence]


# Control characters a spreadsheet cannot hold (XML 1.0 forbids them; tab, newline and return stay).
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def safe_cell(value):
    """A cell value as a spreadsheet should show it: control characters dropped, text that could be read as a formula quoted."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = _CONTROL_CHARACTERS.sub("", value)
        if value.startswith(_FORMULA_STARTS):
            return "'" + value
    return value


def _local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else ""


# --- what can be exported ---------------------------------------------------------------
def ticket_table(tickets, *, kind: str = "tickets", title: str | None = None) -> Table:
    """A ticket list (``selectors.filtered_list``, a queue) as rows in its order, without the citizen's contact."""
    now = timezone.now()
    running = set(State.running())

    def rows() -> Iterator[list]:
        for t in tickets.iterator(chunk_size=1000):
            overdue = bool(t.due_at and t.due_at < now and t.state in running)
            yield [
                t.number, _local(t.registered_at), t.get_channel_display(), t.get_type_display(), t.get_state_display(),
                t.get_urgency_display(), t.category.full_name() if t.category_id else "", t.department.name if t.department_id else "",
                t.area.name if t.area_id else "", t.title, t.address, _local(t.due_at), _("是") if overdue else _("否"),
                t.get_satisfaction_display() if t.satisfaction else "", t.external_id or "",
            ]  # fmt: skip

    headers = [
        _("工单号"), _("受理时间"), _("渠道"), _("类型"), _("状态"), _("紧急程度"), _("分类"), _("承办单位"), _("区域"),
        _("标题"), _("地址"), _("办理时限"), _("是否超期"), _("满意度"), _("原平台编号"),
    ]  # fmt: skip
    return Table(kind=kind, title=title or _("工单列表"), headers=headers, rows=rows())


GROUP_LABELS = {"department": gettext_lazy("承办单位"), "category": gettext_lazy("分类"), "area": gettext_lazy("区域"), "type": gettext_lazy("诉求类型"), "day": gettext_lazy("日期"), "": gettext_lazy("范围")}


def kpi_table(report: dict) -> Table:
    """A KPI report (``kpis.compute``) as rows: the total, then one row per group; each KPI as its rate
    (a percentage, blank when nothing was counted), numerator and denominator, so a 考核 sheet can be checked."""
    metrics = [name for name in kpis.LABELS if name in report["totals"]]
    headers = [str(GROUP_LABELS[report["by"] or ""])]
    for name in metrics:
        label = str(kpis.LABELS[name])
        headers += [label, _("%(kpi)s·分子") % {"kpi": label}, _("%(kpi)s·分母") % {"kpi": label}]

    def cells(label: str, values: dict) -> list:
        row = [label]
        for name in metrics:
            ratio = values.get(name) or {"value": None, "numerator": 0, "denominator": 0}
            row += [round(ratio["value"] * 100, 2) if ratio["value"] is not None else "", ratio["numerator"], ratio["denominator"]]
        return row

    def rows() -> Iterator[list]:
        yield cells(_("合计（%(start)s 至 %(end)s）") % {"start": report["from"], "end": report["to"]}, report["totals"])
        for group in report["groups"]:
            yield cells(str(group["label"]), group["metrics"])
        left_out = report.get("excluded") or {}
        if any(left_out.values()):
            yield [_("不纳入考核：工单 %(tickets)s 件，评价 %(ratings)s 条，红牌 %(red_cards)s 张") % left_out]

    title = _("考核指标 %(start)s 至 %(end)s") % {"start": report["from"], "end": report["to"]}
    return Table(kind="kpis", title=title, headers=headers, rows=rows())


def dispute_table(report: dict, *, start, end) -> Table:
    """The 派单异议 report (``disputes.report``) per department: the total first, rates as percentages."""
    headers = [_("承办单位"), _("派单数"), _("异议数"), _("异议率"), _("异议成立"), _("异议驳回"), _("待裁定"), _("裁定超时")]

    def percent(value):
        return round(value * 100, 2) if value is not None else ""

    def rows() -> Iterator[list]:
        t = report["totals"]
        yield [_("合计（%(start)s 至 %(end)s）") % {"start": start, "end": end}, t["dispatched"], t["disputes"], percent(t["rate"]),
               t["upheld"], t["rejected"], t["pending"], t["overdue"]]  # fmt: skip
        for r in report["departments"]:
            yield [r["name"], r["dispatched"], r["disputes"], percent(r["rate"]), r["upheld"], r["rejected"], r["pending"], r["overdue"]]

    title = _("派单异议 %(start)s 至 %(end)s") % {"start": start, "end": end}
    return Table(kind="disputes", title=title, headers=headers, rows=rows())


def reply_quality_table(rows: list[dict], *, start, end) -> Table:
    """答复质量 per department (``reviews.quality``): replies, mean relevance and completeness, flagged, sent back."""
    headers = [_("承办单位"), _("答复数"), _("平均相关性"), _("平均完整性"), _("需重点审核"), _("疑似推诿"), _("被退回")]

    def percent(value):
        return round(value * 100, 1) if value is not None else ""

    def rows_() -> Iterator[list]:
        for r in rows:
            name = r["department"]["name"] if r["department"] else "—"
            yield [name, r["replies"], percent(r["relevance"]), percent(r["completeness"]), r["flagged"], r["passing"], r["rejected"]]

    title = _("答复质量 %(start)s 至 %(end)s") % {"start": start, "end": end}
    return Table(kind="replies", title=title, headers=headers, rows=rows_())


def rating_table(report: dict) -> Table:
    """分档分类评价 (``ratings.report``): the ratings per ticket type in three tiers after exclusions, then
    every rating or red card of the period left out of the KPIs, with its reason."""
    headers = [_("诉求类型"), _("回访评价数"), _("满意"), _("基本满意"), _("不满意"), _("满意率"), _("非常满意率")]

    def percent(value):
        return round(value * 100, 2) if value is not None else ""

    def tiers(label, t) -> list:
        return [label, t["rated"], t["satisfied"], t["basically_satisfied"], t["unsatisfied"], percent(t["satisfaction"]), percent(t["full_satisfaction"])]

    def rows() -> Iterator[list]:
        yield tiers(_("合计（%(start)s 至 %(end)s）") % {"start": report["from"], "end": report["to"]}, report["totals"])
        for row in report["types"]:
            yield tiers(row["label"], row)
        yield []
        yield [_("不纳入考核：工单 %(tickets)s 件，评价 %(ratings)s 条，红牌 %(red_cards)s 张") % report["excluded"]]
        if report["exclusions"]:
            yield [_("工单号"), _("类型"), _("事项"), _("承办单位"), _("原因"), _("经复核申诉"), _("决定人"), _("决定时间")]
            for x in report["exclusions"]:
                yield [x["number"], x["subject_label"], x["what"], x["department"], x["reason"], _("是") if x["by_appeal"] else _("否"), x["decided_by"], timezone.localtime(x["at"]).strftime("%Y-%m-%d %H:%M")]

    title = _("分类评价 %(start)s 至 %(end)s") % {"start": report["from"], "end": report["to"]}
    return Table(kind="ratings", title=title, headers=headers, rows=rows())


def hot_issue_table(issues, *, start, end) -> Table:
    """热点问题 of a period (``hotissues.ranked``), hottest first: heat, members, callers, place, keywords, the newest members."""
    headers = [_("热点问题"), _("热度"), _("诉求数"), _("诉求人数"), _("地点或人群"), _("关键词"), _("首次"), _("最近"), _("工单号")]

    def when(value):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""

    def rows() -> Iterator[list]:
        for r in issues:
            issue = r.issue
            yield [issue.title, round(r.heat, 1), r.count, issue.callers, issue.place, "、".join(issue.keywords), when(issue.first_at), when(issue.last_at),
                   " ".join(t["number"] for t in r.tickets)]  # fmt: skip

    title = _("热点问题 %(start)s 至 %(end)s") % {"start": start, "end": end}
    return Table(kind="hot_issues", title=title, headers=headers, rows=rows())


def appeal_table(appeals) -> Table:
    """复核申诉 as the list shows them (``ratings.appeals_for``): pending first by deadline, then decided."""
    headers = [_("工单号"), _("申诉类型"), _("事项"), _("申诉单位"), _("申诉理由"), _("申诉时间"), _("复核期限"), _("复核结果"), _("复核时间"), _("复核意见"), _("超期")]

    def when(value):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""

    def rows() -> Iterator[list]:
        for a in appeals:
            yield [
                a.ticket.number, a.get_subject_display(), ratings.describe(a.event), a.department.name, a.reason, when(a.filed_at),
                when(a.decide_due), a.get_outcome_display(), when(a.decided_at), a.decision_reason, _("是") if a.overdue else _("否"),
            ]  # fmt: skip

    return Table(kind="appeals", title=_("复核申诉"), headers=headers, rows=rows())


# --- writing ------------------------------------------------------------------------------
def respond(request, table: Table, fmt: str, params: dict):
    """The HTTP answer of an export: ``table`` streamed as CSV or sent as XLSX, after writing who
    exported what (``ExportRecord``; its row count filled in when the rows are out)."""
    entry = record(user=request.user, table=table, fmt=fmt, params=params)
    counter = [0]
    if fmt == "csv":

        def lines():
            yield from csv_lines(table, counter)
            ExportRecord.objects.filter(pk=entry.pk).update(rows=counter[0])

        response = StreamingHttpResponse(lines(), content_type=CONTENT_TYPES["csv"])
    else:
        handle = xlsx_file(table, counter)
        ExportRecord.objects.filter(pk=entry.pk).update(rows=counter[0])
        response = FileResponse(handle, content_type=CONTENT_TYPES["xlsx"])
    response["Content-Disposition"] = f'attachment; filename="{filename(table, fmt)}"'
    response["Cache-Control"] = "private, no-store"
    return response



def _counted(table: Table, counter: list[int]) -> Iterator[Sequence]:
    for row in table.rows:
        counter[0] += 1
        yield row


def csv_lines(table: Table, counter: list[int] | None = None) -> Iterator[str]:
    """The table as CSV text, line by line: a UTF-8 byte-order mark first, so Excel reads the Chinese right."""
    counter = counter if counter is not None else [0]
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values) -> str:
        writer.writerow([safe_cell(v) for v in values])
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield "\ufeff" + line(table.headers)
    for row in _counted(table, counter):
        yield line(row)


def xlsx_file(table: Table, counter: list[int] | None = None):
    """The table as an XLSX workbook in a temporary file (open, at its start; removed when closed)."""
    from openpyxl import Workbook

    counter = counter if counter is not None else [0]
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_sheet_title(table.title))
    sheet.append([str(h) for h in table.headers])
    for row in _counted(table, counter):
        sheet.append([safe_cell(v) for v in row])
    handle = tempfile.TemporaryFile(suffix=".xlsx")
    workbook.save(handle)
    handle.seek(0)
    return handle


def _sheet_title(title: str) -> str:
    # Excel: at most 31 characters, none of : \ / ? * [ ]
    return "".join(c for c in str(title) if c not in ':\\/?*[]')[:31] or "Sheet1"


def filename(table: Table, fmt: str) -> str:
    return f"{table.kind}-{timezone.localtime().strftime('%Y%m%d-%H%M%S')}.{fmt}"


def record(*, user: User, table: Table, fmt: str, params: dict, rows: int | None = None) -> ExportRecord:
    """The audit line of one export; written before the file leaves. ``rows`` is filled in when known."""
    entry = ExportRecord.objects.create(user=user, kind=table.kind, format=fmt, params=params, rows=rows)
    log.info("export %s (%s) by user %s: %s rows, params %s", table.kind, fmt, user.pk, rows if rows is not None else "?", sorted(params))
    return entry
