"""The console speaks English and Simplified Chinese: one catalogue, chosen by the browser's
language or the switch in the header (a cookie)."""
from __future__ import annotations

from flask import Blueprint, g, redirect, request

bp = Blueprint("i18n", __name__)

LANGUAGES = {"en": "English", "zh": "简体中文"}

# English text -> Simplified Chinese. Every string a page shows through _() must be here.
ZH = {
    "Dashboard": "概览", "Jobs": "任务", "Playlists": "歌单", "Songs & workers": "歌曲与工作线程", "Logs": "日志",
    "Config": "配置", "Sign out": "退出", "Sign in": "登录", "User name": "用户名", "Password": "密码",
    "Runner": "运行器", "Active job": "当前任务", "Queue": "队列", "Recent failures": "最近的失败",
    "Nothing is running.": "没有正在运行的任务。", "Empty.": "空。", "None.": "无。",
    "Pause everything": "全部暂停", "Resume runner": "恢复运行器", "Pause": "暂停", "Resume": "继续",
    "Cancel": "取消", "Retry": "重试", "Retry all failed": "重试所有失败项", "New job": "新建任务",
    "Type": "类型", "Priority": "优先级", "Queue it": "加入队列", "Set priority": "设置优先级",
    "Items": "条目", "Events": "事件", "Status": "状态", "Error": "错误", "Source": "来源", "Songs": "歌曲",
    "Command": "命令", "pending": "等待中", "applied": "已执行", "rejected": "已拒绝",
    "Settings": "设置", "As text": "文本", "Revisions": "历史版本", "Check changes": "检查更改",
    "Check text": "检查文本", "Apply": "应用", "Note": "备注", "Changes": "更改", "No changes.": "没有更改。",
    "Roll back to this": "回滚到此版本", "Workers": "工作线程", "Find a song": "查找歌曲", "Search": "搜索",
    "Pools": "歌单池", "Older jobs": "更早的任务", "Next page": "下一页", "Up": "运行中",
    "Not running: no runner has started on this database yet. Start it with": "未运行：此数据库上还没有启动过运行器。启动命令：",
    "Down since": "已停止，自", "Start it with": "启动命令：", "command(s) waiting for the runner.": "条命令等待运行器处理。",
    "Runner-wide pause since": "运行器整体暂停，自", "Sources (comma-separated, empty = all)": "来源（逗号分隔，留空为全部）",
    "Pools (comma-separated, empty = all)": "歌单池（逗号分隔，留空为全部）", "Language": "语言",
    "Playlists (ids or URLs, comma-separated, empty = all)": "歌单（编号或网址，逗号分隔，留空为全部）",
    "Library disk": "音乐库磁盘", "free of": "可用，共", "Finished in the last 6 hours": "最近 6 小时完成",
}
CATALOG = {"en": {}, "zh": ZH}


def current_language() -> str:
    chosen = request.cookies.get("lang")
    if chosen in LANGUAGES:
        return chosen
    best = request.accept_languages.best_match(["en", "zh", "zh-CN", "zh-Hans"], default="en")
    return "zh" if best.startswith("zh") else "en"


def gettext(text: str) -> str:
    """The text in the current language (English when no translation exists)."""
    language = g.get("lang") or current_language()
    return CATALOG[language].get(text, text)


@bp.before_app_request
def choose_language() -> None:
    g.lang = current_language()


@bp.route("/lang/<code>")
def switch(code: str):
    """The language switch: remembered for a year in a cookie."""
    back = request.args.get("back") or "/"
    if not back.startswith("/") or back.startswith("//"):
        back = "/"
    response = redirect(back)
    if code in LANGUAGES:
        response.set_cookie("lang", code, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    return response
