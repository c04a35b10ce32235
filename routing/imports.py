"""Importing an old hotline's or 问政 platform's history (``manage.py import_tickets``).

CSV (UTF-8 or GB18030), TSV, XLSX and JSONL exports, with the project's field
names or the usual Chinese headers (留言编号, 留言用户, 留言主题, 留言时间, 留言详情,
一级分类, 答复意见, 答复时间, 点赞数). Every row is checked before anything is
written; a rejected row is reported with its row number and the reason.

* The source id becomes ``Ticket.external_id``: importing the same file again
  skips what is already there.
* The original times stay: registration, and for a row with a reply the
  department's reply and the closing.
* A row with a reply becomes a closed ticket with that reply (the department from
  the row, or the dispatch catalogue for its category); one without a reply is
  registered, waiting for dispatch like any new ticket.
* History is not the departments' performance: imported tickets are outside the
  KPIs (``kpi_excluded``), and nobody is sent a message.
* A category given by the old platform's staff is confirmed: the classifier learns from it.
* The imported tickets are indexed through the outbox and clustered into hot issues.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from routing import hotissues, numbering, rules, transitions
from routing.intelligence import cues
from routing.intake import MAX_DESCRIPTION
from routing.models import Category, Citizen, Department, OutboxMessage, Ticket, TicketEvent, normalize_phone, phone_digest
from routing.roles import Role
from routing.states import Channel, EventKind, State, TicketType

BATCH = 2000

# Field → the headers that mean it (compared without spaces, case-insensitively).
HEADERS = {
    "external_id": ["external_id", "id", "留言编号", "编号", "工单编号", "工单号"],
    "user": ["user", "user_id", "留言用户", "用户", "用户编号", "诉求人编号"],
    "title": ["title", "subject", "留言主题", "主题", "标题"],
    "registered_at": ["registered_at", "submitted", "time", "留言时间", "受理时间", "来电时间", "时间"],
    "description": ["description", "text", "留言详情", "留言内容", "诉求内容", "详情", "内容"],
    "category": ["category", "一级分类", "一级标签", "分类"],
    "reply": ["reply", "reply_text", "答复意见", "答复内容", "回复内容", "回复意见"],
    "replied_at": ["replied_at", "答复时间", "回复时间"],
    "endorsements": ["endorsements", "likes", "点赞数", "点赞"],
    "phone": ["phone", "citizen_phone", "电话", "联系电话", "手机"],
    "name": ["name", "citizen_name", "姓名", "诉求人"],
    "address": ["address", "地址", "事发地址"],
    "channel": ["channel", "渠道", "来源"],
    "type": ["type", "诉求类型", "类型"],
    "department": ["department", "承办单位", "处理单位"],
}
_BY_HEADER = {h.lower(): name for name, headers in HEADERS.items() for h in headers}
_TIME_FORMATS = ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d", "%Y-%m-%d", "%Y年%m月%d日 %H:%M:%S", "%Y年%m月%d日")


class ImportFileError(Exception):
    """The file as a whole cannot be read (format, encoding, no usable header)."""


@dataclass
class Row:
    number: int  # the row as a person finds it in the file: the header is row 1 of a table, line 1 of JSONL
    external_id: str
    title: str
    description: str
    registered_at: dt.datetime
    user: str = ""
    category: Category | None = None
    reply: str = ""
    replied_at: dt.datetime | None = None
    endorsements: int = 0
    phone: str = ""
    name: str = ""
    address: str = ""
    channel: str = Channel.WEB
    type: str = ""
    department: Department | None = None


@dataclass
class Report:
    rows: int = 0
    imported: int = 0
    already: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    written: bool = False
    clustering: dict = field(default_factory=dict)
    unknown_columns: list[str] = field(default_factory=list)
    ticket_ids: list[int] = field(default_factory=list)


# --- reading ------------------------------------------------------------------
def _key(header) -> str:
    return "".join(str(header or "").replace("\ufeff", "").split()).lower()


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFileError(_("无法识别文件编码（支持 UTF-8 与 GB18030）"))


def read(path: Path) -> tuple[list[str], Iterator[tuple[int, dict]]]:
    """The header and the rows ``(row number, {header: value})`` of an export."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return [], _jsonl(path)
    if suffix in {".csv", ".tsv", ".txt"}:
        text = _decode(path.read_bytes())
        delimiter = "\t" if suffix == ".tsv" or ("\t" in text.split("\n", 1)[0] and "," not in text.split("\n", 1)[0]) else ","
        reader = csv.reader(io.StringIO(text), delimiter=delimiter)
        header = next(reader, None)
        if not header:
            raise ImportFileError(_("文件为空"))
        return header, ((n, dict(zip(header, values, strict=False))) for n, values in enumerate(reader, start=2) if any(v.strip() for v in values))
    if suffix == ".xlsx":
        import openpyxl

        try:
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # a damaged or renamed file: say so, whatever openpyxl raised
            raise ImportFileError(_("无法读取 XLSX 文件：%(error)s") % {"error": exc}) from None
        sheet = book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = [str(h or "") for h in next(rows, ())]
        if not any(header):
            raise ImportFileError(_("文件为空"))
        return header, ((n, dict(zip(header, values, strict=False))) for n, values in enumerate(rows, start=2) if any(v not in (None, "") for v in values))
    raise ImportFileError(_("不支持的文件类型「%(suffix)s」（支持 .csv .tsv .xlsx .jsonl）") % {"suffix": suffix or path.name})


