"""多线联动 with 110 / 119 / 120 / 122: the transfer list (移交目录) and the referrals that come from them.

The list is data (``EmergencyLine`` rows, kept in the admin; migration 0013 fills the four lines).
An agent transfers a matter that is another line's with ``routing.actions.transfer_ticket``; a matter
another line refers to 12345 (110 转 12345 非警务警情) is registered by ``routing.intake`` with its
source and reference, once per reference.
"""

from __future__ import annotations

from django.db.models import QuerySet

from routing.models import EmergencyLine, Ticket

# The four lines as the migration first fills them (a city edits them in the admin afterwards).
DEFAULT_LINES = [
    {
        "code": "110", "name": "公安110", "phone": "110", "ordering": 1,
        "matters": "刑事、治安案件\n危及人身、财产安全的紧急求助\n群体性事件、打架斗殴\n走失、被困等需警力处置的求助",
        "keywords": "报警 打架 斗殴 抢劫 盗窃 被偷 诈骗 绑架 威胁 持刀 家暴 走失 闹事 非法拘禁",
    },
    {
        "code": "119", "name": "消防119", "phone": "119", "ordering": 2,
        "matters": "火灾\n燃气泄漏、危险化学品泄漏\n人员被困、电梯困人等抢险救援",
        "keywords": "着火 起火 火灾 冒烟 浓烟 失火 燃气泄漏 煤气泄漏 爆炸 被困 困在电梯 电梯困人",
    },
    {
        "code": "120", "name": "急救120", "phone": "120", "ordering": 3,
        "matters": "急危重症病人\n意外伤害、需要急救送医\n突发疾病、昏迷、呼吸困难",
        "keywords": "晕倒 昏迷 昏倒 抽搐 呼吸困难 心脏病 中风 大出血 受伤流血 急救 救护车 服毒 喝药",
    },
    {
        "code": "122", "name": "交警122", "phone": "122", "ordering": 4,
        "matters": "交通事故\n道路交通拥堵、交通违法现场\n道路上的交通安全隐患（需交警现场处置）",
        "keywords": "车祸 交通事故 撞车 追尾 剐蹭 肇事 逃逸 堵车 违停挡道 酒驾",
    },
]  # fmt: skip


def ensure_default_lines() -> None:
    """Create the four lines where they are missing (the demo city, a database flushed by a test); never overwrites."""
    for line in DEFAULT_LINES:
        EmergencyLine.objects.get_or_create(code=line["code"], defaults={k: v for k, v in line.items() if k != "code"})


def active_lines() -> QuerySet[EmergencyLine]:
    """The lines an agent may transfer to, in their order."""
    return EmergencyLine.objects.filter(active=True).order_by("ordering", "code")


def suggest(text: str, lines=None) -> EmergencyLine | None:
    """The line whose keywords the text matches most (ties: the earlier line), or None: a hint, never a decision."""
    text = text or ""
    best, hits = None, 0
    for line in lines if lines is not None else active_lines():
        found = sum(1 for keyword in line.keyword_list() if keyword in text)
        if found > hits:
            best, hits = line, found
    return best


def find_referral(line: EmergencyLine, reference: str) -> Ticket | None:
    """The ticket already registered for this line's reference (a retry of the same referral)."""
    if line is None or not reference:
        return None
    return Ticket.objects.filter(referred_from=line, referral_reference=reference).first()
