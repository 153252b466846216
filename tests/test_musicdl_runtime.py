"""musicdl as a guest in the runner's process: only the platforms in use are imported, and a
client costs little memory once the first is made. Each case runs in a fresh interpreter, since
what is imported is the point."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("musicdl", reason="the musicdl extra is a test dependency")

ROOT = Path(__file__).resolve().parent.parent


def run_python(code: str, tmp_path: Path) -> dict:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_only_the_platforms_in_use_are_imported(tmp_path):
    seen = run_python("""
        import json, sys
        from catalogsync_ops.sources.musicdl_source import can_parse_playlists
        from catalogsync_ops.sources.musicdl_runtime import client_class
        kuwo = client_class("kuwo")
        after_kuwo = sorted(m for m in sys.modules if m.startswith("musicdl.modules.sources."))
        parse = {name: can_parse_playlists(name) for name in ("netease", "qq", "kugou", "migu")}
        print(json.dumps({"kuwo": kuwo.__name__, "after_kuwo": after_kuwo, "parse": parse,
                          "youtube": "musicdl.modules.sources.youtube" in sys.modules,
                          "tidal": any(m.startswith("musicdl.modules.sources.tidal") for m in sys.modules),
                          "third_party_sites": "musicdl.modules.thirdpartysites" in sys.modules}))
    """, tmp_path)
    assert seen["kuwo"] == "KuwoMusicClient"
    assert seen["after_kuwo"] == ["musicdl.modules.sources.base", "musicdl.modules.sources.kuwo"]
    assert seen["parse"] == {"netease": True, "qq": True, "kugou": True, "migu": True}
    assert not seen["youtube"] and not seen["tidal"] and not seen["third_party_sites"]


def test_musicdl_imported_whole_beforehand_is_used_as_it_is(tmp_path):
    seen = run_python("""
        import json
        import musicdl.modules
        from catalogsync_ops.sources.musicdl_runtime import client_class
        from catalogsync_ops.sources.musicdl_source import can_parse_playlists
        registered = musicdl.modules.MusicClientBuilder.REGISTERED_MODULES["QQMusicClient"]
        print(json.dumps({"same": client_class("qq") is registered,
                          "kuwo": can_parse_playlists("kuwo")}))
    """, tmp_path)
    assert seen == {"same": True, "kuwo": True}


def test_another_client_costs_no_browser_list_parse(tmp_path):
    """musicdl calls fake_useragent's `UserAgent()` three times per client; each parsed the whole
    browser list (a 13 MB peak). With the list shared, a second client peaks far lower, and
    `UserAgent()` still picks among the library's real browsers. The second platform's module is
    imported before the count starts: what is measured is the client, not a first import (which
    compiles the module when its cached bytecode is stale, megabytes on its own)."""
    seen = run_python("""
        import json, tracemalloc
        from catalogsync_ops.sources.musicdl_runtime import client_class
        from catalogsync_ops.sources.musicdl_source import MusicdlSource
        first = MusicdlSource("kuwo")
        client_class("netease")
        tracemalloc.start()
        second = MusicdlSource("netease")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        from fake_useragent import UserAgent
        agents = [UserAgent().random for _ in range(20)]
        first.close(); second.close()
        print(json.dumps({"peak": peak, "agents": agents}))
    """, tmp_path)
    assert seen["peak"] < 4 * 2**20, f"making a client peaked at {seen['peak'] / 2**20:.1f} MB"
    assert all(agent.startswith("Mozilla/5.0") for agent in seen["agents"]), seen["agents"]
    assert len(set(seen["agents"])) > 1, "a random pick, not one fixed string"


def test_remembered_cipher_blocks_and_names_answer_as_musicdl_does(tmp_path):
    """Kuwo's query cipher and musicdl's name cleaning are remembered for speed: the answers must
    be musicdl's own, for queries and names never seen before and for ones seen again."""
    seen = run_python("""
        import json, random
        from catalogsync_ops.sources.musicdl_runtime import client_class
        client_class("kuwo")
        from musicdl.modules.utils.kuwoutils import KuwoMusicClientUtils as utils
        import musicdl.modules.sources.kuwo as kuwo
        remembered_des, remembered_names = utils.des64, kuwo.legalizestring
        rng = random.Random(7)
        queries = [f"user=0&corp=kuwo&p2p=1&type=convert_url2&sig=0&format={f}&rid={rng.randrange(10**9)}"
                   for f in ("flac", "mp3") for _ in range(40)] + ["", "x", "12345678", "\\u00e9t\\u00e9 ★ 周杰伦"]
        names = ["Love &amp; Hate", "<b>Bold</b> title", "周杰伦&amp;费玉清", "", None, "a" * 300, "Ünïcödé\\u00e9"]
        fast = [utils.encryptquery(q) for q in queries + queries]
        fast_names = [kuwo.legalizestring(n) for n in names + names]
        utils.des64 = staticmethod(remembered_des.plain)
        kuwo.legalizestring = remembered_names.plain
        plain = [utils.encryptquery(q) for q in queries + queries]
        plain_names = [kuwo.legalizestring(n) for n in names + names]
        print(json.dumps({"remembered": [getattr(remembered_des, "remembered", False),
                                         getattr(remembered_names, "remembered", False)],
                          "same": fast == plain, "same_names": fast_names == plain_names, "n": len(set(fast))}))
    """, tmp_path)
    assert seen["remembered"] == [True, True]
    assert seen["same"] and seen["same_names"]
    assert seen["n"] == 84  # distinct queries give distinct ciphertexts
