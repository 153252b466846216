"""Choosing the right recording on another platform, and refusing every decoy.

A song from one platform downloaded from another is matched on title, artists, album and
duration. A candidate is first checked against refusals — each is a different recording or a
different song, whatever its score would be:

| refusal    | when                                                                           |
|------------|--------------------------------------------------------------------------------|
| version    | it carries a version the wanted song does not (KTV, live, 国语版, Taylor's      |
|            | Version, TV size, …) or lacks one the wanted song carries (伴奏, live, remix), |
|            | in its title or in its album's name ("2004 无与伦比演唱会": live); a version   |
|            | in one character, as platforms abbreviate it ("(粤)", "[国]"), is the word     |
| title      | even the closest forms of the two titles are less than `MIN_TITLE` alike, or   |
|            | differ in more characters than their length allows (none up to 9: "Fade" is   |
|            | not "Faded")                                                                   |
| artists    | both name artists and none is the same person                                  |
| duration   | it is far shorter or longer (a preview, a clip, another cut)                   |

Then it is scored (0–1): `TITLE_WEIGHT` × title likeness + `ARTIST_WEIGHT` × the share of the
wanted artists it credits + `ALBUM_WEIGHT` × album + `DURATION_WEIGHT` × duration closeness,
less `GUEST_PENALTY` per guest credited in its title whom the wanted song does not name.
Unknown fields count half. The best candidate at or above `THRESHOLD` is taken; candidates with
the same score are ranked by fewer notes and guests, then album, then nearest duration, never by
the platform's order.

The weights and limits were set on our table in tests/test_matching.py (251 cases, about as many
refusals as picks): a candidate with the same title and artists but nothing else known scores
0.78, so it passes; half the artists, no album, duration right: 0.83; title alike only at
`MIN_TITLE` with everything else right: 0.89. Refusals, not low weights, keep decoys out: a
decoy that differs in one of the refused ways is refused whatever else matches.

Text is compared folded: width, case, Latin accents, punctuation and spaces, and traditional
characters converted to simplified with OpenCC (cached: the converter is built once and each
string converted once).
"""
from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache

from catalogsync_ops.messages import Said
from catalogsync_ops.sources.base import Track

log = logging.getLogger("catalogsync_ops.matching")

THRESHOLD = 0.75
TITLE_WEIGHT, ARTIST_WEIGHT, ALBUM_WEIGHT, DURATION_WEIGHT = 0.55, 0.30, 0.05, 0.10
MIN_TITLE = 0.85  # "Perfect" vs "Perfect Duet" is 0.78, "演员" vs "演员们" 0.80
GUEST_PENALTY = 0.04  # per guest credit not asked for (at most two count): breaks ties
DURATION_SAME_S = 3.0  # the same recording differs this much between platforms
DURATION_FAR_S = 15.0  # beyond this and DURATION_FAR_SHARE of the length: another cut
DURATION_FAR_SHARE = 0.07
CLIP_SHARE = 0.6  # a candidate this much shorter is a clip or preview, however close in seconds

