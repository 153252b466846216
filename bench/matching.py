"""Scoring speed: 10,000 candidates (1,000 songs × 10 candidates, written as Chinese platforms
list them: traditional and simplified titles, versions in brackets, feat. credits, artist
lists) scored by the matcher, each mode in a child process of its own:

  opencc         the product: OpenCC's converter built once, every string folded once (cached)
  no opencc      OpenCC not installed (as on 32-bit ARM): the small built-in table
  opencc, cold   the same candidates with every cache emptied before each candidate and the
                 converter built again (what "not cached" would cost; run on a tenth)

Each mode scores the set twice: the first pass with empty caches (every string new), the
second as a sync that meets the same songs again. Prints candidates/s and the ratio to the
product's first pass.

Usage: python bench/matching.py [--songs 1000] [--candidates 10]
"""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TITLES = ["晴天", "愛在西元前", "後來", "十年", "海闊天空", "千千闕歌", "當愛已成往事", "Love Story", "Shape of You",
          "夜に駆ける", "밤편지", "簡單愛", "傷心太平洋", "光年之外", "Blinding Lights", "紅日", "歲月神偷",
          "Someone You Loved"]
ARTISTS = ["周杰倫", "陳奕迅", "劉若英", "Beyond", "張國榮", "Taylor Swift", "Ed Sheeran", "YOASOBI", "IU",
           "G.E.M.鄧紫棋",
           "李克勤", "金玟岐", "The Weeknd", "Lewis Capaldi", "任賢齊", "梅艷芳"]
NOTES = ["", "", "", " (Live)", " (伴奏)", " (KTV版)", " (国语版)", " (Remastered 2011)", " (电影《后会无期》主题曲)",
         " - Live", " (feat. 某人)", " (Taylor's Version)", " (钢琴版)", " (DJ版)", " (翻自 周杰伦)"]


def make_cases(songs: int, per_song: int, seed: int = 7) -> list[tuple[dict, list[dict]]]:
    rng = random.Random(seed)
    cases = []
    for i in range(songs):
        title = f"{rng.choice(TITLES)}{'' if i < len(TITLES) else i}"
        artist = rng.choice(ARTISTS)
        wanted = {"title": title, "artists": [artist], "album": f"專輯{i % 50}", "duration": 180 + i % 120}
        candidates = []
        for _ in range(per_song):
            candidates.append({"title": title + rng.choice(NOTES), "artists": [rng.choice([artist, *ARTISTS[:3]]),
                               *([rng.choice(ARTISTS)] if rng.random() < 0.3 else [])],
                               "album": rng.choice([wanted["album"], f"精选{i % 7}", None]),
                               "duration": wanted["duration"] + rng.choice([0, 1, -2, 5, -30, 60])})
        cases.append((wanted, candidates))
    return cases


def child(mode: str, songs: int, per_song: int) -> None:
    if mode == "no opencc":
        sys.modules["opencc"] = None  # as if no wheel could be installed: the import fails
    from catalogsync_ops.library import matching
    from catalogsync_ops.sources.base import Track

    def track(d: dict) -> Track:
        return Track("x", d["title"], d["title"], tuple(d["artists"]), d["album"], d["duration"])

    cases = [(track(w), [track(c) for c in cs]) for w, cs in make_cases(songs, per_song)]
    caches = (matching.fold, matching.simplify, matching.parse_title, matching._converter)
    for cache in caches:
        cache.cache_clear()
    passes = []
    if mode.endswith("cold"):
        cases = cases[: max(1, len(cases) // 10)]
        started = time.perf_counter()
        for wanted, candidates in cases:
            for candidate in candidates:  # every candidate from nothing: converter and caches gone
                for cache in caches:
                    cache.cache_clear()
                matching.score(wanted, candidate)
        passes.append({"candidates": sum(len(c) for _, c in cases), "seconds": time.perf_counter() - started})
    else:
        for _ in range(2):  # the second pass meets the same strings again, caches warm
            started = time.perf_counter()
            picked = sum(matching.best_match(wanted, candidates)[0] is not None for wanted, candidates in cases)
            passes.append({"candidates": sum(len(c) for _, c in cases), "seconds": time.perf_counter() - started,
                           "picked": picked})
    print(json.dumps(passes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=1000)
    parser.add_argument("--candidates", type=int, default=10)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.songs, args.candidates)
        return
    results = {}
    for mode in ("opencc", "no opencc", "opencc, cold"):
        out = subprocess.run([sys.executable, __file__, "--child", mode, "--songs", str(args.songs), "--candidates",
                              str(args.candidates)], capture_output=True, text=True, check=True).stdout
        results[mode] = json.loads(out)
    base = results["opencc"][0]["candidates"] / results["opencc"][0]["seconds"]
    print(f"{args.songs * args.candidates} candidates ({args.songs} songs × {args.candidates})")
    for mode, passes in results.items():
        for n, run in enumerate(passes, 1):
            rate = run["candidates"] / run["seconds"]
            label = "first pass (caches empty)" if n == 1 else "second pass (caches warm)"
            if mode.endswith("cold"):
                label = "every candidate from nothing"
            print(f"  {mode:<13} {label:<29} {rate:>9,.0f} candidates/s  ({rate / base:.2f}× the product's first pass)")


if __name__ == "__main__":
    main()
