"""The console's words live in gettext catalogues, one file per language: every message the code,
the templates and the specs can show is translated in each, none is left over, placeholders
match; plural forms follow each language; zh-TW is made from the simplified catalogue."""
from __future__ import annotations

import ast
from pathlib import Path

from catalogsync_ops.catalogue import languages
from webui.catalogue_tool import LEVELS, _read, extract, problems, traditional

ROOT = Path(__file__).resolve().parent.parent


def test_every_message_is_translated_in_every_language_and_none_is_left_over():
    template = extract()
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in template if m.id}
    # What the extraction must find: templates, code, specs (settings, commands, refusals, codes,
    # log lines of the runner).
    for expected in ("Dashboard", "Send a test notification", "Job {job_id} queued", "completed with errors",
                     "Job %s: stage %s started with %d new items", "%(n)s failed song.",
                     "Folder the downloaded, tagged songs are written to.", "the runner is already paused",
                     "half-open"):
        assert any(expected in i for i in ids), expected
    assert problems(template) == []
    assert set(languages()) >= {"en", "zh-Hans", "zh-Hant-TW"}


def test_the_runners_log_calls_pass_a_template_and_values():
    """Only a constant template can be translated: a log call that builds its text is a defect."""
    for folder in ("runnerd", "catalogsync_ops"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in LEVELS
                        and isinstance(node.func.value, ast.Name) and node.func.value.id in ("log", "logger")):
                    assert isinstance(node.args[0], ast.Constant), (
                        f"{path.name}:{node.lineno}: log with a template and values, not a built string")


def test_counts_take_each_languages_plural_forms():
    from webui.format import relative

    english, simplified = languages()["en"], languages()["zh-Hans"]
    one = english.ngettext("%(n)s failed song.", "%(n)s failed songs.", 1) % {"n": 1}
    two = english.ngettext("%(n)s failed song.", "%(n)s failed songs.", 2) % {"n": 2}
    assert (one, two) == ("1 failed song.", "2 failed songs.")
    assert simplified.ngettext("%(n)s failed song.", "%(n)s failed songs.", 2) % {"n": 2} == "2 首歌曲失败。"
    assert [relative(s, "en") for s in (86400, 3 * 86400, -3 * 86400, 120)] == [
        "1 day ago", "3 days ago", "in 3 days", "2 min ago"]
    assert [relative(s, "zh-Hans") for s in (3 * 86400, -120, 2)] == ["3 天前", "2 分钟后", "刚刚"]


def test_the_traditional_catalogue_is_the_one_made_from_the_simplified(tmp_path):
    """zh-TW is not translated by hand: `python -m webui.catalogue_tool traditional` makes it from
    zh-Hans (OpenCC, Taiwan's words). The file in the tree is what that command makes now."""
    made = _read(traditional(out=tmp_path / "messages.po"))
    kept = _read(ROOT / "catalogsync_ops" / "translations" / "zh_Hant_TW" / "LC_MESSAGES" / "messages.po")
    assert {m.id: m.string for m in made if m.id} == {m.id: m.string for m in kept if m.id}
    assert kept["Playlists"].string == "歌單" and kept["Pause the runner"].string == "暫停執行器"
    assert kept["Job %s: %s"].string == "任務 %s：%s"  # placeholders pass as they are


def test_a_browser_in_taiwan_reads_traditional_characters_and_the_switch_names_every_language(client):
    html = client.get("/", headers={"Accept-Language": "zh-TW,zh;q=0.8"}).get_data(as_text=True)
    assert 'lang="zh-Hant-TW"' in html and ">概覽</a>" in html and ">執行器</h2>" in html
    for name in ("English", "中文 (简体)"):
        assert name in html
    html = client.get("/", headers={"Accept-Language": "zh-HK"}).get_data(as_text=True)
    assert 'lang="zh-Hant-TW"' in html  # Hong Kong writes traditional characters too
    html = client.get("/", headers={"Accept-Language": "zh-SG"}).get_data(as_text=True)
    assert 'lang="zh-Hans"' in html and ">概览</a>" in html
    client.get("/lang/zh-Hant-TW?back=/")
    html = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert ">概覽</a>" in html and "中文 (繁體, 台灣)" not in html.split('<span class="lang">')[1].split("</span>")[0]
