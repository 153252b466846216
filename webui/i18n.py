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
ZH.update({
    'Attempts': '尝试记录',
    'Back to the dashboard': '返回概览',
    'Bytes': '字节',
    'Compared with the current file': '与当前文件比较',
    'Content': '内容',
    'Create and sign in': '创建并登录',
    "Create the console's user": '创建控制台用户',
    'Created': '创建时间',
    'Downloaded': '已下载',
    'Duration': '耗时',
    'File': '文件',
    'Filter': '筛选',
    'Identical.': '相同。',
    'Item': '条目',
    'Job': '任务',
    'Last collected': '最近收集',
    'Last error': '最近错误',
    'Last sync': '最近同步',
    'Level': '级别',
    'Match': '匹配',
    'Message': '消息',
    'More': '更多',
    'No runner has started workers yet.': '还没有运行器启动工作线程。',
    'Nothing found.': '没有找到。',
    'Older': '更早',
    'Outcome': '结果',
    'Password again': '再次输入密码',
    'Platform': '平台',
    'Playlist': '歌单',
    'Pool': '歌单池',
    'Problems': '问题',
    'Queue (runs top first)': '队列（从上到下执行）',
    'Set up': '设置',
    'Song': '歌曲',
    'Started': '开始时间',
    'Tries': '尝试次数',
    'Uploaded': '已上传',
    'Uploads': '上传',
    'What': '内容',
    'When': '时间',
    'Where': '位置',
    'Password (8 characters or more)': '密码（至少 8 个字符）',
    'No user exists yet. Open the one-time setup link that': '还没有用户。请打开',
    'printed when it started, or set a password on the NAS:': '启动时打印的一次性设置链接，或在 NAS 上设置密码：',
    'Wrong user name or password.': '用户名或密码错误。',
    'Too many failed sign-ins; wait 15 minutes.': '登录失败次数过多，请等待 15 分钟。',
    'title, artist or album': '标题、歌手或专辑',
    'any level': '任意级别',
    'job': '任务',
    'text': '文本',
    'why': '原因',
    'why (kept with the revision)': '原因（随版本保存）',
    'Items of this page': '本页条目',
})
CATALOG = {"en": {}, "zh": ZH}


ZH.update({
    "running": "运行中", "failed": "失败", "queued": "排队中", "priority": "优先级", "job": "任务",
    "config revision": "配置版本", "all": "全部", "traceback": "调用栈", "Revision": "版本", "since": "开始于",
    "heartbeat": "心跳", "%(n)s s ago": "%(n)s 秒前",
    "Songs and workers": "歌曲与工作线程", "Set up": "初始设置",
    "This setup link is not valid (used, expired or mistyped).": "此设置链接无效（已使用、已过期或输入有误）。",
    "Choose a user name.": "请填写用户名。", "The two passwords differ.": "两次输入的密码不一致。",
    "Account": "账户", "API tokens": "API 令牌", "For scripts and home automation: send": "供脚本和家庭自动化使用：发送",
    "to /api/.": "到 /api/。", "New token for": "新令牌：", "copy it now; it is not shown again:": "请立即复制，之后不再显示：",
    "Name": "名称", "e.g. home-assistant": "例如 home-assistant", "Create token": "创建令牌", "Last used": "最近使用",
    "never": "从未", "revoked": "已撤销", "active": "有效", "Revoke": "撤销", "Change password": "修改密码",
    "Current password": "当前密码", "The current password is wrong.": "当前密码不正确。",
    "The password needs at least 8 characters.": "密码至少需要 8 个字符。", "Password changed.": "密码已修改。",
    "Give the token a name (what will use it).": "请为令牌命名（谁会使用它）。",
    "This form was already sent; the token was shown then.": "此表单已提交过；令牌当时已显示。",
    "printed when it started, or set a password on the NAS:": "启动时打印的一次性设置链接，或在 NAS 上设置密码：",
})

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