# Words in a note that mark another recording, by the label a reason shows. Latin words match
# whole words of the note; the others anywhere in it.
VERSIONS: dict[str, tuple[str, ...]] = {
    "live": ("live", "现场", "演唱会", "concert", "live版", "ライブ", "라이브"),
    "instrumental": ("instrumental", "伴奏", "纯音乐", "off vocal", "inst", "消音", "반주"),
    "karaoke": ("ktv", "karaoke", "卡拉ok", "伴唱", "カラオケ"),
    "remix": ("remix", "remixed", "dj", "重混", "电音", "club mix", "extended mix", "bootleg", "vip mix", "edm",
              "リミックス",
              "리믹스"),
    "acoustic": ("acoustic", "不插电", "unplugged", "アコースティック", "어쿠스틱"),
    "piano": ("钢琴", "piano", "ピアノ"),
    "guitar": ("吉他", "guitar"),
    "cover": ("cover", "翻唱", "翻自", "原唱"),
    "clip": ("片段", "铃声", "彩铃", "试听", "tv size", "tv ver", "tv version", "tv版", "tvサイズ", "short ver",
             "short version", "剪辑", "抖音", "快手"),
    "radio edit": ("radio edit", "radio version", "radio mix"),
    "mandarin": ("国语", "普通话", "mandarin", "chinese ver", "chinese version", "中文版"),
    "cantonese": ("粤语", "cantonese"),
    "japanese": ("日语", "日文", "japanese ver", "japanese version"),
    "korean": ("韩语", "韩文", "korean ver", "korean version"),
    "english": ("英文版", "英语版", "english ver", "english version"),
    "hokkien": ("闽南语", "台语"),
    "female voice": ("女声", "女生版"),
    "male voice": ("男声", "男生版"),
    "children": ("童声",),
    "taylor's version": ("taylor's version", "taylors version"),
    "re-recorded": ("re-recorded", "rerecorded", "re-record"),
    "sped up": ("sped up", "speed up", "slowed", "reverb", "nightcore", "8d", "加速", "降调", "升调", "慢速", "变速"),
    "demo": ("demo", "小样"),
    "duet": ("合唱版", "duet"),
    "orchestral": ("交响", "管弦", "orchestral", "symphonic"),
    "a cappella": ("a cappella", "acapella", "a capella", "清唱", "无伴奏"),
    "rap": ("说唱", "rap版", "rap version"),
    "rock": ("摇滚版", "rock version"),
    "reprise": ("reprise",),
    "medley": ("串烧", "medley", "mashup"),
}
# A note of one character (or one character and 版), as Chinese platforms abbreviate a version:
# "(粤)" is 粤语, "[国]" 国语, "（伴）" 伴奏. Read in simplified form (粵 → 粤 by the fold).
ABBREVIATIONS: dict[str, str] = {"粤": "cantonese", "国": "mandarin", "日": "japanese", "韩": "korean",
                                 "英": "english", "闽": "hokkien", "台": "hokkien", "伴": "instrumental",
                                 "纯": "instrumental", "现": "live", "混": "remix"}
_SPEED = re.compile(r"(?<![a-z0-9.])\d(?:\.\d+)?x(?![a-z])")  # 0.8x, 1.2x
# "X版" / "X version" / "X edit" / "X mix" notes that are the same recording.
_NEUTRAL_CJK = ("正版", "专辑", "原版", "完整版", "高清", "高音质", "无损", "单曲", "录音室", "正式版", "原声", "新版")
_NEUTRAL_LATIN = frozenset({"album", "single", "original", "studio", "explicit", "clean", "remastered", "remaster",
                            "mono", "stereo", "deluxe", "lp", "ep", "full", "main", "official", "hq", "hd",
                            "soundtrack", "ost", "theme", "expanded", "special", "bonus", "collector's"})
_GENERIC_CJK = re.compile(r"([a-z0-9\u4e00-\u9fff]{1,4})版")
_GENERIC_LATIN = re.compile(r"([a-z0-9']+)\s+(?:version|ver\.?|edit|mix|edition)(?![a-z])")
_CREDIT = re.compile(r"^\s*(?:feat\.?|ft\.?|featuring|with)\s+(.+)$", re.IGNORECASE)
_INLINE_FEAT = re.compile(r"\s+(?:feat\.?|ft\.?|featuring)\s+(.+)$", re.IGNORECASE)
# Words a title may end with, unbracketed, that are a version ("晴天 伴奏", "小幸运KTV版").
_TRAILING = re.compile(r"(?:\s+(?:伴奏|铃声|片段|试听版?|纯音乐|live版|现场版|dj版)"
                       r"|(?:ktv|dj|live|伴奏|钢琴|吉他|女声|男声|国语|粤语|现场|试听|纯音乐|抖音|铃声)版)$")

