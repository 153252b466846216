"""The demo platforms' seeded catalog: the same every run, with fallback and matching cases.

Two platforms: `demo` holds the playlists; `demo2` is a second platform that has some songs
`demo` cannot serve (so fallback and matching run), under slightly different titles
(traditional characters, feat. credits) and beside decoys (live, instrumental versions).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DemoSong:
    id: str
    title: str
    artists: tuple[str, ...]
    album: str
    duration_s: float
    ext: str = "mp3"
    downloadable: bool = True  # False: listed in playlists, but only demo2 can serve it
    track_no: int | None = None
    seed: int = 0
    # Better qualities the platform offers beside the base file, as (rung, kind): kind `real`, or
    # `transcoded` (a "lossless" file made from a lossy one, as some uploads are).
    offers: tuple[tuple[str, str], ...] = ()
    lyrics: bool = True  # the platform has time-synced lyrics for it

    def lrc(self) -> str:
        """The song's lyrics as platforms give them: LRC, a line a second, a metadata header."""
        artist = "/".join(self.artists)
        return "\n".join([f"[ti:{self.title}]", f"[ar:{artist}]", f"[al:{self.album}]", "[by:demo]",
                          f"[00:00.00]{self.title}", f"[00:01.00]{artist}", f"[00:02.00]{self.album}", ""])


@dataclass(frozen=True)
class DemoPlaylist:
    id: str
    title: str
    song_ids: tuple[str, ...]


@dataclass
class DemoPlatform:
    name: str
    songs: dict[str, DemoSong] = field(default_factory=dict)
    playlists: dict[str, DemoPlaylist] = field(default_factory=dict)


_SONGS = [
    # id, title, artists, album, seconds, ext, downloadable on demo
    ("s01", "晴天", ("周杰伦",), "叶惠美", 3.0, "mp3", True),
    ("s02", "七里香", ("周杰伦",), "七里香", 2.5, "wav", True),
    ("s03", "后来", ("刘若英",), "我等你", 2.0, "mp3", True),
    ("s04", "小幸运", ("田馥甄",), "我的少女时代", 2.5, "mp3", False),
    ("s05", "光年之外", ("G.E.M.邓紫棋",), "光年之外", 3.0, "wav", True),
    ("s06", "Shape of You", ("Ed Sheeran",), "÷", 2.0, "mp3", True),
    ("s07", "Don't Stop Me Now", ("Queen",), "Jazz", 2.5, "mp3", True),
    ("s08", "Stay", ("The Kid LAROI", "Justin Bieber"), "F*CK LOVE 3", 2.0, "mp3", False),
    ("s09", "夜に駆ける", ("YOASOBI",), "THE BOOK", 3.0, "wav", True),
    ("s10", "千里之外", ("周杰伦", "费玉清"), "依然范特西", 2.5, "mp3", False),
    ("s11", "月亮代表我的心", ("邓丽君",), "岛国之情歌第四集", 2.0, "mp3", True),
    ("s12", "Bohemian Rhapsody", ("Queen",), "A Night at the Opera", 3.5, "mp3", True),
    ("s13", "十年", ("陈奕迅",), "黑白灰", 2.0, "wav", True),
    ("s14", "Señorita", ("Shawn Mendes", "Camila Cabello"), "Shawn Mendes", 2.0, "mp3", True),
    ("s15", "告白气球", ("周杰伦",), "周杰伦的床边故事", 2.5, "mp3", True),
    ("s16", "Levels", ("Avicii",), "Levels", 3.0, "mp3", True),
    ("s17", "See You Again", ("Wiz Khalifa", "Charlie Puth"), "Furious 7", 2.0, "wav", True),
    ("s18", "最炫民族风", ("凤凰传奇",), "最炫民族风", 2.0, "mp3", True),
    ("s19", "Titanium", ("David Guetta", "Sia"), "Nothing but the Beat", 2.5, "mp3", True),
    ("s20", "Under Pressure", ("Queen", "David Bowie"), "Hot Space", 2.0, "mp3", True),
    ("s21", "稻香", ("周杰伦",), "魔杰座", 2.0, "mp3", True),
    ("s22", "Lose Yourself", ("Eminem",), "8 Mile", 3.0, "mp3", False),
    ("s23", "Mixed Emotions", ("The Rolling Stones",), "Steel Wheels", 2.0, "wav", True),
    ("s24", "Lightning Crashes", ("Live",), "Throwing Copper", 2.0, "mp3", True),
]