def _jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    for n, line in enumerate(_decode(path.read_bytes()).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield n, {"__error__": _("不是有效的 JSON：%(error)s") % {"error": exc.msg}}
            continue
        yield n, value if isinstance(value, dict) else {"__error__": _("每行须为一个 JSON 对象")}


# --- checking -----------------------------------------------------------------
def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).replace("\x00", "").strip()


def parse_time(value) -> dt.datetime | None:
    """A time as exports write it; naive times are Asia/Shanghai."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time())
    else:
        text = _text(value)
        if not text:
            return None
        moment = None
        for fmt in _TIME_FORMATS:
            try:
                moment = dt.datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        if moment is None:
            try:
                moment = dt.datetime.fromisoformat(text)
            except ValueError:
                raise ValueError(text) from None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_default_timezone())
    return moment


class _Catalogue:
    """Categories and departments by the names an export uses, looked up once."""

    def __init__(self):
        self.categories: dict[str, Category | None] = {}
        by_name = defaultdict(list)
        self._paths: dict[str, Category] = {}
        all_categories = list(Category.objects.all())
        names = {c.pk: c.name for c in all_categories}
        for c in all_categories:
            by_name[c.name].append(c)
            self._paths["/".join(names.get(pk, "") for pk in c.ancestor_ids())] = c
        self._by_name = by_name
        self.departments = {d.code: d for d in Department.objects.filter(active=True)}
        self.departments.update({d.name: d for d in self.departments.values()})
        self._rule_department: dict[int, Department | None] = {}

    def category(self, name: str) -> Category | None:
        name = name.strip().replace(" ", "")
        if name not in self.categories:
            found = None
            path = name.replace("-", "/").replace(">", "/").replace("＞", "/")
            if path in self._paths:
                found = self._paths[path]
            else:
                candidates = sorted(self._by_name.get(name, []), key=lambda c: c.level)
                found = candidates[0] if candidates else None
            self.categories[name] = found
        return self.categories[name]

    def department_for(self, category: Category | None) -> Department | None:
        """The catalogue's department for a category (rules without keywords or area: the history has neither)."""
        if category is None:
            return None
        if category.pk not in self._rule_department:
            proposal = rules.propose(Ticket(category=category, description=""))
            self._rule_department[category.pk] = proposal.department if proposal else None
        return self._rule_department[category.pk]


