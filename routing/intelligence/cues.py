"""What a message says besides its topic: the kind of request, life-safety words, the place it names.

These are lexicons, written down here where a city can read and extend them:
the bootstrap messages carry a topic but no type, so a type model would have
nothing honest to learn from until the city's own confirmed tickets exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from routing.states import TicketType

# Cue → weight for each ticket type; the type with the highest total wins, 求助 when nothing matches.
TYPE_CUES: dict[str, dict[str, int]] = {
    TicketType.PRAISE: {"表扬": 4, "感谢": 2, "锦旗": 4, "点赞": 3, "称赞": 3, "好评": 2, "致谢": 3, "为民办实事": 2},
    TicketType.SUGGESTION: {"建议": 3, "希望": 1, "呼吁": 2, "能否": 1, "可否": 1, "增设": 2, "恳请": 1, "意见": 1, "提议": 3},
    TicketType.REPORT: {"举报": 4, "违法": 1, "违规": 1, "偷排": 2, "非法": 1, "私自": 1, "无证": 2, "黑作坊": 3, "传销": 2},
    TicketType.COMPLAINT: {"投诉": 4, "不满": 2, "乱收费": 2, "拖欠": 2, "态度恶劣": 3, "扰民": 2, "不作为": 3, "推诿": 2, "强制": 1},
    TicketType.INQUIRY: {"请问": 3, "咨询": 3, "怎么办理": 3, "如何办理": 3, "是否": 1, "什么时候": 2, "何时": 2, "多少": 1, "吗?": 1, "政策": 1},
    TicketType.HELP: {"求助": 4, "帮忙": 2, "帮助": 2, "救助": 3, "困难": 1, "无法": 1, "停水": 2, "停电": 2},
}

# Words that mean someone may be in danger now (DOMAIN.md: life safety tickets go first).
LIFE_SAFETY_CUES = (
    "燃气泄漏", "煤气泄漏", "天然气泄漏", "闻到煤气", "闻到燃气", "着火", "起火", "火灾", "失火", "爆炸", "触电", "漏电",
    "坍塌", "倒塌", "塌方", "有人被困", "被困", "溺水", "落水", "跳楼", "轻生", "自杀", "中毒", "一氧化碳",
    "电线掉落", "电线断落", "井盖丢失", "危及生命", "生命危险", "有人受伤", "昏迷", "危房", "山体滑坡", "洪水",
)  # fmt: skip


@dataclass(frozen=True)
class AreaName:
    area_id: int
    name: str
    level: int


def propose_type(text: str) -> str:
    scores = {kind: sum(weight * text.count(cue) for cue, weight in cues.items()) for kind, cues in TYPE_CUES.items()}
    best = max(scores, key=lambda kind: scores[kind])
    return best if scores[best] > 0 else TicketType.HELP


def life_safety_cues(text: str) -> list[str]:
    """The life-safety words in ``text``, in order of appearance, each once."""
    found = [(text.find(cue), cue) for cue in LIFE_SAFETY_CUES if cue in text]
    # A longer cue ("燃气泄漏") hides a shorter one inside it ("泄漏" is not a cue; "被困" inside "有人被困" is).
    kept = [cue for _, cue in sorted(found) if not any(cue != other and cue in other for _, other in found)]
    return kept


_SUFFIXES = re.compile(r"(街道|社区|村委会|居委会|网格)$")


def gazetteer(areas: list[tuple[int, str, int]]) -> list[AreaName]:
    """Names to look for, longest first: each area's name and, for streets and
    communities, the name without its suffix when that leaves at least two characters."""
    names: dict[str, AreaName] = {}
    for area_id, name, level in areas:
        if level < 2:
            continue  # the city itself names no place within it
        for variant in {name, _SUFFIXES.sub("", name)}:
            if len(variant) >= 2 and (variant not in names or names[variant].level < level):
                names[variant] = AreaName(area_id, name, level)
    return sorted((AreaName(a.area_id, variant, a.level) for variant, a in names.items()), key=lambda a: (-len(a.name), -a.level))


def find_area(text: str, names: list[AreaName]) -> int | None:
    """The deepest area whose name occurs in ``text`` (a street beats its district); a name
    found only inside a longer one ("南湖" of 南湖街道 inside "南湖区") does not count."""
    covered: list[tuple[int, int]] = []
    best: AreaName | None = None
    for candidate in names:  # longest first
        spans = [(m.start(), m.end()) for m in re.finditer(re.escape(candidate.name), text)]
        free = [sp for sp in spans if not any(a <= sp[0] and sp[1] <= b for a, b in covered)]
        if not free:
            continue
        covered.extend(free)
        if best is None or candidate.level > best.level:
            best = candidate
    return best.area_id if best else None
