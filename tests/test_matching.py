"""Matching a song to the right candidate on another platform, and refusing the decoys."""
from __future__ import annotations

import pytest

from catalogsync_ops.library.matching import THRESHOLD, best_match, fold, score
from catalogsync_ops.sources.base import Track


def t(title: str, artists: str | tuple = (), album: str | None = None, duration: float | None = None) -> Track:
    if isinstance(artists, str):
        artists = (artists,)
    return Track("x", f"{title}|{artists}|{album}|{duration}", title, tuple(artists), album, duration)


# (case name, wanted, candidates, index of the right candidate or None for no_match)
CASES = [
    ("exact among versions", t("晴天", "周杰伦", duration=269),
     [t("晴天 (Live)", "周杰伦", duration=280), t("晴天", "周杰伦", duration=269), t("晴天 (伴奏)", "周杰伦", duration=269)], 1),
    ("traditional vs simplified", t("愛在西元前", "周杰倫", duration=234), [t("爱在西元前", "周杰伦", duration=235)], 0),
    ("full-width letters", t("ＬＯＶＥ", "ＡＢＣ"), [t("LOVE", "abc")], 0),
    ("feat. in the candidate title", t("Stay", ("The Kid LAROI", "Justin Bieber"), duration=141),
     [t("Stay (feat. Justin Bieber)", "The Kid LAROI", duration=141)], 0),
    ("artist list with 、 vs &", t("千里之外", "周杰伦、费玉清", duration=255), [t("千里之外", "周杰伦 & 费玉清", duration=256)], 0),
    ("artists in another order", t("Under Pressure", ("Queen", "David Bowie")), [t("Under Pressure", ("David Bowie", "Queen"))], 0),
    ("duration picks the right cut", t("夜曲", "周杰伦", duration=226),
     [t("夜曲", "周杰伦", duration=300), t("夜曲", "周杰伦", duration=227)], 1),
    ("near-duplicate durations: album decides", t("七里香", "周杰伦", album="七里香", duration=299),
     [t("七里香", "周杰伦", album="精选集", duration=298), t("七里香", "周杰伦", album="七里香", duration=300)], 1),
    ("live asked for", t("晴天 (Live)", "周杰伦"), [t("晴天", "周杰伦"), t("晴天 (Live)", "周杰伦")], 1),
    ("instrumental asked for", t("晴天 (伴奏)", "周杰伦"), [t("晴天", "周杰伦"), t("晴天 (伴奏)", "周杰伦")], 1),
    ("remix asked for", t("Titanium (David Guetta Remix)", "Sia"), [t("Titanium", "Sia"), t("Titanium (Remix)", "Sia")], 1),
    ("case and apostrophes", t("Don't Stop Me Now", "Queen"), [t("Dont stop me now", "QUEEN")], 0),
    ("remaster suffix", t("Bohemian Rhapsody - Remastered 2011", "Queen", duration=355),
     [t("Bohemian Rhapsody", "Queen", duration=354)], 0),
    ("album version note", t("七里香 (Album Version)", "周杰伦"), [t("七里香", "周杰伦")], 0),
    ("accents", t("Señorita", ("Shawn Mendes", "Camila Cabello")), [t("Senorita", ("Shawn Mendes", "Camila Cabello"))], 0),
    ("japanese title", t("夜に駆ける", "YOASOBI", duration=261), [t("夜に駆ける", "YOASOBI", duration=262)], 0),
    ("spaces inside a chinese title", t("光 年 之 外", "G.E.M.邓紫棋"), [t("光年之外", "G.E.M.邓紫棋")], 0),
    ("movie note in brackets", t("Lose Yourself", "Eminem"), [t("Lose Yourself (From 8 Mile)", "Eminem")], 0),
    ("capitalisation only", t("Shape of You", "Ed Sheeran"), [t("Shape Of You", "Ed Sheeran")], 0),
    ("a title that contains 'mixed' is no remix", t("Mixed Emotions", "The Rolling Stones"),
     [t("Mixed Emotions", "The Rolling Stones")], 0),
    ("band called Live is not a live version", t("Lightning Crashes", "Live"), [t("Lightning Crashes", "Live")], 0),
    ("DJ version decoy beside the original", t("最炫民族风", "凤凰传奇"), [t("最炫民族风 (DJ版)", "凤凰传奇"), t("最炫民族风", "凤凰传奇")], 1),
    ("traditional artist with spaces", t("小幸運", "田馥甄"), [t("小幸运", "田馥甄")], 0),
    ("one of two artists credited", t("告白气球", ("周杰伦",)), [t("告白气球", ("周杰伦", "某合唱"))], 0),
    ("same song, other cover first", t("后来", "刘若英", duration=341), [t("后来 (翻唱)", "某歌手", duration=341), t("后来", "刘若英", duration=340)], 1),
    # Decoys: every candidate is wrong.
    ("only a remix", t("Titanium", "Sia", duration=245), [t("Titanium (Alesso Remix)", "Sia", duration=245)], None),
    ("same title, other artist", t("后来", "刘若英"), [t("后来", "张惠妹")], None),
    ("only a cover by someone else", t("后来", "刘若英"), [t("后来 (翻唱)", "路人甲")], None),
    ("other song of the same artist", t("七里香", "周杰伦"), [t("稻香", "周杰伦")], None),
    ("extended mix twice as long", t("Levels", "Avicii", duration=200), [t("Levels", "Avicii", duration=400)], None),
    ("only the karaoke track", t("月亮代表我的心", "邓丽君"), [t("月亮代表我的心 (Karaoke)", "邓丽君")], None),
    ("only the instrumental", t("晴天", "周杰伦"), [t("晴天 (伴奏)", "周杰伦")], None),
    ("only a sped-up edit", t("See You Again", ("Wiz Khalifa", "Charlie Puth")),
     [t("See You Again (Sped Up)", ("Wiz Khalifa", "Charlie Puth"))], None),
    ("only the live version when studio wanted", t("十年", "陈奕迅"), [t("十年 (Live)", "陈奕迅")], None),
    ("no candidates at all", t("十年", "陈奕迅"), [], None),
]


@pytest.mark.parametrize("name,wanted,candidates,expected", CASES, ids=[c[0] for c in CASES])
def test_matching_picks_the_right_candidate_or_refuses(name, wanted, candidates, expected):
    match, scored = best_match(wanted, candidates)
    if expected is None:
        assert match is None, f"{name}: picked {match.track.title!r} ({match.score}) {match.reasons}"
    else:
        assert match is not None, f"{name}: nothing above {THRESHOLD}: {[(m.track.title, m.score, m.reasons) for m in scored]}"
        assert match.track == candidates[expected], f"{name}: picked {match.track.title!r} {match.reasons}"


def test_there_are_at_least_30_cases():
    assert len(CASES) >= 30


def test_fold_handles_width_case_and_traditional_characters():
    assert fold("ＡＢＣ 愛的 魔力轉圈圈!") == fold("abc爱的魔力转圈圈")


def test_score_explains_a_penalty():
    match = score(t("晴天", "周杰伦"), t("晴天 (Live)", "周杰伦"))
    assert any("live" in r for r in match.reasons)
