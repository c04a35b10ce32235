"""Reply review: how well a department's reply answers the citizen's message.

``assess(message, reply)`` returns scores between 0 and 1 and the reasons a
dispatcher can read; it runs when a department replies (stored as a
``ReplyReview``), while the department drafts (``POST /api/v1/replies/assess/``)
and on the dispatcher's page before ``approve_reply``.

**Relevance** — does the reply address this citizen's problem, place and request?
It is a logistic function of what the reply shares with the message, all read
through the shared text representation (``routing.intelligence.text`` and the
signatures of ``routing.intelligence.similarity``):

* ``cosine``: the cosine of the two signatures (jieba words and character bigrams, idf-weighted);
* ``coverage``: the share of the message's distinctive words (highest tf × idf) found in the reply;
* ``place``: a place the message names (小区, 路, 村, 学校, a company…) is named in the reply;
* ``other_place``: the reply names places of the same kind that the message does not (the
  answer to someone else's 小区 or 路);
* ``numbers``: a number of the message (a bus line, an amount, a building) recurs in the reply.

The weights are fitted on the message–reply pairs shipped in
``routing/fixtures/reply_pairs.jsonl`` (each reply against its own message and against
the replies to the most similar other messages): ``python -m routing.intelligence.review --fit``
prints them, and a test checks that ``RELEVANCE_WEIGHTS`` is what that command gives.

**Completeness** — does the reply say what a 12345 reply must (DOMAIN.md, GB/T 33358)?
Six elements, each found by the cue phrases below, in sentences that are not
boilerplate: 调查核实情况 (finding) 0.25, 处理措施 (action) 0.25, 处理结果 (result) 0.2,
政策依据 (basis) 0.1, 联系方式或下一步 (contact) 0.1, 时间 (date) 0.1. The sum takes 90 %
of the score and the amount of substance (characters outside boilerplate, saturating
around 500) the remaining 10 %, so a reply that says more is never less complete.

**Buck-passing and boilerplate** — phrases that send the citizen elsewhere (推诿) or
say nothing (套话), each a finding with its place in the reply, so the page can mark it.
**Timeliness** — the reply time against the handling deadline, when there is one.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

import jieba
import jieba.posseg as posseg
import numpy as np
from django.utils.translation import gettext_noop

from routing.intelligence import similarity
from routing.intelligence import text as rep

VERSION = "review-1"
FLAG_BELOW = 0.5  # a relevance or completeness under this flags the reply for the dispatcher

# ---------------------------------------------------------------------------
# Sentences and normalisation
# ---------------------------------------------------------------------------

_SENTENCE = re.compile(r"[^。！？!?；;\n]+[。！？!?；;\n]*")


def _norm(text: str) -> str:
    """NFKC and lower case, keeping digits (the reply review compares numbers)."""
    return unicodedata.normalize("NFKC", text or "").lower()


def sentences(text: str) -> list[tuple[int, int]]:
    """Spans of the sentences of ``text`` (ends included), skipping blank ones."""
    return [(m.start(), m.end()) for m in _SENTENCE.finditer(text) if m.group().strip(" \t\r\n。！？!?；;，,")]


def first_sentence(text: str) -> str:
    spans = sentences(text)
    return text[spans[0][0] : spans[0][1]] if spans else text


# ---------------------------------------------------------------------------
# Completeness
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Element:
    key: str
    label: str  # what the page shows when it is there
    missing: str  # the reason when it is not
    weight: float
    pattern: re.Pattern


def _cues(*parts: str) -> re.Pattern:
    return re.compile("|".join(parts))


ELEMENTS: tuple[Element, ...] = (
    Element(
        "finding", gettext_noop("调查核实情况"), gettext_noop("未说明调查核实情况"), 0.25,
        _cues(r"经(过)?(我[局委办处所队中心街道镇乡]|工作人员|执法人员|现场)?(查|核实|调查|核查|了解|排查|勘察|检测|检查|走访|摸排|实地)",
              r"(现场|实地|上门)(查看|勘察|检查|核实|调查|走访|察看|踏勘)", r"(调查|核实|核查|查实|查明|了解|检查)(发现|得知|到|后|情况)",
              r"(情况|问题|反映|诉求)(基本)?(属实|不属实|部分属实)", r"(据|通过)(了解|调查|核实|查询|调阅|监测)", r"(检测|监测)(结果|数据|显示)",
              r"系统(查询|显示)", r"查询(到|得知|发现)", r"(确实|确有)(存在)?"),
    ),
    Element(
        "action", gettext_noop("处理措施"), gettext_noop("未说明采取的处理措施"), 0.25,
        _cues(r"(已|已经|立即|随即|当即|迅速|及时|马上)(经)?(对|向|与|联系|组织|安排|派|责令|要求|督促|约谈|协调|下达|启动|开展|实施|采取|进行|召集|指派|通知|告知|立案|介入)",
              r"责令", r"(下达|送达|出具)[^，。]{0,8}(通知书|决定书|告知书)", r"(依法|依规)(予以|进行|作出)?(查处|处罚|处理|立案|取缔|拆除|暂扣|罚款)",
              r"(予以|进行了|作出了?)(处罚|查处|整改|清理|维修|更换|拆除|调解|答复|核查|劝导|纠正|补发|退还|清运)", r"(约谈|函告|督办|抄告|移交|移送)",
              r"(安排|组织|派出|派遣|协调)[^，。]{0,12}(人员|队伍|施工|维修|清理|清运|执法|力量|车辆)", r"(立案|罚款|没收|暂扣|查封|扣押)",
              r"(已|现已|已经)(将|把|为|给|按)", r"(召开|组织)[^，。]{0,8}(会议|协调会|座谈)", r"(调解|协商)(达成|成功|一致)"),
    ),
    Element(
        "result", gettext_noop("处理结果"), gettext_noop("未说明处理结果"), 0.2,
        _cues(r"(已|已经|现已|目前已|均已|全部|基本|现|已于)[^，。；]{0,16}(完成|恢复|解决|修复|整改到位|整改完毕|清理完毕|清运完毕|拆除完毕|办结|到位|到账|发放|退还|补发|通车|开通|停止|关停|消除|达标|正常|结清|支付|落实|完毕|拆除|取缔|改正|纠正|更换|安装|疏通|拆除)",
              r"(恢复正常|不再|已无|未再|消除了?|得到(有效)?(解决|处理|控制|改善|遏制))", r"(目前|现在|截至)[^，。]{0,20}(已|正在|尚|未|正常|完成|进行)",
              r"(处理|整改|调解|协调|办理|维修|检测)(结果|完毕|完成|到位|已|后)", r"(同意|准予|符合|不符合|不予)[^，。]{0,10}(条件|办理|受理|批准|审批|申请|发放|退还|享受|认定)",
              r"(预计|计划|拟|将于|将在)[^，。]{0,20}(完成|开工|竣工|投入使用|开通|恢复|通车|到位|发放)"),
    ),
    Element(
        "basis", gettext_noop("政策依据"), gettext_noop("未引用政策或法规依据"), 0.1,
        _cues(r"《[^》]{2,40}》", r"(根据|依据|按照|依照|遵照|参照)[^，。]{0,30}(规定|要求|办法|条例|法|政策|文件|通知|标准|细则|意见|规范|程序|精神)",
              r"第[一二三四五六七八九十百零〇0-9]+条", r"(相关|有关)(法律|法规|规定|政策)(规定|明确)", r"(规定|明确)[:：]", r"[〔\[][^〕\]]{2,12}[〕\]][^，。]{0,6}号"),
    ),
    Element(
        "contact", gettext_noop("联系方式或下一步"), gettext_noop("未提供联系方式或下一步安排"), 0.1,
        _cues(r"(联系|咨询|垂询|举报|监督|服务|办公|值班)(电话|方式|人|热线|地址)", r"电话[:：为是]?\s*[0-9(（]", r"\d{3,4}[-—－]\d{7,8}", r"(?<!\d)1[3-9]\d{9}(?!\d)",
              r"(?<!\d)(12345|12315|12333|12320|12369|12319|110|119|120)(?!\d)",
              r"如(有|您有|您还有|仍有|还有|对)[^，。]{0,10}(疑问|问题|需要|需求|异议|不满|意见|困难)", r"(下一步|后续|今后|接下来|此后)",
              r"(将|会)(继续|持续|进一步|加大|定期|跟踪|密切|做好|督促|加强|尽快|及时|在|于|组织|安排|对)", r"(可|请|欢迎)(您)?(拨打|前往|到|携带|登录|致电|来电|联系|关注|通过|于|持|凭)",
              r"(地址|地点)[:：]", r"(工作日|办公时间|上午|下午)[^，。]{0,10}\d"),
    ),
    Element(
        "date", gettext_noop("时间"), gettext_noop("未注明办理时间"), 0.1,
        _cues(r"\d{4}\s*年\s*\d{1,2}\s*月", r"\d{1,2}\s*月\s*\d{1,2}\s*[日号]", r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}", r"[一二三四五六七八九十]{1,3}月[一二三四五六七八九十初]{1,3}[日号]",
              r"(当日|当天|次日|第二天|同日|本周|上周|近日|日前|今年|去年|本月|上月|月底|月初|年底|年初|前期|近期)", r"\d+\s*(个)?(工作日|日内|天内|小时内|小时|分钟)"),
    ),
)  # fmt: skip

# Phrases that say nothing about this case (套话). A sentence made only of them is boilerplate.
BOILERPLATE = _cues(
    r"(网友|市民|先生|女士|同志|群众)?(朋友)?(你|您)好", r"(尊敬|亲爱)的[^，。：:]{0,8}[：:，,]?", r"(你|您)(的|所)?(留言|来信|诉求|问题|意见|建议|反映的问题)(已|我们已|我局已)?(收悉|收到|获悉)",
    r"现(将|就)?[^，。]{0,12}(回复|答复|说明)如下", r"感谢(你|您)[^，。]{0,16}(关注|支持|理解|监督|信任|关心|配合|建议|反映)", r"(给|对)(你|您)[^，。]{0,10}(带来|造成)[^，。]{0,6}(不便|困扰|影响)",
    r"(敬请|请您|恳请)(谅解|理解|支持)", r"(深表|表示)(歉意|感谢)", r"高度重视", r"(进一步|持续|切实|不断)(加强|加大|做好|提升|完善|改进|强化|提高)[^，。]{0,12}(管理|工作|力度|服务|监管|水平|巡查)",
    r"(一如既往|始终坚持|全心全意|为民服务|以人民为中心|群众满意|切实维护[^，。]{0,10}(权益|利益))", r"(欢迎|希望)(您)?(继续)?[^，。]{0,6}(监督|关注|支持|参与)",
    r"(祝您|祝你)[^，。]{0,10}", r"(此复|特此(回复|答复|函复)|谢谢|感谢|再次感谢)", r"(我们|我局|我单位|我委|我办)(将|会)(认真|高度)?(研究|对待|重视|采纳|考虑)",
)  # fmt: skip

# Phrases that pass the citizen to someone else (推诿). Legitimate referrals exist; the
# dispatcher judges, the finding says where the reply does it.
BUCK_PASSING: tuple[tuple[str, re.Pattern], ...] = (
    (gettext_noop("不属于本单位职责"), re.compile(r"(不属于|不在|超出|非)(我|本|该)?(单位|局|部门|委|办|处|中心|街道|镇|乡|所|队|公司|机关)?(的)?(职责|职能|管辖|受理|业务|工作|监管|管理)(范围|权限|内容)?")),
    (gettext_noop("无权或无法处理"), re.compile(r"(无权|无法|不能|难以|暂无法|暂时无法)(处理|受理|解决|办理|介入|管理|查处|答复|核实)")),
    (gettext_noop("请其向他处反映"), re.compile(r"(建议|请|可|烦请|请您|建议您|您可)(直接|自行)?(向|到|与|去|前往|咨询|联系|致电)[^，。；]{0,24}(部门|单位|机构|机关|法院|仲裁|派出所|公安|公司|物业|居委会|村委会|社区|街道|政府|管理处|中心|所|局|委)(反映|咨询|联系|投诉|申请|办理|解决|处理|了解|协商)?")),
    (gettext_noop("自行协商或自行解决"), re.compile(r"(自行|另行|双方|与对方|友好)(协商|解决|处理|联系|调解|沟通)")),
    (gettext_noop("请走司法途径"), re.compile(r"(通过|走|寻求|采取|依法)(司法|法律|诉讼|仲裁|民事)(途径|程序|渠道|手段|方式)|(向|到)(人民)?法院(起诉|提起诉讼)")),
    (gettext_noop("已转他处"), re.compile(r"(已|已经|现已)(转|转交|转至|转给|转办|移交|移送|交由)[^，。；]{0,16}(部门|单位|处理|办理)")),
)  # fmt: skip

_PLACE_SUFFIXES = (
    "小区", "社区", "花园", "家园", "公寓", "大厦", "广场", "新村", "新城", "村", "镇", "乡", "街道", "大道", "路", "街", "巷", "胡同", "学校", "小学",
    "中学", "大学", "学院", "幼儿园", "医院", "卫生院", "市场", "超市", "公司", "工地", "园区", "公园", "苑", "府", "湾", "站", "桥", "酒店", "宾馆", "饭店",
    "商场", "楼盘", "项目", "工厂", "厂", "县", "区", "店", "栋", "号楼", "单元",
)  # fmt: skip
_PLACE_SUFFIXES = tuple(sorted(_PLACE_SUFFIXES, key=len, reverse=True))
_NOT_PLACE_CORES = {
    "我", "本", "该", "此", "这", "那", "各", "全", "某", "附近", "周边", "整个", "一个", "这个", "那个", "所在", "我们", "所有", "相关", "有关", "其他", "城",
    "城区", "辖区", "片区", "社", "小", "公", "问题", "情况", "工作", "部门", "单位", "政府", "群众", "居民", "业主", "市民", "他们", "现在", "目前",
}  # fmt: skip
# Tags of words that end a place name when reading back from its suffix (verbs, particles, prepositions…).
_STOP_FLAGS = {"p", "uj", "ul", "uz", "ug", "uv", "ud", "u", "f", "d", "c", "r", "rr", "rz", "zg", "y", "e", "o", "v", "vd", "vn", "x", "w", "q", "t", "tg"}
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_NAME_CHARS = 10


def _place_kind(word: str) -> str | None:
    if word in _PLACE_SUFFIXES:
        return word
    for suffix in _PLACE_SUFFIXES:
        if word.endswith(suffix):
            return suffix
    return None


@functools.lru_cache(maxsize=4096)
def _tagged(text: str) -> tuple[tuple[str, str], ...]:
    return tuple((p.word.strip(), p.flag) for p in posseg.lcut(text))


def places(text: str) -> dict[str, str]:
    """Place names in ``text`` → their kind (小区, 路, 村, 公司 …, or ns/nt for jieba's place and
    organisation names without a suffix). A name is read back from its suffix over the words before
    it ("鑫" "远" "小区" → 鑫远小区) until a verb, a particle or another place ("洞井街道鑫远小区" is two)."""
    found: dict[str, str] = {}
    tokens = _tagged(_norm(text))
    for i, (word, flag) in enumerate(tokens):
        if not word:
            continue
        kind = _place_kind(word)
        if kind is None:
            if flag in {"ns", "nt"} and len(word) >= 2 and word not in _NOT_PLACE_CORES:
                found.setdefault(word, flag)
            continue
        name, j = word, i - 1
        while j >= 0 and len(name) < _NAME_CHARS:
            prev, prev_flag = tokens[j]
            if not prev or prev_flag in _STOP_FLAGS or prev in _NOT_PLACE_CORES or _place_kind(prev) is not None:
                break
            name, j = prev + name, j - 1
        core = name[: -len(kind)]
        if len(core) >= 2 and core not in _NOT_PLACE_CORES:
            found.setdefault(name, kind)
    return found


def _core(name: str, kind: str) -> str:
    return name[: -len(kind)] if name.endswith(kind) and len(name) - len(kind) >= 2 else name


# ---------------------------------------------------------------------------
# Relevance
# ---------------------------------------------------------------------------

# Fitted by ``python -m routing.intelligence.review --fit`` on routing/fixtures/reply_pairs.jsonl.
RELEVANCE_FEATURES = ("cosine", "coverage", "place", "other_place", "numbers", "shared", "echo")
RELEVANCE_WEIGHTS = (3.273, 5.159, 1.326, -1.479, 0.993, 3.13, 4.169)
RELEVANCE_BIAS = -3.08
DISTINCTIVE_WORDS = 15
_MIN_IDF = 2.5  # words at least this rare in the city's messages tell one problem from another


@functools.lru_cache(maxsize=1)
def _idf() -> np.ndarray:
    return similarity._vectorizer().idf


def distinctive_words(text: str, *, limit: int = DISTINCTIVE_WORDS) -> list[tuple[str, float]]:
    """The words of ``text`` that say most about this message (tf × idf), with their idf."""
    idf = _idf()
    tf = Counter(w for w in jieba.lcut(rep.normalize(text)) if len(w.strip()) >= 2 and not w.isdigit() and w != "0")
    scored = []
    for word, count in tf.items():
        weight = float(idf[rep.column("w:" + word)])
        if weight >= _MIN_IDF:
            scored.append((word, weight, (1 + math.log(count)) * weight))
    scored.sort(key=lambda x: -x[2])
    return [(w, i) for w, i, _ in scored[:limit]]


def _numbers(text: str) -> set[str]:
    return {n for n in _NUMBER.findall(_norm(text)) if len(n.replace(".", "")) >= 2 and n not in {"12345", "0731"}}


@dataclass
class RelevanceParts:
    values: dict[str, float]
    missing_places: list[str]
    other_places: list[str]
    missing_words: list[str]


def relevance_parts(message: str, reply: str, *, address: str = "") -> RelevanceParts:
    """The features relevance is a function of, and what a person reads from them."""
    a, b = similarity.signature("", message), similarity.signature("", reply)
    cosine = similarity.cosine(a, b)
    asked_columns = set(a.columns.tolist())
    # How much of what the reply talks about comes from this message: the share of the reply's
    # (unit) signature mass on columns the message has. The answer to another message spends
    # its words on that message's place and specifics.
    shared = float(sum(w * w for c, w in zip(b.columns.tolist(), b.weights.tolist(), strict=True) if c in asked_columns))
    reply_norm = rep.normalize(reply)
    reply_compact = re.sub(r"\s+", "", reply_norm)
    words = distinctive_words(message)
    total = sum(i for _, i in words) or 1.0
    present = [(w, i) for w, i in words if w in reply_compact]
    coverage = sum(i for _, i in present) / total if words else 0.0
    missing_words = [w for w, _ in words if w not in reply_compact][:5]
    # And the other way round: the reply's own distinctive words that come from the message.
    asked_compact = re.sub(r"\s+", "", rep.normalize(f"{address}\n{message}"))
    said = distinctive_words(reply)
    echo = sum(i for w, i in said if w in asked_compact) / (sum(i for _, i in said) or 1.0) if said else 0.0

    asked = places(f"{address}\n{message}" if address else message)
    answered = places(reply)
    reply_plain = _norm(reply)
    met = [name for name, kind in asked.items() if _core(name, kind) in reply_plain]
    missing_places = [] if met else [name for name, kind in asked.items() if kind not in {"ns", "nt"}] or list(asked)
    asked_plain = _norm(f"{address}\n{message}")
    asked_kinds = {kind for kind in asked.values() if kind not in {"ns", "nt"}}
    others = [name for name, kind in answered.items() if kind in asked_kinds and _core(name, kind) not in asked_plain]
    place = 1.0 if met else (0.0 if asked else 0.5)
    other_place = min(1.0, len(others) / 2)

    nums = _numbers(f"{address}\n{message}")
    numbers = (1.0 if nums & _numbers(reply) else 0.0) if nums else 0.5
    values = {"cosine": cosine, "coverage": coverage, "place": place, "other_place": other_place, "numbers": numbers, "shared": shared, "echo": echo}
    return RelevanceParts(values, missing_places[:3], others[:3], missing_words)


def relevance_score(values: dict[str, float]) -> float:
    z = RELEVANCE_BIAS + sum(w * values[name] for name, w in zip(RELEVANCE_FEATURES, RELEVANCE_WEIGHTS, strict=True))
    return 1.0 / (1.0 + math.exp(-z))


# ---------------------------------------------------------------------------
# The assessment
# ---------------------------------------------------------------------------


@dataclass
class Finding:
    code: str
    message: str
    severity: str  # "missing" (a required part is absent), "warning" (a phrase to look at), "info"
    spans: list[tuple[int, int]] = field(default_factory=list)  # where in the reply, for marking

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "severity": self.severity, "spans": [list(s) for s in self.spans]}


@dataclass
class Assessment:
    relevance: float
    completeness: float
    passing: float  # 0 none … 1 the reply mostly sends the citizen elsewhere
    boilerplate: float  # share of the reply's characters in boilerplate sentences
    timely: bool | None
    elements: dict[str, tuple[int, int] | None]  # element → where it was found, or None
    findings: list[Finding]
    parts: dict[str, float]
    version: str = VERSION

    @property
    def flagged(self) -> bool:
        return (
            self.relevance < FLAG_BELOW or self.completeness < FLAG_BELOW or self.passing >= 0.5 or self.timely is False or self.boilerplate >= 0.6
        )

    def as_dict(self) -> dict:
        from django.utils.translation import gettext as _

        return {
            "relevance": round(self.relevance, 3),
            "completeness": round(self.completeness, 3),
            "passing": round(self.passing, 3),
            "boilerplate": round(self.boilerplate, 3),
            "timely": self.timely,
            "flagged": self.flagged,
            "elements": [
                {"key": e.key, "label": _(e.label), "found": self.elements[e.key] is not None, "span": list(self.elements[e.key]) if self.elements[e.key] else None}
                for e in ELEMENTS
            ],
            "findings": [f.as_dict() for f in self.findings],
            "version": self.version,
        }


def _boilerplate_sentence(sentence: str) -> bool:
    """A sentence that is boilerplate once its stock phrases and punctuation are taken out."""
    rest = BOILERPLATE.sub("", sentence)
    rest = re.sub(r"[\s，,。！!？?；;：:、“”\"'（）()…—\-]+", "", rest)
    return len(rest) <= max(4, len(sentence) // 6)


def _working_days_late(due: dt.datetime, at: dt.datetime) -> int:
    from routing.calendar import WorkingCalendar

    calendar = WorkingCalendar()
    day, end, late = due.date(), at.date(), 0
    while day < end:
        day += dt.timedelta(days=1)
        late += calendar.is_workday(day)
    return max(late, 1)


def assess(
    message: str, reply: str, *, basis: str = "", address: str = "", due: dt.datetime | None = None, at: dt.datetime | None = None
) -> Assessment:
    """The review of ``reply`` (with its policy ``basis`` field, if any) as an answer to ``message``."""
    from django.utils.translation import gettext as _

    reply = reply or ""
    full = f"{reply}\n{basis}" if basis.strip() else reply
    findings: list[Finding] = []

    spans = sentences(full)
    substantive = [(s, e) for s, e in spans if not _boilerplate_sentence(full[s:e])]
    plain_chars = sum(e - s for s, e in spans) or 1
    boilerplate = 1.0 - sum(e - s for s, e in substantive) / plain_chars if spans else 0.0

    elements: dict[str, tuple[int, int] | None] = {}
    for element in ELEMENTS:
        where = None
        for s, e in substantive:
            m = element.pattern.search(full, s, e)
            if m:
                where = (m.start(), m.end())
                break
        elements[element.key] = where
    found_weight = sum(e.weight for e in ELEMENTS if elements[e.key] is not None)
    substance = sum(e - s for s, e in substantive)
    completeness = 0.9 * found_weight + 0.1 * (1.0 - math.exp(-substance / 250.0))
    for element in ELEMENTS:
        if elements[element.key] is None:
            findings.append(Finding(f"missing_{element.key}", _(element.missing), "missing"))

    passing_hits: list[tuple[str, tuple[int, int]]] = []
    for label, pattern in BUCK_PASSING:
        for m in pattern.finditer(full):
            passing_hits.append((label, (m.start(), m.end())))
    if passing_hits:
        acted = elements["action"] is not None and elements["result"] is not None
        passing = min(1.0, 0.5 * len({label for label, _ in passing_hits}) + (0.0 if acted else 0.25))
        if acted:
            passing = min(passing, 0.45)  # it acted and says with what result: a referral besides, not instead
        for label in dict.fromkeys(label for label, _ in passing_hits):
            findings.append(
                Finding("passing", _("疑似推诿：%(what)s") % {"what": _(label)}, "warning", [sp for lb, sp in passing_hits if lb == label])
            )
    else:
        passing = 0.0

    if spans and boilerplate >= 0.5:
        findings.append(
            Finding("boilerplate", _("套话占 %(share)d%%，实质内容少") % {"share": round(boilerplate * 100)}, "warning",
                    [(s, e) for s, e in spans if (s, e) not in substantive])
        )  # fmt: skip

    parts = relevance_parts(message, reply, address=address)
    relevance = relevance_score(parts.values)
    if parts.missing_places:
        findings.append(Finding("missing_place", _("未回应诉求中的地点：%(places)s") % {"places": "、".join(parts.missing_places)}, "missing"))
    if parts.other_places:
        findings.append(Finding("other_place", _("答复提到诉求中没有的地点：%(places)s") % {"places": "、".join(parts.other_places)}, "warning"))
    if relevance < FLAG_BELOW:
        findings.insert(0, Finding("unrelated", _("答复与诉求关联度低，可能答非所问"), "missing"))
        if parts.missing_words:
            findings.append(Finding("missing_words", _("诉求要点未在答复中出现：%(words)s") % {"words": "、".join(parts.missing_words)}, "info"))

    timely = None
    if due is not None:
        at = at or dt.datetime.now(tz=due.tzinfo)
        timely = at <= due
        if not timely:
            findings.append(Finding("late", _("超过办结时限 %(days)d 个工作日") % {"days": _working_days_late(due, at)}, "warning"))

    return Assessment(
        relevance=relevance, completeness=min(1.0, completeness), passing=passing, boilerplate=boilerplate, timely=timely,
        elements=elements, findings=findings, parts=parts.values,
    )  # fmt: skip


def assess_ticket(ticket, reply: str, *, basis: str = "", at: dt.datetime | None = None) -> Assessment:
    """The review of ``reply`` to ``ticket``: its title and description, its address, its handling deadline."""
    message = f"{ticket.title}\n{ticket.description}" if ticket.title else ticket.description
    return assess(message, reply, basis=basis, address=ticket.address or "", due=ticket.handle_due, at=at)


# ---------------------------------------------------------------------------
# Fitting and measuring on message–reply pairs
# ---------------------------------------------------------------------------

PAIRS_FILE = "reply_pairs.jsonl"  # in routing/fixtures: the pairs the weights are fitted on


def load_pairs(path=None) -> list[dict]:
    """Message–reply pairs: JSON lines with ``message`` (or ``subject`` + ``message``) and ``reply``."""
    import json
    from pathlib import Path

    path = Path(path) if path else Path(__file__).resolve().parent.parent / "fixtures" / PAIRS_FILE
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                subject = row.get("subject", "")
                rows.append({"message": f"{subject}\n{row['message']}" if subject else row["message"], "reply": row["reply"], "id": row.get("id", "")})
    return rows


def most_similar_others(pairs: list[dict], *, k: int = 1) -> list[list[int]]:
    """For each pair, the ``k`` other pairs whose messages are most similar to its message."""
    sigs = [similarity.signature("", p["message"]) for p in pairs]
    out = []
    for i, a in enumerate(sigs):
        scored = sorted(((similarity.cosine(a, b), j) for j, b in enumerate(sigs) if j != i), reverse=True)
        out.append([j for _, j in scored[:k]])
    return out


def fit(pairs: list[dict], *, negatives: int = 3) -> tuple[tuple[float, ...], float]:
    """Weights of relevance: a logistic regression of each reply against its own message (1) and
    against the messages most similar to its message (0)."""
    from sklearn.linear_model import LogisticRegression

    others = most_similar_others(pairs, k=negatives)
    x, y = [], []
    for i, pair in enumerate(pairs):
        x.append([relevance_parts(pair["message"], pair["reply"]).values[f] for f in RELEVANCE_FEATURES])
        y.append(1)
        for j in others[i]:
            x.append([relevance_parts(pair["message"], pairs[j]["reply"]).values[f] for f in RELEVANCE_FEATURES])
            y.append(0)
    model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000).fit(np.array(x), np.array(y))
    return tuple(round(float(w), 3) for w in model.coef_[0]), round(float(model.intercept_[0]), 3)


def roc_auc(positives: list[float], negatives: list[float]) -> float:
    """The probability that a positive outscores a negative (ties count half)."""
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives)) if positives and negatives else float("nan")


def evaluate(pairs: list[dict]) -> dict:
    """The figures of docs/INTELLIGENCE.md: the true reply against the reply to the most similar
    other message (ROC AUC, and how often it wins within its pair), and a whole reply against its
    first sentence (how often the whole is more complete)."""
    others = most_similar_others(pairs, k=1)
    true, other, whole, first = [], [], [], []
    for i, pair in enumerate(pairs):
        true.append(relevance_score(relevance_parts(pair["message"], pair["reply"]).values))
        other.append(relevance_score(relevance_parts(pair["message"], pairs[others[i][0]]["reply"]).values))
        whole.append(assess(pair["message"], pair["reply"]).completeness)
        first.append(assess(pair["message"], first_sentence(pair["reply"])).completeness)
    return {
        "pairs": len(pairs),
        "relevance_auc": roc_auc(true, other),
        "relevance_pair_wins": sum(t > o for t, o in zip(true, other, strict=True)) / len(pairs),
        "relevance_true_mean": float(np.mean(true)),
        "relevance_other_mean": float(np.mean(other)),
        "completeness_whole_wins": sum(w > f for w, f in zip(whole, first, strict=True)) / len(pairs),
        "completeness_whole_mean": float(np.mean(whole)),
        "completeness_first_mean": float(np.mean(first)),
    }
