"""Whole person names among an article's keywords.

The dictionary segmenter cuts names it does not know into words it does: 张百顺 comes out as
张 + 百顺, 马军权 as 马 + 军权, 区长江绍华 as 副区 + 长江 + 绍华, 王彤宇来 as 王彤 + 宇来. A reader
picks the whole name. Chinese news introduces a person by title (`市长张百顺`, `区委书记马军权`,
`组长王彤宇`), so a name is found where a title is followed by a common surname; its given
name is one or two characters, decided by how the article repeats it (`王彤宇` twice, always
whole: three characters; `张妍参加` once beside `张妍在`: two) and, for a name printed once, by
where the segmenter put a word boundary. A keyword every occurrence of which lies on such a
name is replaced by the name. Words of the user dictionary are never replaced.

Pure and per article: the result depends on the article alone.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable, Sequence

from ..jit import numba
import numpy as np

# Common single-character surnames, without those that are mostly function words or common
# word starts in news text (和 时 全 应 单 党 ...): a title followed by 全区 is no name.
SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏"
    "魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚"
    "邵万钱严覃武戴莫孔汤温康施牛樊葛邢齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿兰焦俞左柳甘祝包"
    "宁尚符舒阮柯纪梅童凌毕季裴霍涂苗谷盛曲翁冉骆蓝游辛靳柴蒙鲍喻祁蒲滕屈饶牟艾尤穆卓吉缪"
    "芦麦褚娄窦戚岑景费卜冷晏席卫柏宗瞿桂佟臧闵苟邬卞姬仇栾隋刁荣巫寇桑郎甄丛仲虞敖巩佘迟邝")
# Titles and roles a name follows in news text.
TITLES = ("书记", "区长", "市长", "县长", "镇长", "乡长", "省长", "州长", "村长", "主任", "主席",
          "部长", "局长", "厅长", "处长", "科长", "院长", "校长", "所长", "站长", "队长", "组长",
          "社长", "行长", "会长", "秘书长", "委员", "常委", "总理", "经理", "董事长", "理事长",
          "检察长", "庭长", "政委", "司令员", "大使", "发言人", "主编", "总监", "教授", "记者",
          "通讯员", "村民", "居民", "党员", "干部", "负责人", "支书")
_TITLE_ENDS = tuple(TITLES)
_CJK = re.compile(r"[\u4e00-\u9fff]")


def _marks(chars: Iterable[str]) -> np.ndarray:
    table = np.zeros(0x10000, np.bool_)
    table[[ord(c) for c in chars]] = True
    return table


_TITLE_LAST = _marks({t[-1] for t in TITLES})
_SURNAME = _marks(SURNAMES)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _anchor_scan(codes, title_last, surname):
    """Offsets of the surnames right after a title's last character (a space between
    allowed): one compiled pass over a batch, where a regex took 30 us an article."""
    out = np.empty(len(codes), np.int64)
    count = 0
    for i in range(1, len(codes)):
        c = codes[i]
        if c >= 0x10000 or not surname[c]:
            continue
        b = codes[i - 1]
        if b == 32 and i >= 2:
            b = codes[i - 2]
        if b < 0x10000 and title_last[b]:
            out[count] = i
            count += 1
    return out[:count]


def anchors(codes: np.ndarray) -> np.ndarray:
    """Where a name may start after a title, in text given as its code points (UTF-32): the
    title itself is checked by ``find_names``."""
    return _anchor_scan(codes, _TITLE_LAST, _SURNAME)
# Characters that start what follows a name (王睿在, 陈宁说, 谢炜等, 蔡奇出席), not a third
# character of it.
FOLLOWERS = frozenset("在说等和出作表指主参来对到是也为与及同率向就介强要一的了称认带讲提通会代"
                      "任去前将已并还都发看听致所从把被让给们")
# A dictionary word this common is no name even after a title (书记高度重视: 高度).
COMMON_IDF = 9.0


def _occurrences(text: str, word: str) -> list[int]:
    out, at = [], text.find(word)
    while at >= 0:
        out.append(at)
        at = text.find(word, at + 1)
    return out


def find_names(text: str, boundary: Callable[[int], bool],
               idf: Callable[[str], float | None] = lambda word: None,
               starts: Iterable[int] | None = None) -> list[str]:
    """Person names introduced by a title in ``text``; ``boundary(i)`` tells whether the
    segmenter ended a word at offset i, ``idf`` gives a word's IDF in a general corpus (None
    when unknown); ``starts`` are the offsets ``anchors`` found (computed when None)."""
    if starts is None:
        starts = anchors(np.frombuffer(text.encode("utf-32-le"), np.uint32)).tolist()
    names: dict[str, None] = {}
    for p in starts:
        title_end = p - 1 if text[p - 1] == " " else p
        if not text.endswith(_TITLE_ENDS, 0, title_end):
            continue
        two, three = text[p:p + 2], text[p:p + 3]
        if len(two) < 2 or not _CJK.match(two[1]):
            continue
        name = two
        if len(three) == 3 and _CJK.match(three[2]) and three[2] not in FOLLOWERS:
            n2, n3 = text.count(two), text.count(three)
            if n3 == n2 and (n3 >= 2 or boundary(p + 3)):
                name = three
        common = idf(name)
        if common is not None and common < COMMON_IDF:
            continue
        names.setdefault(name, None)
    return list(names)


def join_names(text: str, candidates: Sequence[tuple], names: Iterable[str],
               protected: frozenset[str] = frozenset(), pieces: set[str] | None = None
               ) -> list[tuple]:
    """``candidates`` (word, score, ...), best first, with each word that only ever occurs
    as a piece of one of ``names`` replaced by the name (a name never shortens a word:
    穆罕默德 stays); a word met again keeps its first (best) place. ``pieces``, when given,
    are the only words worth checking (the tokens found on the names)."""
    names = [n for n in names if n not in protected]
    if pieces is not None:
        pieces = pieces.difference(names, protected)
        if pieces.isdisjoint(c[0] for c in candidates):
            return list(candidates)
    if not names:
        return list(candidates)
    spans = {n: [(at, at + len(n)) for at in _occurrences(text, n)] for n in names}
    letters = set("".join(names))
    out: dict[str, tuple] = {}
    for candidate in candidates:
        word = candidate[0]
        if (word in pieces if pieces is not None else not letters.isdisjoint(word)) and \
                word not in protected and word not in spans:
            seen = _occurrences(text, word)
            for name, where in spans.items():
                if name not in word and seen and where and all(
                        any(s < at + len(word) and at < e for s, e in where) for at in seen):
                    candidate = (name, *candidate[1:])
                    break
        out.setdefault(candidate[0], candidate)
    return list(out.values())