_OPEN = "([{（【《「『〈<"
_CLOSE = ")]}）】》」』〉>"
_ARTIST_SPLIT = re.compile(r"\s*(?:,|，|&|＆|、|/|／|;|；|\bfeat\.?|\bft\.?|\bwith\b|\bx\b|×| and )\s*", re.IGNORECASE)
_PUNCT = re.compile(r"[\W_]+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


@lru_cache(maxsize=1)
def _converter():
    try:
        import opencc
    except ImportError:  # no wheel for this machine: a small table, said once
        log.warning("OpenCC is not installed: traditional characters are folded with a small built-in table only "
                    "(pip install opencc)")
        return None
    return opencc.OpenCC("t2s")


_SMALL_T2S = str.maketrans("們愛說話個來這時後會裡麼夢國東車風雲電聽歲開關從與為無過還讓對見長門間問聲樂歡淚憶戀藍紅綠",
                           "们爱说话个来这时后会里么梦国东车风云电听岁开关从与为无过还让对见长门间问声乐欢泪忆恋蓝红绿")


@lru_cache(maxsize=16384)
def simplify(text: str) -> str:
    """Traditional characters as simplified (OpenCC t2s); other text unchanged."""
    if not _CJK.search(text):
        return text
    converter = _converter()
    return converter.convert(text) if converter is not None else text.translate(_SMALL_T2S)


def _plain(text: str) -> str:
    """NFKC, Latin accents dropped (not Japanese voicing marks), casefolded, simplified."""
    text = unicodedata.normalize("NFKC", text or "")
    if any(ord(c) > 127 for c in text):
        decomposed = unicodedata.normalize("NFKD", text)
        kept = [c for i, c in enumerate(decomposed)
                if not (unicodedata.combining(c) and i and decomposed[i - 1].isascii())]
        text = unicodedata.normalize("NFC", "".join(kept))
    return simplify(text.casefold().replace("’", "'").replace("‘", "'"))


@lru_cache(maxsize=16384)
def fold(text: str) -> str:
    """Width, case, accents and traditional/simplified folded text, without punctuation or spaces."""
    return _PUNCT.sub("", _plain(text))


def _has(word: str, text: str) -> bool:
    if word.isascii() and re.search(r"[a-z]", word):
        return re.search(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])", text) is not None
    return word in text


def versions_in(note: str) -> set[str]:
    """The version labels one note carries ("KTV版" → karaoke), or the note's own "X版" label."""
    text = _plain(note)
    short = text.strip().removesuffix("版").strip()
    if short in ABBREVIATIONS:
        return {ABBREVIATIONS[short]}
    found = {label for label, words in VERSIONS.items() if any(_has(w, text) for w in words)}
    if _SPEED.search(text):
        found.add("sped up")
    if found:
        return found
    if re.fullmatch(r"\s*mix\s*", text):
        return {"remix"}
    for kind in _GENERIC_CJK.findall(text):
        if not any(n in text for n in _NEUTRAL_CJK):
            found.add(f"{kind}版")
    for kind in _GENERIC_LATIN.findall(text):
        if kind not in _NEUTRAL_LATIN and not kind.isdigit():
            found.add(f"{kind} version")
    return found


# An album named for one of these holds that kind of recording under plain titles
# ("2004 无与伦比演唱会", "KTV伴奏精选").
ALBUM_VERSIONS = ("live", "karaoke", "instrumental", "remix")


@lru_cache(maxsize=4096)
def album_versions(album: str | None) -> dict[str, str]:
    """The versions an album's name says its songs are (label → the album's name)."""
    if not album:
        return {}
    text = _plain(album)
    return {label: album for label in ALBUM_VERSIONS if any(_has(w, text) for w in VERSIONS[label])}


@dataclass(frozen=True)
class Title:
    """A title taken apart: its main text, its notes, and the versions and guests they name."""

    main: str
    notes: tuple[str, ...]  # every bracketed or dash-separated part, as written
    versions: dict[str, str]  # label → the note that says it
    guests: tuple[str, ...]  # feat./with credits
    forms: tuple[str, ...]  # folded forms to compare: main, each plain note, main + notes


def _split_brackets(text: str) -> tuple[str, list[str]]:
    """Text outside any bracket, and each top-level bracket's content (nesting kept inside)."""
    main, notes, depth, current = [], [], 0, []
    for char in text:
        if char in _OPEN:
            if depth:
                current.append(char)
            depth += 1
        elif char in _CLOSE and depth:
            depth -= 1
            if depth:
                current.append(char)
            else:
                notes.append("".join(current))
                current = []
        elif depth:
            current.append(char)
        else:
            main.append(char)
    if current:
        notes.append("".join(current))  # an unclosed bracket: the rest is a note
    return "".join(main), notes


