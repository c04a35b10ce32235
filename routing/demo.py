"""Demo data for 示范市: areas, departments, the category tree, staff, dispatch rules, tickets.

Idempotent: every row is found by a stable key before it is created, so
running the loader twice changes nothing. Never run in production.

The month before today is made by walking tickets through the real actions at
simulated moments (``time_machine`` moves the clock of this process only while
the loader runs), so its timeline, deadlines, cards and KPIs are what the
system itself would have written.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
import random
from pathlib import Path

import time_machine
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from routing import actions, kpis, linkage, sweep
from routing.intake import IntakeRequest, find_by_channel_ref, register_ticket
from routing.intelligence import training
from routing.models import Area, Category, Citizen, ClassifierModel, Department, DispatchRule, EmergencyLine, Ticket, User
from routing.roles import Role
from routing.states import Channel, Satisfaction, State, TicketType, Urgency

FIXTURES = Path(__file__).resolve().parent / "fixtures"
DEMO_PASSWORD = "demo-12345"

DISTRICTS = {
    "东城区": ["东华街道", "安定街道", "龙潭街道"],
    "西城区": ["西长街道", "月坛街道", "金融街街道"],
    "南湖区": ["南湖街道", "湖滨街道", "新桥街道"],
    "北山区": ["北山街道", "青龙街道", "石门街道"],
    "高新区": ["科创街道", "软件园街道", "未来城街道"],
}
DISTRICT_CODES = {"东城区": "dongcheng", "西城区": "xicheng", "南湖区": "nanhu", "北山区": "beishan", "高新区": "gaoxin"}

DEPARTMENTS = [
    ("zhujian", "市住房和城乡建设局"), ("chengguan", "市城市管理局"), ("jiaotong", "市交通运输局"),
    ("shengtai", "市生态环境局"), ("renshe", "市人力资源和社会保障局"), ("weijian", "市卫生健康委员会"),
    ("jiaoyu", "市教育局"), ("shichang", "市市场监督管理局"), ("gongan", "市公安局"), ("shuiwu", "市水务集团"),
    ("gongdian", "示范供电公司"), ("ranqi", "示范燃气公司"), ("yibao", "市医疗保障局"),
    ("gongjijin", "市住房公积金管理中心"), ("minzheng", "市民政局"),
]  # fmt: skip

USERS = [
    ("agent", Role.AGENT, None, "小王"),
    ("dispatcher", Role.DISPATCHER, None, "老李"),
    ("supervisor", Role.SUPERVISOR, None, "张督办"),
    ("zhujian", Role.DEPARTMENT, "zhujian", "住建联络员"),
    ("chengguan", Role.DEPARTMENT, "chengguan", "城管联络员"),
]

# (name, level-1 category or None, keywords, department code, priority, automatic)
RULES = [
    ("城乡建设归住建", "城乡建设", "", "zhujian", 10, False),
    ("市政管理归城管", "城乡建设/城市建设和市政管理", "", "chengguan", 20, False),
    ("路灯井盖占道归城管", None, "路灯 井盖 占道 摊贩 违建 违章搭建 渣土 垃圾", "chengguan", 30, False),
    ("交通运输", "交通运输", "", "jiaotong", 10, False),
    ("环境保护", "环境保护", "", "shengtai", 10, False),
    ("噪音油烟归生态环境", None, "噪音 油烟 异味 废气 排污", "shengtai", 25, False),
    ("劳动和社会保障", "劳动和社会保障", "", "renshe", 10, False),
    ("拖欠工资", None, "拖欠工资 欠薪 讨薪", "renshe", 35, False),
    ("卫生计生", "卫生计生", "", "weijian", 10, False),
    ("医保归医保局", None, "医保 医疗保险 异地就医 报销", "yibao", 40, False),
    ("教育文体", "教育文体", "", "jiaoyu", 10, False),
    ("商贸旅游", "商贸旅游", "", "shichang", 10, False),
    ("消费投诉", None, "退费 预付卡 假冒 食品安全 消费", "shichang", 30, False),
    ("政法", "政法", "", "gongan", 10, False),
    ("民政", "民政", "", "minzheng", 10, False),
    ("公积金", None, "公积金", "gongjijin", 40, False),
    ("停水自动派水务", None, "停水 水压 自来水 爆管", "shuiwu", 50, True),
    ("停电自动派供电", None, "停电 断电 电压不稳", "gongdian", 50, True),
    ("燃气自动派燃气公司", None, "燃气 煤气 天然气", "ranqi", 50, True),
]


def _leaf_codes() -> list[tuple[str, str, str, str]]:
    """(l1, l2, l3, code) rows of the category CSV, with stable codes from the file's order."""
    rows = []
    index: dict[tuple, int] = {}
    with open(FIXTURES / "categories.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            l1, l2, l3 = row["level1"].strip(), row["level2"].strip(), row["level3"].strip()
            i1 = index.setdefault((l1,), len([k for k in index if len(k) == 1]) + 1)
            i2 = index.setdefault((l1, l2), len([k for k in index if len(k) == 2 and k[0] == l1]) + 1)
            i3 = index.setdefault((l1, l2, l3), len([k for k in index if len(k) == 3 and k[:2] == (l1, l2)]) + 1)
            rows.append((l1, l2, l3, f"{i1:02d}{i2:02d}{i3:02d}"))
    return rows


def load_categories() -> int:
    created = 0
    nodes: dict[str, Category] = {c.code: c for c in Category.objects.all()}

    def node(code: str, name: str, parent: Category | None) -> Category:
        nonlocal created
        if code not in nodes:
            nodes[code] = Category.objects.create(code=code, name=name, parent=parent)
            created += 1
        return nodes[code]

    for l1, l2, l3, code in _leaf_codes():
        top = node(code[:2], l1, None)
        mid = node(code[:4], l2, top)
        if l3:
            node(code, l3, mid)
    return created


def load_areas() -> dict[str, Area]:
    city, _ = Area.objects.get_or_create(code="shifan", defaults={"name": "示范市", "kind": Area.Kind.CITY})
    areas = {"示范市": city}
    for district, streets in DISTRICTS.items():
        dcode = DISTRICT_CODES[district]
        d, _ = Area.objects.get_or_create(code=dcode, defaults={"name": district, "kind": Area.Kind.DISTRICT, "parent": city})
        areas[district] = d
        for i, street in enumerate(streets, start=1):
            s, _ = Area.objects.get_or_create(code=f"{dcode}-{i}", defaults={"name": street, "kind": Area.Kind.STREET, "parent": d})
            areas[street] = s
            for g in (1, 2):
                Area.objects.get_or_create(code=f"{dcode}-{i}-{g}", defaults={"name": f"{street}第{g}网格", "kind": Area.Kind.GRID, "parent": s})
    return areas


def load_departments(areas: dict[str, Area]) -> dict[str, Department]:
    departments = {}
    for code, name in DEPARTMENTS:
        departments[code], _ = Department.objects.get_or_create(code=code, defaults={"name": name, "area": areas["示范市"]})
    for district, streets in DISTRICTS.items():
        dcode = DISTRICT_CODES[district]
        gov, _ = Department.objects.get_or_create(code=f"{dcode}-gov", defaults={"name": f"{district}人民政府", "area": areas[district]})
        departments[gov.code] = gov
        for i, street in enumerate(streets, start=1):
            unit, _ = Department.objects.get_or_create(
                code=f"{dcode}-{i}-office", defaults={"name": f"{district}{street}办事处", "parent": gov, "area": areas[street]}
            )
            departments[unit.code] = unit
        # District branches of the city bureaus that the demo staff work with (level 3, for sub-dispatch).
        for parent_code, suffix in (("chengguan", "城市管理执法大队"), ("zhujian", "住房和城乡建设服务中心")):
            unit, _ = Department.objects.get_or_create(
                code=f"{parent_code}-{dcode}", defaults={"name": f"{district}{suffix}", "parent": departments[parent_code], "area": areas[district]}
            )
            departments[unit.code] = unit
    return departments


def load_users(departments: dict[str, Department]) -> dict[str, User]:
    users = {}
    for username, role, department_code, first_name in USERS:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User(username=username, role=role, first_name=first_name, department=departments.get(department_code) if department_code else None)
            user.set_password(DEMO_PASSWORD)
            user.is_staff = role in {Role.SUPERVISOR, Role.DISPATCHER}  # they keep the dispatch catalogue in the admin
            user.save()
            if user.is_staff:
                from django.contrib.auth.models import Permission

                # The catalogue itself, and read access to what its rules point at.
                codenames = ["add_dispatchrule", "change_dispatchrule", "delete_dispatchrule", "view_dispatchrule", "view_category", "view_area", "view_department"]
                user.user_permissions.set(Permission.objects.filter(content_type__app_label="routing", codename__in=codenames))
        users[username] = user
    return users


def load_rules(departments: dict[str, Department]) -> None:
    for name, category_path, keywords, department_code, priority, automatic in RULES:
        if DispatchRule.objects.filter(name=name).exists():
            continue
        category = None
        if category_path:
            parent = None
            for part in category_path.split("/"):
                category = Category.objects.get(name=part, parent=parent)
                parent = category
        DispatchRule.objects.create(
            name=name, category=category, keywords=keywords, department=departments[department_code], priority=priority, automatic=automatic
        )


# Where each demo ticket ends up (cycled over the messages).
_JOURNEYS = ["registered", "dispatched", "accepted", "replied", "reply_approved", "closed", "registered", "dispatched", "accepted", "rated_unsatisfied"]


def _walk(ticket: Ticket, journey: str, users: dict[str, User], departments: dict[str, Department]) -> Ticket:
    if journey == "registered" or ticket.state != "registered":
        return ticket
    department = ticket.proposed_department or departments["zhujian"]
    # The demo department logins work in 住建 and 城管: route most demo tickets there.
    if department.code not in {"zhujian", "chengguan"}:
        department = departments["chengguan" if ticket.pk % 2 else "zhujian"]
    staff = users["zhujian"] if department.code == "zhujian" else users["chengguan"]
    ticket = actions.dispatch_ticket(ticket, department=department, category=ticket.category or ticket.proposed_category, by=users["dispatcher"])
    if journey == "dispatched":
        return ticket
    ticket = actions.accept_ticket(ticket, by=staff)
    if journey == "accepted":
        return ticket
    ticket = actions.reply_ticket(ticket, founded=True, solved=True, text="经现场核实，已安排相关单位处理完毕，感谢您对城市管理工作的支持。", basis="《示范市城市管理条例》", by=staff)
    if journey == "replied":
        return ticket
    ticket = actions.approve_reply(ticket, by=users["dispatcher"])
    if journey == "reply_approved":
        return ticket
    if journey == "closed":
        return actions.callback_ticket(ticket, reached=True, solved=True, satisfaction=Satisfaction.SATISFIED, by=users["agent"])
    return actions.callback_ticket(ticket, reached=True, solved=False, satisfaction=Satisfaction.UNSATISFIED, by=users["agent"])


TODAY_TICKETS = 40  # the first messages of the fixture are today's tickets; the history draws from the rest


def _citizen_messages() -> list[dict]:
    with open(FIXTURES / "citizen_messages.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_tickets(users: dict[str, User], departments: dict[str, Department], areas: dict[str, Area], *, count: int = TODAY_TICKETS) -> int:
    created = 0
    districts = list(DISTRICTS)
    messages = _citizen_messages()[:count]
    for i, message in enumerate(messages):
        ref = f"demo:{message['id']}"
        if find_by_channel_ref(Channel.WEB if i % 3 else Channel.PHONE, ref):
            continue
        # A web form has no category picker: those tickets arrive uncategorised and get the classifier's proposal.
        category = None if i % 3 else Category.objects.filter(name=message.get("category"), parent=None).first()
        district = districts[i % len(districts)]
        streets = DISTRICTS[district]
        result = register_ticket(
            IntakeRequest(
                channel=Channel.WEB if i % 3 else Channel.PHONE,
                channel_ref=ref,
                type=[TicketType.COMPLAINT, TicketType.HELP, TicketType.INQUIRY, TicketType.SUGGESTION, TicketType.REPORT][i % 5],
                category=category,
                urgency=Urgency.URGENT if i % 11 == 5 else Urgency.NORMAL,
                title=message["subject"][:200],
                description=message["text"][:8000],
                address=f"示范市{district}{streets[i % len(streets)]}",
                area=areas[streets[i % len(streets)]],
                citizen_name=["张女士", "李先生", "王先生", "赵女士", "陈先生"][i % 5],
                citizen_phone=f"1380000{i:04d}",
                confidential=i % 7 == 3,
            ),
            by=users["agent"],
        )
        created += int(result.created)
        _walk(result.ticket, _JOURNEYS[i % len(_JOURNEYS)], users, departments)
    return created


def load_linkage(users: dict[str, User], areas: dict[str, Area]) -> int:
    """多线联动 in the demo: a 110 referral of a non-police matter registered with its source, and a
    caller's fire that the agent transferred to 119 with its reference. Idempotent."""
    created = 0
    street = DISTRICTS[next(iter(DISTRICTS))][0]
    police = EmergencyLine.objects.filter(code="110").first()
    fire = EmergencyLine.objects.filter(code="119").first()
    if police is not None:
        result = register_ticket(
            IntakeRequest(
                channel=Channel.PHONE, channel_ref="demo:linkage:110", type=TicketType.COMPLAINT,
                description="110转来：小区楼下烧烤摊每晚营业到凌晨两点，油烟和噪音扰民，非警务警情，转12345由城管处置。",
                address=f"示范市{areas[street].parent.name}{street}", area=areas[street], citizen_name="何女士", citizen_phone="13900009901",
                referred_from=police, referral_reference="J2026120700318",
            ),
            by=users["agent"],
        )  # fmt: skip
        created += int(result.created)
    if fire is not None and not Ticket.objects.filter(channel_ref="demo:linkage:119").exists():
        ticket = register_ticket(
            IntakeRequest(
                channel=Channel.WEB, channel_ref="demo:linkage:119", type=TicketType.HELP,
                description="小区地下车库有电动车充电时起火，冒出很多浓烟，车库里好像还有人。",
                address=f"示范市{areas[street].parent.name}{street}", area=areas[street], citizen_name="钱先生", citizen_phone="13900009902",
            ),
            by=users["agent"],
        ).ticket  # fmt: skip
        actions.transfer_ticket(ticket, line=fire, reason="火灾属消防119处置", reference="F20261207-0042", by=users["agent"])
        created += 1
    return created


# --- a month of history ------------------------------------------------------------------
HISTORY_REF = "demo-history:"
HISTORY_DAYS = 30
HISTORY_TICKETS = 210
_SATISFACTION = [Satisfaction.SATISFIED] * 15 + [Satisfaction.BASICALLY_SATISFIED] * 3 + [Satisfaction.UNSATISFIED] * 2


class _Now(Exception):
    """A step of the history would happen after the present: the ticket stays where it is."""


class _Clock:
    """The simulated time of one ticket's history; each step runs at its own moment."""

    def __init__(self, start: dt.datetime, present: dt.datetime):
        self.when, self.present = start, present

    def at(self, when: dt.datetime, fn, *args, **kwargs):
        if when >= self.present:
            raise _Now
        self.when = max(self.when, when)
        with time_machine.travel(self.when, tick=False):
            return fn(*args, **kwargs)

    def after(self, hours: float, fn, *args, **kwargs):
        return self.at(self.when + dt.timedelta(hours=hours), fn, *args, **kwargs)


def _liaison(department: Department, users: dict[str, User]) -> User:
    """The department's staff member who acts in the history (the demo logins for 住建 and 城管)."""
    if department.code in users:
        return users[department.code]
    username = f"liaison-{department.code}"
    if username not in users:  # found or created once per load
        user, created = User.objects.get_or_create(
            username=username, defaults={"role": Role.DEPARTMENT, "department": department, "first_name": f"{department.name}联络员"}
        )
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        users[username] = user
    return users[username]


def load_history(users: dict[str, User], departments: dict[str, Department], areas: dict[str, Area], *, days: int = HISTORY_DAYS, count: int = HISTORY_TICKETS) -> int:
    """The month before today: ``count`` tickets, each walked through the real actions at the
    (simulated) moments its steps happen, so that the supervisor's KPIs, charts and daily
    roll-ups have a history. Most are finished; the latest are still being handled, as in a
    live city. Seeded, so every demo has the same month."""
    if Ticket.objects.filter(channel_ref__startswith=HISTORY_REF).exists():
        return 0
    rng = random.Random(12345)
    present = timezone.now() - dt.timedelta(hours=1)
    first_day = timezone.localdate() - dt.timedelta(days=days)
    messages = _citizen_messages()[TODAY_TICKETS:]
    messages = rng.sample(messages, min(count, len(messages)))  # the file is sorted by topic: mix them
    bureaus = [departments[code] for code, _ in DEPARTMENTS]
    streets = [street for district in DISTRICTS.values() for street in district]
    last_dispatched = None
    reviews = itertools.count()  # the unsatisfied ratings, in order (_history_review)
    for n, message in enumerate(messages):
        day = first_day + dt.timedelta(days=n * days // len(messages))
        start = timezone.make_aware(dt.datetime.combine(day, dt.time(8))) + dt.timedelta(minutes=rng.randrange(12 * 60))
        clock = _Clock(start, present)
        street = streets[n % len(streets)]
        request = IntakeRequest(
            channel=[Channel.PHONE, Channel.PHONE, Channel.PHONE, Channel.WEB, Channel.CHAT, Channel.SMS][n % 6],
            channel_ref=f"{HISTORY_REF}{message['id']}",
            type=[TicketType.INQUIRY, TicketType.HELP, TicketType.COMPLAINT, TicketType.INQUIRY, TicketType.SUGGESTION, TicketType.REPORT][n % 6],
            category=Category.objects.filter(name=message.get("category"), parent=None).first(),
            urgency=Urgency.URGENT if n % 17 == 3 else Urgency.NORMAL,
            title=message["subject"][:200],
            description=message["text"][:8000],
            address=f"示范市{areas[street].parent.name}{street}",
            area=areas[street],
            citizen_name=["刘女士", "孙先生", "周女士", "吴先生", "郑女士", "冯先生"][n % 6],
            citizen_phone=f"1390000{n:04d}",
        )
        try:
            ticket = clock.at(start, register_ticket, request, by=users["agent"]).ticket
            dispatched = _history_walk(ticket, clock, rng, users, bureaus, last_dispatched, reviews)
        except _Now:
            continue
        last_dispatched = dispatched or last_dispatched
    with time_machine.travel(present, tick=False):
        sweep.run()  # the cards of what is still running, as the worker would have given them
    while kpis.roll_up():
        pass
    return len(messages)


def _history_walk(ticket: Ticket, clock: _Clock, rng: random.Random, users: dict[str, User], bureaus: list[Department], earlier: Ticket | None, reviews):
    """One ticket's journey; returns it if it was dispatched (a later duplicate may be merged into it)."""
    agent, dispatcher = users["agent"], users["dispatcher"]
    fate = rng.random()
    if ticket.state == State.DISPATCHED:  # an automatic rule dispatched it at registration
        fate = max(fate, 0.59)
    if fate < 0.52:
        clock.after(rng.uniform(0.05, 0.3), actions.resolve_ticket, ticket, answer="已根据知识库为市民解答相关政策和办理流程。", by=agent)
        return None
    if fate < 0.57:
        clock.after(0.1, actions.decline_ticket, ticket, reason="不属于 12345 受理范围，已告知市民向法院咨询。", by=agent)
        return None
    if fate < 0.59 and earlier is not None and earlier.state not in {State.MERGED, State.DECLINED, State.WITHDRAWN, State.TRANSFERRED}:
        clock.after(0.5, actions.merge_ticket, ticket, into=earlier, by=dispatcher)
        return None
    if ticket.state == State.DISPATCHED:
        department = ticket.department
    else:
        department = ticket.proposed_department or rng.choice(bureaus)
        ticket = clock.after(rng.uniform(0.2, 3), actions.dispatch_ticket, ticket, department=department, by=dispatcher)
    if fate < 0.61:
        clock.after(rng.uniform(2, 20), actions.withdraw_ticket, ticket, by=agent, reason="市民来电表示问题已自行解决")
        return ticket
    if fate < 0.65:  # the wrong department: it disputes the dispatch citing the catalogue, and the desk re-dispatches (改派)
        right = rng.choice([b for b in bureaus if b.pk != department.pk])
        cited = DispatchRule.objects.filter(department=right, active=True).order_by("id").first()
        ticket = clock.after(
            rng.uniform(1, 8), actions.request_return, ticket, reason="不属于本单位职责范围", cited_rule=cited, suggested_department=right,
            by=_liaison(department, users),
        )  # fmt: skip
        department = right
        ticket = clock.after(rng.uniform(0.5, 4), actions.approve_return, ticket, department=department, by=dispatcher)
    staff = _liaison(department, users)
    late_accept = rng.random() < 0.1
    ticket = clock.after(rng.uniform(26, 40) if late_accept else rng.uniform(0.5, 7), actions.accept_ticket, ticket, by=staff)
    if rng.random() < 0.06:
        ticket = clock.after(rng.uniform(4, 30), actions.request_extension, ticket, days=3, reason="需协调多个部门现场处置", by=staff)
        ticket = clock.after(rng.uniform(1, 6), actions.approve_extension, ticket, by=dispatcher)
    for round_ in range(2):
        ticket = _history_reply(ticket, clock, rng, staff, dispatcher)
        ticket = clock.after(rng.uniform(4, 30), actions.callback_ticket, ticket, reached=True, solved=True, satisfaction=rng.choice(_SATISFACTION), by=agent)
        if ticket.state != State.RATED:
            return ticket  # satisfied: closed
        _history_review(ticket, clock, users, staff, next(reviews))
        if round_:
            return clock.after(2, actions.close_ticket, ticket, by=dispatcher)  # unsatisfied twice: settled
        ticket = clock.after(rng.uniform(0.5, 4), actions.reopen_ticket, ticket, reason="市民对处理结果不满意", by=agent)
    return ticket


def _history_review(ticket: Ticket, clock: _Clock, users: dict[str, User], staff: User, nth: int) -> None:
    """The ``nth`` unsatisfied rating of the month: of every four, the department appeals two (a
    supervisor upholds one, rejects the other), a supervisor leaves one out directly, one stays.
    Counted, not drawn, so that every demo month has each case and the rest of it stays the same."""
    case = nth % 4
    if case in (0, 2):
        appeal = clock.after(6, actions.file_appeal, ticket, subject="rating", reason="市民诉求超出本单位法定职责，已依法依规答复并说明理由", by=staff)
        upheld = case == 0
        reason = "经核实，市民诉求缺乏政策依据，申诉成立" if upheld else "答复未回应市民核心诉求，申诉驳回"
        clock.after(20, actions.decide_appeal, appeal, upheld=upheld, reason=reason, by=users["supervisor"])
    elif case == 3:
        clock.after(20, actions.exclude_from_assessment, ticket, subject="rating", reason="市民多次辱骂工作人员、恶意差评，经核实不纳入考核", by=users["supervisor"])


def _history_reply(ticket: Ticket, clock: _Clock, rng: random.Random, staff: User, dispatcher: User) -> Ticket:
    """The department replies (one in six late, after the red card), and the dispatcher reviews it."""
    due = ticket.handle_due
    if rng.random() < 1 / 6:
        clock.at(due + dt.timedelta(minutes=30), sweep.run)
        reply_at = due + dt.timedelta(hours=rng.uniform(3, 40))
    else:
        reply_at = clock.when + (due - clock.when) * rng.uniform(0.2, 0.9)
        clock.at(reply_at - dt.timedelta(minutes=5), sweep.run)  # a yellow card if it is due soon
    ticket = clock.at(reply_at, actions.reply_ticket, ticket, founded=True, solved=True, text="经现场核查，已安排处理完毕。", basis="相关管理办法", by=staff)
    if rng.random() < 0.06:  # a poor reply goes back once
        ticket = clock.after(rng.uniform(1, 5), actions.reject_reply, ticket, reason="答复未说明处理结果", by=dispatcher)
        ticket = clock.after(rng.uniform(4, 20), actions.reply_ticket, ticket, founded=True, solved=True, text="已补充说明处理结果。", basis="相关管理办法", by=staff)
    return clock.after(rng.uniform(1, 6), actions.approve_reply, ticket, by=dispatcher)


DEMO_REFS = ("demo:", HISTORY_REF)


def mark_demo_citizens() -> int:
    """The demo's citizens are made up, but their numbers could be someone's: flag them, so nothing of the demo
    (registration, reply, survey SMS; now or after a user plays with a demo ticket) reaches a phone.
    Runs in ``load``'s transaction, before any of its outbox rows can be delivered."""
    refs = Q()
    for prefix in DEMO_REFS:
        refs |= Q(channel_ref__startswith=prefix)
    return Citizen.objects.filter(demo=False, pk__in=Ticket.objects.filter(refs).values("citizen_id")).update(demo=True)


@transaction.atomic
def load() -> dict[str, int]:
    """Load (or complete) the demo city; returns counts of what exists."""
    categories = load_categories()
    if not ClassifierModel.objects.filter(active=True).exists():
        training.train(include_tickets=False)  # the bootstrap model, so the demo's tickets get proposals
    areas = load_areas()
    departments = load_departments(areas)
    users = load_users(departments)
    load_rules(departments)
    linkage.ensure_default_lines()  # the transfer list (移交目录), also filled by migration 0013
    history = load_history(users, departments, areas)
    tickets = load_tickets(users, departments, areas)
    tickets += load_linkage(users, areas)
    mark_demo_citizens()
    return {
        "categories_created": categories, "history_tickets_created": history, "tickets_created": tickets,
        "tickets": Ticket.objects.count(), "departments": Department.objects.count(),
    }  # fmt: skip
