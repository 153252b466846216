"""The emulated platforms the tests use: NetEase, Kuwo and QQ behind one proxy, with songs of
every kind a real platform serves (whole, trial clip only, encrypted only, no link at all)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from emulator.catalog import Playlist, Song
from emulator.kugou import Kugou
from emulator.kuwo import Kuwo
from emulator.migu import Migu
from emulator.netease import Netease
from emulator.proxy import PlatformEmulator
from emulator.qq import QQ
from emulator.services import LinkServices


def netease_playlists() -> list[Playlist]:
    return [
        Playlist("24381616", "网易云 热歌", [
            Song("186016", "晴天", ("周杰伦",), "叶惠美", 9),
            Song("574566207", "AC/DC Back?", ("AC/DC",), "Back in Black", 7),
            Song("1901371647", "孤勇者", ("陈奕迅",), "孤勇者", 8),
        ]),
        Playlist("7001", "会员歌单", [
            Song("7101", "稻香", ("周杰伦",), "魔杰座", 8),
            Song("7102", "会员专享", ("某歌手",), "VIP", 200, access="preview"),
            Song("7103", "下架了", ("没人",), "无", 8, access="none"),
            Song("7104", "加密歌曲", ("某乐队",), "MF", 8, access="encrypted"),
            Song("7105", "七里香", ("周杰伦",), "七里香", 8),
        ]),
    ]


def kuwo_playlists() -> list[Playlist]:
    return [
        Playlist("3564240358", "周杰伦精选", [
            Song("228908", "晴天", ("周杰伦",), "叶惠美", 9),
            Song("440613", "稻香", ("周杰伦",), "魔杰座", 8),
            Song("94239", "七里香", ("周杰伦",), "七里香", 8),
        ]),
        # A song NetEase only has as a trial clip, whole here: the fallback that saves it.
        Playlist("3564240359", "会员备份", [Song("55102", "会员专享", ("某歌手",), "VIP", 200)]),
        # Two pages of 100 (Kuwo's page size): a read that loses page 2 must not lose its songs.
        Playlist("3564240400", "很长的歌单", [Song(str(610000 + i), f"长歌{i:03d}", (f"歌手{i % 7}",), "长专辑", 8)
                                          for i in range(150)]),
    ]


def qq_playlists() -> list[Playlist]:
    return [
        Playlist("8052190267", "QQ 华语", [
            Song("003OUlho2HcRHC", "晴天", ("周杰伦",), "叶惠美", 9),
            Song("001Qu4I30eVFYb", "后来", ("刘若英",), "我等你", 8),
            Song("000xdZuV2LcQ19", "下架", ("无人",), "无", 8, access="none"),
            Song("004Z8Ihr0JIu5s", "AC/DC Back?", ("AC/DC",), "Back in Black", 7),
        ]),
    ]


def migu_playlists() -> list[Playlist]:
    return [
        Playlist("228114498", "咪咕 华语", [
            Song("600902000009", "晴天", ("周杰伦",), "叶惠美", 9),
            Song("600902000010", "后来", ("刘若英",), "我等你", 8),
            Song("600902000011", "下架", ("无人",), "无", 8, access="none"),
            Song("600902000012", "AC/DC Back?", ("AC/DC",), "Back in Black", 7),
        ]),
        # Three pages of 50 (Migu's page size).
        Playlist("228114499", "咪咕长歌单", [Song(str(600903000000 + i), f"咪咕歌{i:03d}", (f"歌手{i % 5}",), "长专辑",
                                                  8)
                                         for i in range(120)]),
    ]


def kugou_playlists() -> list[Playlist]:
    return [
        Playlist("6914288", "酷狗 热歌", [
            Song("32100", "晴天", ("周杰伦",), "叶惠美", 9),
            Song("32101", "稻香", ("周杰伦",), "魔杰座", 8),
            Song("32102", "下架了", ("没人",), "无", 8, access="none"),
        ]),
    ]


@dataclass
class World:
    emulator: PlatformEmulator
    netease: Netease
    kuwo: Kuwo
    qq: QQ
    services: LinkServices
    migu: Migu
    kugou: Kugou

    def env(self) -> dict[str, str]:
        return self.emulator.env()

    def reset(self) -> None:
        """Every platform up, links fresh, logs empty (between tests)."""
        self.services.reset()
        self.kuwo.failing_pages.clear()
        self.kuwo.covers.clear()
        self.migu.failing_pages.clear()
        self.migu.redirect_only.clear()
        self.kugou.refused_signatures.clear()
        self.kugou.failing_pages.clear()
        self.kugou.page_cap = 300
        for platform in (self.netease, self.kuwo, self.qq, self.migu, self.kugou):
            platform.trickle_s = 0.0
            platform.answers.clear()
            platform.mode = "up"
            platform.too_many_next, platform.retry_after, platform.api_delay_s = 0, "1", 0.0
            platform.in_flight = platform.max_in_flight = 0
            platform.started.clear()
            cdn = platform.cdn
            cdn.no_length_every, cdn.chunk_delay_s, cdn.lifetime_s = 0, 0.0, 3600.0
            cdn.head_without_length, cdn.expire_next = False, 0
            cdn.doomed.clear()
            cdn.gate.set()
            cdn.downloads.clear()
            cdn.refusals.clear()
        self.emulator.requests.clear()
        self.emulator.refused.clear()

    def stop(self) -> None:
        self.services.release.set()
        self.emulator.stop()


def build_world(folder: Path) -> World:
    netease, kuwo, qq = Netease(netease_playlists()), Kuwo(kuwo_playlists()), QQ(qq_playlists())
    services = LinkServices()
    services.kuwo = kuwo
    migu, kugou = Migu(migu_playlists()), Kugou(kugou_playlists())
    emulator = PlatformEmulator(Path(folder) / "ca", [netease, kuwo, qq, services, migu, kugou]).start()
    return World(emulator, netease, kuwo, qq, services, migu, kugou)