# demo2's copies of the songs demo cannot serve, under the titles another platform would use,
# and decoys that matching must not pick.
_DEMO2 = [
    ("m04", "小幸運", ("田馥甄",), "我的少女時代", 2.5, "mp3"),
    ("m04l", "小幸运 (Live)", ("田馥甄",), "Live 2017", 2.5, "mp3"),
    ("m08", "Stay (feat. Justin Bieber)", ("The Kid LAROI",), "F*CK LOVE 3", 2.0, "mp3"),
    ("m10", "千里之外", ("周杰倫", "費玉清"), "依然范特西", 2.5, "mp3"),
    ("m10i", "千里之外 (伴奏)", ("周杰伦",), "依然范特西", 2.5, "mp3"),
    ("m22", "Lose Yourself (From 8 Mile)", ("Eminem",), "8 Mile", 3.0, "mp3"),
    ("m01l", "晴天 (Live)", ("周杰伦",), "2004 无与伦比演唱会", 3.0, "mp3"),
]

_PLAYLISTS = [
    ("p1", "华语经典", ("s01", "s02", "s03", "s04", "s05", "s10", "s11", "s13")),
    ("p2", "Road Trip", ("s06", "s07", "s08", "s12", "s20")),
    ("p3", "Mixed bag 混合", ("s09", "s14", "s15", "s16", "s17", "s18", "s19", "s21", "s22", "s23", "s24", "s01")),
    ("p4", "Small", ("s02", "s06")),
]


# The better qualities on offer: the rest of the demo's songs come in their base file only (an
# MP3 or WAV at 128 kbit/s).
_OFFERS = {
    ("demo", "s12"): (("lossless", "real"), ("320", "real")),
    ("demo", "s06"): (("320", "real"),),
    ("demo2", "m04"): (("lossless", "real"),),
}


def build_platforms(*, songs: int = 0, song_seconds: float | None = None,
                    playlists: int = 1) -> dict[str, DemoPlatform]:
    """The two demo platforms, freshly built (the same every time).

    `songs` adds a playlist "p9" ("Big demo") of that many generated songs, so a run lasts long
    enough to watch, pause and cancel; with `playlists` above 1 they are spread over that many
    playlists instead ("g0001", "g0002", …: a library at scale). `song_seconds` sets every
    song's length (the built-in ones are 2–3 s, a few KiB)."""
    demo = DemoPlatform("demo")
    for seed, (sid, title, artists, album, seconds, ext, ok) in enumerate(_SONGS, 1):
        demo.songs[sid] = DemoSong(sid, title, artists, album, song_seconds or seconds, ext, ok,
                                   track_no=seed % 12 + 1, seed=seed, offers=_OFFERS.get(("demo", sid), ()))
    generated = []
    for n in range(1, songs + 1):
        sid = f"g{n:05d}"
        demo.songs[sid] = DemoSong(sid, f"Demo song {n:05d}", (f"Demo Artist {n % 17 + 1}",),
                                   f"Demo Album {n % 23 + 1}",
                                   song_seconds or 30.0, "mp3", True, track_no=n % 12 + 1, seed=1000 + n)
        generated.append(sid)
    if generated and playlists <= 1:
        demo.playlists["p9"] = DemoPlaylist("p9", "Big demo", tuple(generated))
    elif generated:
        size = -(-len(generated) // playlists)
        for i in range(playlists):
            chunk = tuple(generated[i * size:(i + 1) * size])
            if chunk:
                demo.playlists[f"g{i + 1:04d}"] = DemoPlaylist(f"g{i + 1:04d}", f"Generated {i + 1:04d}", chunk)
    for pid, title, song_ids in _PLAYLISTS:
        demo.playlists[pid] = DemoPlaylist(pid, title, song_ids)
    demo2 = DemoPlatform("demo2")
    for seed, (sid, title, artists, album, seconds, ext) in enumerate(_DEMO2, 101):
        demo2.songs[sid] = DemoSong(sid, title, artists, album, song_seconds or seconds, ext, True, seed=seed,
                                    offers=_OFFERS.get(("demo2", sid), ()))
    demo2.playlists["q1"] = DemoPlaylist("q1", "demo2 picks", ("m04", "m08"))
    return {"demo": demo, "demo2": demo2}