def check(raw: dict, number: int, catalogue: _Catalogue, now: dt.datetime) -> tuple[Row | None, list[str]]:
    """One row of the file as a ``Row``, or the reasons it cannot be imported."""
    if "__error__" in raw:
        return None, [raw["__error__"]]
    values: dict[str, object] = {}
    for header, value in raw.items():
        name = _BY_HEADER.get(_key(header))
        if name and name not in values:
            values[name] = value
    errors: list[str] = []
    external_id = _text(values.get("external_id"))
    if not external_id:
        errors.append(_("缺少留言编号"))
    elif len(external_id) > 64:
        errors.append(_("留言编号超过 64 个字符"))
    description = _text(values.get("description"))
    if not description:
        errors.append(_("缺少留言详情"))
    elif len(description) > MAX_DESCRIPTION:
        errors.append(_("留言详情超过 %(n)d 字") % {"n": MAX_DESCRIPTION})
    registered_at = replied_at = None
    try:
        registered_at = parse_time(values.get("registered_at"))
        if registered_at is None:
            errors.append(_("缺少留言时间"))
        elif registered_at > now + dt.timedelta(days=1):
            errors.append(_("留言时间晚于当前时间"))
    except ValueError as exc:
        errors.append(_("留言时间无法识别：「%(value)s」") % {"value": str(exc)[:40]})
    reply = _text(values.get("reply"))
    try:
        replied_at = parse_time(values.get("replied_at"))
    except ValueError as exc:
        errors.append(_("答复时间无法识别：「%(value)s」") % {"value": str(exc)[:40]})
    if replied_at is not None and not reply:
        errors.append(_("有答复时间但没有答复意见"))
    if reply and len(reply) > 8000:
        errors.append(_("答复意见超过 8000 字"))
    if reply and replied_at is None and registered_at is not None:
        replied_at = registered_at
    if replied_at is not None and registered_at is not None and replied_at < registered_at:
        errors.append(_("答复时间早于留言时间"))
    category = None
    if _text(values.get("category")):
        category = catalogue.category(_text(values["category"]))
        if category is None:
            errors.append(_("未知分类「%(name)s」") % {"name": _text(values["category"])[:40]})
    endorsements = 0
    if _text(values.get("endorsements")):
        try:
            endorsements = int(_text(values["endorsements"]))
            if endorsements < 0:
                raise ValueError
        except ValueError:
            errors.append(_("点赞数须为非负整数"))
            endorsements = 0
    phone = normalize_phone(_text(values.get("phone")))
    if _text(values.get("phone")) and not 5 <= len(phone) <= 15:
        errors.append(_("电话号码格式不正确"))
    channel = _text(values.get("channel")) or Channel.WEB
    if channel not in Channel.values:
        channel = next((c.value for c in Channel if str(c.label) == channel), "")
        if not channel:
            errors.append(_("未知渠道「%(value)s」") % {"value": _text(values.get("channel"))[:20]})
    kind = _text(values.get("type"))
    if kind and kind not in TicketType.values:
        kind = next((t.value for t in TicketType if str(t.label) == kind), "")
        if not kind:
            errors.append(_("未知诉求类型「%(value)s」") % {"value": _text(values.get("type"))[:20]})
    department = None
    if _text(values.get("department")):
        department = catalogue.departments.get(_text(values["department"]))
        if department is None:
            errors.append(_("未知承办单位「%(value)s」") % {"value": _text(values["department"])[:40]})
    user = _text(values.get("user"))[:64]
    if errors:
        return None, errors
    title = _text(values.get("title"))[:200] or description[:40]
    return (Row(
        number=number, external_id=external_id, title=title, description=description, registered_at=registered_at, user=user,
        category=category, reply=reply, replied_at=replied_at, endorsements=endorsements, phone=phone,
        name=_text(values.get("name"))[:100], address=_text(values.get("address"))[:300], channel=channel,
        type=kind or cues.propose_type(f"{title}\n{description}"), department=department,
    ), [])  # fmt: skip


# --- writing ------------------------------------------------------------------
def _citizens(rows: list[Row]) -> dict[str, Citizen]:
    """The citizen of each row (by phone digest, else by the old platform's user id), created in bulk."""
    by_digest = {phone_digest(r.phone): r for r in rows if r.phone}
    by_user = {r.user: r for r in rows if r.user and not r.phone}
    if by_digest:
        Citizen.objects.bulk_create([Citizen(phone=r.phone, phone_digest=d, name=r.name) for d, r in by_digest.items()], ignore_conflicts=True)
    if by_user:
        Citizen.objects.bulk_create([Citizen(external_id=u, name=r.name) for u, r in by_user.items()], ignore_conflicts=True)
    found = {f"p:{c.phone_digest}": c for c in Citizen.objects.filter(phone_digest__in=list(by_digest))}
    found.update({f"u:{c.external_id}": c for c in Citizen.objects.filter(external_id__in=list(by_user))})
    return found