@lru_cache(maxsize=16384)
def parse_title(title: str) -> Title:
    """Take a title apart into its main text, notes, versions and guest credits."""
    text = unicodedata.normalize("NFKC", title or "").strip()
    main, notes = _split_brackets(text)
    parts = re.split(r"\s+[-–—]\s+", main)
    main, notes = parts[0], [*notes, *parts[1:]]
    inline = _INLINE_FEAT.search(main)
    if inline:
        notes.append("feat. " + inline.group(1))
        main = main[:inline.start()]
    trailing = _TRAILING.search(_plain(main))
    if trailing and len(fold(main)) > len(fold(trailing.group(0))):
        notes.append(main[len(main) - len(trailing.group(0)):] if len(main) == len(_plain(main)) else trailing.group(0))
        main = main[:len(main) - len(trailing.group(0))]
    if not fold(main) and notes:  # the whole title in brackets: 《晴天》
        main, notes = notes[0], notes[1:]
    versions: dict[str, str] = {}
    guests: list[str] = []
    plain_notes = []
    for note in notes:
        credit = _CREDIT.match(note)
        if credit:
            guests.extend(p for p in _ARTIST_SPLIT.split(credit.group(1)) if fold(p))
            continue
        labels = versions_in(note)
        for label in labels:
            versions.setdefault(label, note.strip())
        if not labels and fold(note):
            plain_notes.append(fold(note))
    base = fold(main)
    forms = [base] if base else []
    forms += [n for n in plain_notes if n not in forms]
    if plain_notes and base:
        forms.append(base + "".join(plain_notes))
    return Title(main.strip(), tuple(n.strip() for n in notes), versions, tuple(guests), tuple(forms or [fold(text)]))


