"""Choosing the right track on another platform: normalise, score, refuse the decoys.

A song from one platform downloaded from another is matched on title, artists, album and
duration. Comparison folds width (full-width → half-width), case, punctuation and common
traditional characters to simplified; versions (live, remix, instrumental/伴奏, …) are
penalised unless the wanted title asks for the same version. Below `THRESHOLD` the attempt
fails as `no_match` rather than downloading the wrong song.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher

from catalogsync_ops.sources.base import Track

THRESHOLD = 0.72
DURATION_TOLERANCE_S = 3.0

# Common traditional → simplified characters in song titles and artist names (cheap, not complete).
_T2S = str.maketrans(
    "們愛說話個來這時後會裡麼夢國東車風雲電聽歲開關從與為無過還讓對見長門間問聲樂歡淚憶戀藍紅綠"
    "帶給聽頭臉親隨離難韓華當樣點歌戲學體機聖誕燈鐘錯誤實認識記憶憂傷漢羅陳楊劉張鄧蕭黃趙吳鄭謝"
    "這邊飛鳥龍陽億萬歷線頁顏變壞緣終結紀麗婦嗎嗚寫畫醉淺濃溫輕靜夠傳覺願盡舊獨戰鬥倫傑偉雙"
    "貝殼灣島環遠術黨團園圓場劍鏡類號語譯讀術豐葉蘭蘇莊莫連鄉際陸陰隊階麥齊龜腦腸膽臺颱"
    "轉誰暢熱燒憐氣純髮鬆遙聞專業媽啟蓮湖嶺藝術創",
    "们爱说话个来这时后会里么梦国东车风云电听岁开关从与为无过还让对见长门间问声乐欢泪忆恋蓝红绿"
    "带给听头脸亲随离难韩华当样点歌戏学体机圣诞灯钟错误实认识记忆忧伤汉罗陈杨刘张邓萧黄赵吴郑谢"
    "这边飞鸟龙阳亿万历线页颜变坏缘终结纪丽妇吗呜写画醉浅浓温轻静够传觉愿尽旧独战斗伦杰伟双"
    "贝壳湾岛环远术党团园圆场剑镜类号语译读术丰叶兰苏庄莫连乡际陆阴队阶麦齐龟脑肠胆台台"
    "转谁畅热烧怜气纯发松遥闻专业妈启莲湖岭艺术创",
)

# Words that mark a different recording of the same song.
VERSION_WORDS = {
    "live": ("live", "现场", "演唱会", "concert"),
    "remix": ("remix", "mix", "dj版", "dj", "重混"),
    "instrumental": ("instrumental", "伴奏", "纯音乐", "karaoke", "off vocal", "inst.", "inst", "卡拉ok"),
    "acoustic": ("acoustic", "不插电", "unplugged"),
    "cover": ("cover", "翻唱", "翻自"),
    "demo": ("demo版",),
    "sped_up": ("sped up", "加速版", "0.8x", "降调", "升调"),
}

_BRACKETS = re.compile(r"[\(\[（【「『<《].*?[\)\]）】」』>》]")
_FEAT = re.compile(r"\s*[\(\[（]?\s*(feat\.?|ft\.?|featuring)\s+[^\)\]）]*[\)\]）]?", re.IGNORECASE)
_ARTIST_SPLIT = re.compile(r"\s*(?:,|，|&|＆|、|/|／|;|；|\bfeat\.?|\bft\.?|\bwith\b|\bx\b|×| and )\s*", re.IGNORECASE)
_PUNCT = re.compile(r"[\s\-_·・.,，。!！?？'\"“”‘’:：~～…]+")


def fold(text: str) -> str:
    """Width, case and traditional/simplified folded text, without punctuation or spaces."""
    text = unicodedata.normalize("NFKC", text or "").casefold().translate(_T2S)
    return _PUNCT.sub("", text)


def versions_of(text: str) -> set[str]:
    """The version markers a title carries (live, remix, instrumental, …)."""
    lowered = unicodedata.normalize("NFKC", text or "").casefold().translate(_T2S)
    found = set()
    for version, words in VERSION_WORDS.items():
        for word in words:
            if re.search(r"[a-z]", word):
                if re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", lowered):
                    found.add(version)
            elif word in lowered:
                found.add(version)
    return found


def base_title(title: str) -> str:
    """The title without bracketed notes, feat. credits and ' - Live'-style suffixes."""
    text = unicodedata.normalize("NFKC", title or "")
    text = _FEAT.sub(" ", text)
    text = _BRACKETS.sub(" ", text)
    text = re.split(r"\s+[-–—]\s+", text)[0]
    return fold(text) or fold(title)


def split_artists(artists: tuple[str, ...] | list[str] | str) -> set[str]:
    """Each artist folded, with feat./&/、 lists split apart."""
    if isinstance(artists, str):
        artists = (artists,)
    out = set()
    for entry in artists:
        for part in _ARTIST_SPLIT.split(unicodedata.normalize("NFKC", entry or "")):
            if part and fold(part):
                out.add(fold(part))
    return out


def _similarity(a: str, b: str) -> float:
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


@dataclass(frozen=True)
class Match:
    """A scored candidate and why it scored as it did."""

    track: Track
    score: float
    reasons: tuple[str, ...]


def score(wanted: Track, candidate: Track) -> Match:
    """How sure we are that `candidate` is the recording `wanted` names (0–1)."""
    reasons = []
    title = _similarity(base_title(wanted.title), base_title(candidate.title))
    want_artists, cand_artists = split_artists(wanted.artists), split_artists(candidate.artists)
    if want_artists and cand_artists:
        overlap = len(want_artists & cand_artists)
        artist = overlap / len(want_artists) if overlap else max(
            (_similarity(a, b) for a in want_artists for b in cand_artists), default=0.0) * 0.6
    else:
        artist = 0.5
    total = 0.55 * title + 0.35 * artist
    if wanted.album and candidate.album:
        total += 0.05 * (1.0 if fold(wanted.album) == fold(candidate.album) else 0.0)
    else:
        total += 0.025
    if wanted.duration_s and candidate.duration_s:
        gap = abs(wanted.duration_s - candidate.duration_s)
        if gap <= DURATION_TOLERANCE_S:
            total += 0.05
        else:
            total -= min(0.3, 0.02 * (gap - DURATION_TOLERANCE_S))
            reasons.append(f"duration differs by {gap:.0f}s")
    else:
        total += 0.025
    extra_versions = versions_of(candidate.title) - versions_of(wanted.title)
    missing_versions = versions_of(wanted.title) - versions_of(candidate.title)
    if extra_versions:
        total -= 0.35
        reasons.append("version " + "/".join(sorted(extra_versions)) + " not asked for")
    if missing_versions:
        total -= 0.2
        reasons.append("lacks version " + "/".join(sorted(missing_versions)))
    reasons.insert(0, f"title {title:.2f}, artists {artist:.2f}")
    return Match(candidate, round(max(0.0, min(1.0, total)), 4), tuple(reasons))


def best_match(wanted: Track, candidates: list[Track], *, threshold: float = THRESHOLD) -> tuple[Match | None, list[Match]]:
    """The best candidate at or above the threshold (or None), and every candidate scored."""
    scored = sorted((score(wanted, c) for c in candidates), key=lambda m: m.score, reverse=True)
    if scored and scored[0].score >= threshold:
        return scored[0], scored
    return None, scored