def _write_batch(rows: list[Row], *, source: str, catalogue: _Catalogue) -> list[int]:
    citizens = _citizens(rows)
    per_day: dict[dt.date, list[Row]] = defaultdict(list)
    for r in rows:
        per_day[timezone.localdate(r.registered_at)].append(r)
    numbers: dict[str, str] = {}
    for day, day_rows in per_day.items():
        for r, number in zip(day_rows, numbering.reserve(day, len(day_rows)), strict=True):
            numbers[r.external_id] = number
    tickets = []
    for r in rows:
        citizen = citizens.get(f"p:{phone_digest(r.phone)}") if r.phone else citizens.get(f"u:{r.user}") if r.user else None
        replied = bool(r.reply)
        tickets.append(
            Ticket(
                number=numbers[r.external_id], external_id=r.external_id, channel=r.channel, type=r.type, category=r.category,
                title=r.title, description=r.description, address=r.address, citizen=citizen, endorsements=r.endorsements,
                registered_at=r.registered_at, category_confirmed_at=r.registered_at if r.category else None,
                state=State.CLOSED if replied else State.REGISTERED,
                department=(r.department or catalogue.department_for(r.category)) if replied else None,
                reply_text=r.reply, replied_at=r.replied_at if replied else None, closed_at=r.replied_at if replied else None,
                handle_settled_at=r.replied_at if replied else None,
                kpi_excluded=True, kpi_exclusion_reason=_("历史数据导入"),
            )
        )  # fmt: skip
    Ticket.objects.bulk_create(tickets, batch_size=BATCH)
    events, messages = [], []
    for ticket in tickets:
        data = {"channel": ticket.channel, "imported": source, "external_id": ticket.external_id}
        events.append(_event(ticket, EventKind.REGISTERED, "", State.REGISTERED, Role.SYSTEM, None, data, ticket.registered_at))
        if ticket.state == State.CLOSED:
            events.append(_event(ticket, EventKind.REPLIED, State.ACCEPTED, State.REPLIED, Role.DEPARTMENT, ticket.department, {"imported": source}, ticket.replied_at))
            events.append(_event(ticket, EventKind.CLOSED, State.RATED, State.CLOSED, Role.SYSTEM, ticket.department, {"imported": source}, ticket.closed_at))
        messages.append(OutboxMessage(kind="search.ticket", payload={"ticket_id": ticket.pk}, idempotency_key=f"search.ticket:{ticket.pk}:import"))
    TicketEvent.objects.bulk_create(events, batch_size=BATCH)
    OutboxMessage.objects.bulk_create(messages, batch_size=BATCH, ignore_conflicts=True)
    return [t.pk for t in tickets]


def _event(ticket, kind: EventKind, from_state, to_state, role, department, data, at) -> TicketEvent:
    return TicketEvent(
        ticket=ticket, kind=kind.value, from_state=from_state, to_state=to_state, actor_role=role, department=department,
        data=data, public=kind in transitions.PUBLIC_KINDS, created_at=at,
    )  # fmt: skip


def import_file(
    path: Path | str, *, skip_invalid: bool = False, dry_run: bool = False, cluster: bool = True, progress: Callable[[str, int, int], None] | None = None
) -> Report:
    """Check every row of ``path``; if none is rejected (or ``skip_invalid``), write the new ones in batches."""
    path = Path(path)
    report = Report()
    header, raw_rows = read(path)
    report.unknown_columns = [h for h in header if h and _key(h) not in _BY_HEADER]
    catalogue = _Catalogue()
    now = timezone.now()
    rows: list[Row] = []
    seen: dict[str, int] = {}
    for number, raw in raw_rows:
        report.rows += 1
        row, errors = check(raw, number, catalogue, now)
        if row is not None and row.external_id in seen:
            row, errors = None, [_("留言编号「%(id)s」与第 %(row)d 行重复") % {"id": row.external_id, "row": seen[row.external_id]}]
        if row is None:
            report.rejected.append((number, "；".join(errors)))
            continue
        seen[row.external_id] = number
        rows.append(row)
        if progress and report.rows % 10000 == 0:
            progress("check", report.rows, 0)
    if progress:
        progress("check", report.rows, report.rows)
    if dry_run or (report.rejected and not skip_invalid):
        return report
    existing: set[str] = set()
    ids = [r.external_id for r in rows]
    for start in range(0, len(ids), 5000):
        existing.update(Ticket.objects.filter(external_id__in=ids[start : start + 5000]).values_list("external_id", flat=True))
    new = [r for r in rows if r.external_id not in existing]
    report.already = len(rows) - len(new)
    for start in range(0, len(new), BATCH):
        batch = new[start : start + BATCH]
        try:
            with transaction.atomic():
                report.ticket_ids += _write_batch(batch, source=path.name, catalogue=catalogue)
        except IntegrityError:
            # Another import of the same rows ran at the same time: keep what it wrote, write the rest one batch later.
            taken = set(Ticket.objects.filter(external_id__in=[r.external_id for r in batch]).values_list("external_id", flat=True))
            rest = [r for r in batch if r.external_id not in taken]
            report.already += len(batch) - len(rest)
            if rest:
                with transaction.atomic():
                    report.ticket_ids += _write_batch(rest, source=path.name, catalogue=catalogue)
        if progress:
            progress("write", min(start + BATCH, len(new)), len(new))
    report.imported = len(report.ticket_ids)
    report.written = True
    if cluster and report.ticket_ids:
        report.clustering = hotissues.cluster_tickets(report.ticket_ids, progress=(lambda i, n: progress("cluster", i, n)) if progress else None)
    return report