_SCRIPT_RUNS = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]+|[A-Za-z][A-Za-z.' ]*[A-Za-z.]")
_GROUP_WORDS = frozenset({"乐队", "乐团", "组合", "合唱团", "band"})  # not a name on their own


def _aliases(name: str) -> frozenset[str]:
    """One artist's folded names: "BTS (防弹少年团)" → {bts, 防弹少年团}; "周杰倫 Jay Chou" → {…, 周杰伦, jaychou}."""
    main, notes = _split_brackets(unicodedata.normalize("NFKC", name))
    names = {fold(main), *(fold(n) for n in notes)}
    for part in (main, *notes):
        runs = [fold(r) for r in _SCRIPT_RUNS.findall(part)]
        if len(runs) > 1 and any(_CJK.search(r) for r in runs) and any(not _CJK.search(r) for r in runs):
            names.update(r for r in runs if len(r) >= 2 and r not in _GROUP_WORDS)
    return frozenset(f for f in names if f)


def artist_names(artists: tuple[str, ...] | list[str] | str) -> list[frozenset[str]]:
    """Each credited artist (feat./&/、/ lists split apart) as its set of folded aliases."""
    if isinstance(artists, str):
        artists = (artists,)
    out = []
    for entry in artists:
        for part in _ARTIST_SPLIT.split(unicodedata.normalize("NFKC", entry or "")):
            names = _aliases(part)
            if names and names not in out:
                out.append(names)
    return out


def _same_name(a: str, b: str) -> bool:
    if a == b:
        return True
    short, long = sorted((a, b), key=len)
    # "G.E.M.邓紫棋" and "邓紫棋", "The Kid LAROI" and "Kid LAROI": one name inside the other.
    enough = len(short) >= 2 if _CJK.search(short) else len(short) >= 3
    return enough and short in long and len(short) >= 0.4 * len(long)


def _same_artist(a: frozenset[str], b: frozenset[str]) -> bool:
    return any(_same_name(x, y) for x in a for y in b)


def _similarity(a: str, b: str) -> float:
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


def _title_alike(a: str, b: str) -> float:
    """How alike two folded titles are (0–1); 0 when they differ by more characters than a
    title of their length can and still name the same song: none up to 9 characters ("Fade" is
    not "Faded", "演员" not "演员们"), one per 10 beyond ("Rollin'" for "Rolling")."""
    ratio = _similarity(a, b)
    if ratio < 1.0:
        differing = len(a) + len(b) - round(ratio * (len(a) + len(b)))
        if differing > max(len(a), len(b)) // 10:
            return min(ratio, MIN_TITLE - 0.01)
    return ratio


@dataclass(frozen=True)
class Match:
    """A scored candidate, why it scored as it did, and why it was refused (if it was)."""

    track: Track
    score: float
    reasons: tuple[str, ...]
    refused: str | None = None
    rank: tuple = ()


def _list(names) -> str:
    return ", ".join(names) or "?"


def score(wanted: Track, candidate: Track) -> Match:
    """How sure we are that `candidate` is the recording `wanted` names (0–1), with the reasons."""
    want, cand = parse_title(wanted.title), parse_title(candidate.title)
    reasons: list[str] = []
    refusals: list[str] = []
    title = max(_title_alike(a, b) for a in want.forms for b in cand.forms)
    reasons.append(Said("match_title", score=f"{title:.2f}"))
    if title < MIN_TITLE:
        refusals.append(Said("match_title_far", candidate=candidate.title, wanted=wanted.title, score=f"{title:.2f}"))
    want_versions = {**album_versions(wanted.album), **want.versions}
    cand_versions = {**album_versions(candidate.album), **cand.versions}
    for label in sorted(set(cand_versions) - set(want_versions)):
        refusals.append(Said("match_version_extra", label=cand_versions[label]))
    for label in sorted(set(want_versions) - set(cand_versions)):
        refusals.append(Said("match_version_missing", label=want_versions[label]))

    want_artists = artist_names(wanted.artists) + [n for n in artist_names(list(want.guests))]
    cand_artists = artist_names(candidate.artists) + artist_names(list(cand.guests))
    if want_artists and cand_artists:
        found = sum(1 for w in want_artists if any(_same_artist(w, c) for c in cand_artists))
        artist = found / len(want_artists)
        reasons.append(Said("match_artists", score=f"{artist:.2f}"))
        if not found:
            refusals.append(Said("match_artists_differ", candidate=_list(candidate.artists),
                                 wanted=_list(wanted.artists)))
    else:
        artist = 0.5
        reasons.append(Said("match_artists_unknown"))
    guests = [g for g in artist_names(list(cand.guests)) if not any(_same_artist(g, w) for w in want_artists)]
    if guests:
        reasons.append(Said("match_guests", n=len(guests)))

    album_same = 0.5
    if wanted.album and candidate.album:
        a, b = parse_title(wanted.album).forms[0], parse_title(candidate.album).forms[0]
        album_same = 1.0 if _same_name(a, b) else 0.0
        reasons.append(Said("match_album_same") if album_same else Said("match_album_differs", album=candidate.album))

    gap = None
    closeness = 0.5
    if wanted.duration_s and candidate.duration_s:
        w, c = float(wanted.duration_s), float(candidate.duration_s)
        gap = abs(w - c)
        said = Said("match_duration", candidate=f"{c:.0f}", wanted=f"{w:.0f}")
        reasons.append(said)
        if c < CLIP_SHARE * w:
            refusals.append(Said("match_clip", said=said.as_param()))
        elif gap > DURATION_FAR_S and gap > DURATION_FAR_SHARE * w:
            refusals.append(Said("match_other_cut", said=said.as_param()))
        closeness = 1.0 if gap <= DURATION_SAME_S else max(0.0, 1 - (gap - DURATION_SAME_S) / DURATION_FAR_S)

    total = (TITLE_WEIGHT * title + ARTIST_WEIGHT * artist + ALBUM_WEIGHT * album_same
             + DURATION_WEIGHT * closeness - GUEST_PENALTY * min(2, len(guests)))
    value = round(max(0.0, min(1.0, total)), 4)
    extras = len(set(cand.notes) - set(want.notes)) + len(guests)
    rank = (-round(value, 2), extras, -album_same, gap if gap is not None else 1e9)
    if refusals:
        return Match(candidate, 0.0, (*reasons, *refusals), refusals[0], rank)
    return Match(candidate, value, tuple(reasons), None, rank)


def best_match(wanted: Track, candidates: list[Track], *,
               threshold: float = THRESHOLD) -> tuple[Match | None, list[Match]]:
    """The best candidate at or above the threshold (or None), and every candidate, best first.

    Equal scores are ranked by fewer notes and guests, then album, then nearest duration, then
    the platform's order.
    """
    scored = [score(wanted, c) for c in candidates]
    order = sorted(range(len(scored)), key=lambda i: (scored[i].refused is not None, scored[i].rank, i))
    ranked = [scored[i] for i in order]
    if ranked and ranked[0].refused is None and ranked[0].score >= threshold:
        return ranked[0], ranked
    return None, ranked
