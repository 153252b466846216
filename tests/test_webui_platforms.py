"""What the console shows of the real platforms: sources that are down, and playlist entries a
platform could not resolve."""
from __future__ import annotations

import re


def test_the_dashboard_shows_a_source_that_is_down_and_its_button_closes_the_breaker(client, web, home):
    from catalogsync_ops.engine import breakers
    from catalogsync_ops.engine.commands import CommandContext, apply_pending_commands

    _, conn = web
    for _ in range(3):
        breakers.record(conn, "netease", error_class="connection", error="cannot reach music.163.com", threshold=3)
    breakers.record(conn, "kuwo")
    html = client.get("/").get_data(as_text=True)
    sources = html[html.index('id="sources"'):]
    assert "netease" in sources and "down until" in sources and "cannot reach music.163.com" in sources
    assert 'data-action="reset_source"' in sources and sources.count('data-action="reset_source"') == 1  # kuwo is up
    form = re.search(r'<form[^>]*>(?:(?!</form>).)*value="reset_source"(?:(?!</form>).)*</form>', sources,
                     re.S).group(0)
    data = dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', form))
    assert client.post("/commands", data=data).status_code == 302
    [(_, status, result)] = apply_pending_commands(conn, CommandContext(env_path=home / "catalogsync.env"))
    assert status == "applied" and result["was_open"] is True
    assert 'data-action="reset_source"' not in client.get("/").get_data(as_text=True)


def test_the_playlists_page_lists_what_the_platform_could_not_resolve(client, web):
    from catalogsync_ops.library import catalog
    from catalogsync_ops.sources.base import Unresolved

    _, conn = web
    pid = catalog.upsert_playlist(conn, "netease", "https://music.163.com/#/playlist?id=7001")
    catalog.set_playlist_songs(conn, pid, [], title="会员歌单",
                               unresolved=[Unresolved("7103", "没人 - 下架了", "no playable link")])
    html = client.get("/playlists").get_data(as_text=True)
    assert f'href="#unresolved-{pid}"' in html
    section = html[html.index('id="unresolved"'):]
    assert "没人 - 下架了" in section and "7103" in section and "no playable link" in section


def test_a_source_whose_musicdl_does_not_fit_says_how_to_fix_it_and_offers_no_retry(client, web):
    from catalogsync_ops.engine import breakers

    _, conn = web
    breakers.mark_incompatible(conn, "kuwo", "kuwo: the installed musicdl does not fit this release (missing or "
                                             "changed: KuwoMusicClient._parsewithofficialapiv1)")
    html = client.get("/").get_data(as_text=True)
    attention = html[html.index('id="attention"'):html.index("</section>", html.index('id="attention"'))]
    assert "does not fit the installed musicdl" in attention and "pip install" in attention
    sources = html[html.index('id="sources"'):]
    assert "incompatible" in sources and "_parsewithofficialapiv1" in sources
    assert 'data-action="reset_source"' not in html  # closing its breaker would not help
    zh = client.get("/", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "与已安装的 musicdl 不兼容" in zh and "不兼容" in zh[zh.index('id="sources"'):]
