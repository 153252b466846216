"""The console speaks English and Simplified Chinese: one catalogue, chosen by the browser's
language or the switch in the header (a cookie)."""
from __future__ import annotations

from flask import Blueprint, g, redirect, request

from catalogsync_ops.engine.command_specs import SPECS
from webui.context import safe_target

bp = Blueprint("i18n", __name__)

LANGUAGES = {"en": "English", "zh": "简体中文"}

# English text -> Simplified Chinese. Every string a page shows through _() must be here.
ZH = {
    "Dashboard": "概览", "Jobs": "任务", "Playlists": "歌单", "Songs & workers": "歌曲与工作线程", "Logs": "日志",
    "Config": "配置", "Sign out": "退出", "Sign in": "登录", "User name": "用户名", "Password": "密码",
    "Runner": "运行器", "Active job": "当前任务", "Queue": "队列", "Recent failures": "最近的失败",
    "Nothing is running.": "没有正在运行的任务。", "Empty.": "空。", "None.": "无。",
    "Sources": "来源", "State": "状态", "Calls in 24 h": "24 小时调用", "Failed": "失败", "Last error": "最近错误",
    "up": "正常", "down until": "暂停至", "probing": "试探中", "Try it now": "立即重试",
    "No source has been called yet.": "还没有调用过任何来源。", "Unresolved": "未解析",
    "Entries that are not in the library": "未能加入音乐库的条目",
    "Playlists read in part": "只读到一部分的歌单",
    "The last read of these playlists could not be proven whole (a page that failed, fewer songs listed than the "
    "platform says it holds). Their songs were added; none was removed or moved. The next sync reads them again.":
        "这些歌单上次读取无法证明是完整的（有一页失败，或列出的歌曲少于平台声明的数量）。读到的歌曲已加入，没有删除或移动任何歌曲。下次同步会重新读取。",
    "Not read": "未读到",
    "Source %(s)s does not fit the installed musicdl; its songs wait. Reinstall the musicdl extra, then restart "
    "runnerd:":
        "来源 %(s)s 与已安装的 musicdl 不兼容；它的歌曲在等待。请重新安装 musicdl 扩展，然后重启 runnerd：",
    "link from %(service)s": "链接来自 %(service)s",
    "partial": "不完整",
    "partial: %(n)s not read": "不完整：%(n)s 首未读到",
    "Entries a platform listed but could not resolve stay in your playlist: a listing that missed them never removes "
    "songs. Lines of a playlist file that are not songs (a cover image, a broken line) are skipped. Both are read "
    "again at the next sync.":
        "平台列出但无法解析的条目仍保留在歌单中：缺少它们的列表不会删除任何歌曲。歌单文件中不是歌曲的行（封面图片、损坏的行）会被跳过。下次同步时都会重新读取。",
    "Entry": "条目", "Why": "原因", "Seen": "发现于",
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
    "Library disk": "音乐库磁盘", "free of": "可用，共",
    "Attempt %(n)s: what each source offered": "第 %(n)s 次尝试：各来源提供的候选", "No result.": "没有结果。",
    "Degraded since": "降级运行，自", "Stage": "阶段", "this job has no stage %(stage)r": "此任务没有阶段 %(stage)r", "In the library": "已入库", "Worker": "工作线程", "%(n)s items": "%(n)s 个条目", "Needs attention": "需要处理",
    "is paused after the runner stopped (recovery).": "在运行器停止后被暂停（恢复）。", "is paused by you.": "已被你暂停。",
    "%(n)s failed songs.": "%(n)s 首歌曲失败。", "Line": "行",
    "The env file on disk is invalid; the runner keeps the last valid config.": "磁盘上的配置文件无效；运行器继续使用上一个有效配置。",
    "Fix it on the config page": "到配置页修正", "Source %(s)s is down; its songs wait. It is tried again": "来源 %(s)s 暂停中，其歌曲等待中。再次尝试：",
    "The library disk has %(n)s MiB free (below %(t)s MiB).": "音乐库磁盘剩余 %(n)s MiB（低于 %(t)s MiB）。", "May": "权限", "read: status, lists, metrics": "read：状态、列表、指标",
    "control: also pause, resume, retry, enqueue": "control：另可暂停、继续、重试、加入队列",
    "admin: also change the config": "admin：另可修改配置", "Choose what the token may do.": "请选择令牌的权限。",
    "Candidate": "候选", "Album": "专辑", "Length": "时长", "Score": "得分", "refused": "已拒绝", "picked": "已选用",
}
ZH.update({
    "DEBUG": "调试", "INFO": "信息", "WARNING": "警告", "ERROR": "错误", "CRITICAL": "严重", "item": "条目",
    "All log lines of this job": "此任务的全部日志", "Library": "音乐库", "Not counted yet: the runner counts after "
                                                               "each job.": "尚未统计：运行器在每个任务结束后统计。",
    "On the platform": "在平台上查看", "Missing songs": "缺少的歌曲", "attempts": "尝试记录",
    "%(n)s more songs are not shown; the missing list has every song not in the library.": "还有 %(n)s 首歌曲未显示；缺失列表包含所有未入库的歌曲。",
    "No songs yet: the next sync reads this playlist.": "还没有歌曲：下次同步会读取此歌单。",
    "%(have)s of %(want)s songs in the library": "%(want)s 首歌曲中已入库 %(have)s 首", "backed up": "已备份",
    "not yet tried": "尚未尝试", "unresolved": "未解析", "Backed up": "已备份", "Not yet tried": "尚未尝试",
    "playlist %(id)s does not exist": "歌单 %(id)s 不存在", "The last 24 hours": "最近 24 小时", "Songs downloaded": "已下载歌曲", "uploaded": "已上传",
    "playlists synced": "已同步歌单", "Failed attempts": "失败尝试", "peak": "峰值", "now": "现在",
    "Nothing in the last 24 hours.": "最近 24 小时没有活动。", "failed attempts per hour": "次失败/小时", "items/min": "个/分钟",
    "Items finished per minute, by stage": "每分钟完成的条目（按阶段）", "MB/s moved, by stage": "传输速度 MB/s（按阶段）",
    "Failed attempts, by error class": "失败的尝试（按错误类别）",
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
    "cross-site request refused (Sec-Fetch-Site: %(site)s)": "已拒绝跨站请求（Sec-Fetch-Site: %(site)s）",
    "missing or wrong CSRF token: reload the page and try again": "CSRF 令牌缺失或错误：请刷新页面后重试",
    "job %(id)s does not exist": "任务 %(id)s 不存在", "unknown item status %(status)r": "未知的条目状态 %(status)r",
    "item %(id)s does not exist": "条目 %(id)s 不存在", "unknown command %(kind)r": "未知的命令 %(kind)r",
    "command %(id)s does not exist": "命令 %(id)s 不存在",
    "this console was started without an env file (--env-file)": "此控制台启动时未指定配置文件（--env-file）",
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


def template_words() -> dict:
    """`_` for one page's templates: the page's catalogue looked up once, not at every word
    (a job page says a few hundred)."""
    catalog = CATALOG[g.get("lang") or current_language()]
    return {"_": lambda text: catalog.get(text, text)}


@bp.before_app_request
def choose_language() -> None:
    g.lang = current_language()


@bp.route("/lang/<code>")
def switch(code: str):
    """The language switch: remembered for a year in a cookie."""
    response = redirect(safe_target(request.args.get("back"), "/"))
    if code in LANGUAGES:
        response.set_cookie("lang", code, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    return response


# Settings help and group names in Chinese, keyed like the schema (catalogsync_ops/config/settings.py);
# English comes from the schema itself. A test checks every setting has its line here.
ZH_SETTING_HELP = {
    "DB_PATH": "runnerd 与网页控制台共用的 SQLite 数据库；必须放在本地磁盘上。",
    "LIBRARY_DIR": "下载并写好标签的歌曲存放的文件夹。",
    "INPUT_DIR": "歌单池文件夹：每个 *.txt 文件每行一个歌单网址。",
    "LOG_DIR": "日志文件 runnerd.log 和 catalogsync-web.log 所在的文件夹（每 10 MB 轮换，保留 5 "
               "个），与标准错误输出和系统日志同时写入。",
    "PLAYLIST_EXPORT": "每个任务结束后，把每个歌单写成 M3U8 文件（UTF-8，路径相对于文件，按歌单顺序），供 "
                       "Navidrome、Jellyfin、Plex 或任何播放器使用；内容有变化时才写入。",
    "PLAYLIST_EXPORT_DIR": "这些 M3U8 文件所在的文件夹；留空则为 LIBRARY_DIR 中名为 Playlists "
                           "的文件夹，扫描音乐库的音乐服务器会在那里找到它们。",
    "DOWNLOAD_SOURCES": "下载歌曲时按顺序尝试的来源，用逗号分隔。",
    "DOWNLOAD_LAYOUT": "歌曲在 LIBRARY_DIR "
                       "中的路径模板；可用字段：{artist}、{album}、{title}、{ext}、{track}、{platform}、{playlist}、{song_id}。",
    "DEMO_BASE_URL": "演示平台（runnerd demo-server）的地址，供 demo 和 demo2 来源使用。",
    "MIN_FREE_DISK_MB": "音乐库磁盘剩余空间低于此值（MiB）时，下载以 disk_full 失败而不写入。",
    "PLATFORM_REQUESTS_PER_SECOND": "每秒向每个真实平台（qq、netease、kuwo "
                                    "等）的接口发出的请求数，带随机抖动：礼貌访问，避免 NAS 被封。",
    "PLATFORM_MAX_CONCURRENT_REQUESTS": "所有工作线程合计，同时向一个平台接口发出的请求数上限。",
    "SOURCE_HOST_PROCESSES": "运行 musicdl 平台客户端的进程数（源主机），每个约 90 "
                             "MB：多几个可以让多个下载同时查找链接，适合有空闲核心和内存的 NAS。",
    "PLATFORM_LINK_SERVICES": "从哪里获取歌曲链接：official（只用平台自己的接口）、official_first（平台给不出链接时才用第三方解析服务）或 musicdl（musicdl 的顺序：先第三方服务，常有无损）。第三方服务会收到被查询的每首歌的 id。",
    "SOURCE_BREAKER_FAILURES": "某个来源连续这么多次调用失败（无法连接、无响应、5xx、429）后暂停使用一段冷却时间；只有它能提供的歌曲会等待。",
    "SOURCE_BREAKER_COOLDOWN_SECONDS": "来源熔断后的第一次冷却时间；每次试探失败后加倍，最长一小时。",
    "HTTP_TIMEOUT_SECONDS": "来源或下载无响应超过这么多秒，本次尝试以 timeout 失败。",
    "OBJECT_BACKEND_NAME": "上传目标：s3（兼容 S3 的存储）、local（镜像文件夹）或 none（不上传）。",
    "MIRROR_DIR": "OBJECT_BACKEND_NAME=local 时的镜像文件夹（另一个存储卷或挂载的共享）。",
    "OBJECT_BUCKET": "OBJECT_BACKEND_NAME=s3 时的存储桶名称。",
    "OBJECT_ENDPOINT": "S3 端点网址（MinIO、Synology C2、R2 等）；留空表示 AWS。",
    "OBJECT_REGION": "S3 区域名称。",
    "OBJECT_ACCESS_KEY_ID": "S3 访问密钥 ID。",
    "OBJECT_SECRET_ACCESS_KEY": "S3 私有访问密钥（界面中隐藏显示）。",
    "OBJECT_PREFIX": "存储桶或镜像中的键前缀，例如 music/。",
    "OBJECT_CHECKSUM_MODE": "S3 请求校验和：when_required 适合大多数兼容 S3 的服务器；AWS 用 when_supported。",
    "COLLECT_WORKERS": "收集阶段的工作线程数。",
    "SYNC_WORKERS": "同步阶段的工作线程数。",
    "DOWNLOAD_WORKERS": "下载阶段的工作线程数。",
    "UPLOAD_WORKERS": "上传阶段的工作线程数。",
    "VERIFY_WORKERS": "校验任务的工作线程数（每个线程检查资料库的一部分；深度校验要读取每个文件，线程多于磁盘数并无益处）。",
    "MAX_ATTEMPTS": "每个条目标记为失败前的尝试次数（之后仍可手动重试）。",
    "RETRY_BACKOFF_SECONDS": "第一次自动重试前的等待时间；每次加倍，并带随机抖动。",
    "RETRY_BACKOFF_MAX_SECONDS": "两次自动重试之间的最长等待时间。",
    "AUTO_RESUME_AFTER_RECOVERY": "崩溃或断电后，立即继续被中断的任务，而不是让它们保持暂停。",
    "SHUTDOWN_GRACE_SECONDS": "收到 SIGTERM 后，进行中的条目可在这么多秒内完成，之后被中断。",
    "LOG_RETENTION_DAYS": "早于这么多天的日志行会被删除。",
    "LOG_RETENTION_ROWS": "最多保留这么多行日志。",
    "WEB_HOST": "网页控制台监听的地址；0.0.0.0 可从局域网访问（始终需要登录）。",
    "WEB_PORT": "网页控制台的端口。",
    "WEB_COOKIE_SECURE": "登录 Cookie 只通过 HTTPS 发送：经 HTTPS 反向代理访问控制台时设为 true（之后通过 http:// "
                         "将无法登录）。",
    "NOTIFY_WEBHOOK_URL": "通知的 Webhook（留空则不通知）。配合 NOTIFY_FORMAT：JSON 端点、ntfy 主题网址、Bark "
                          "网址、https://api.telegram.org/bot<token>/sendMessage 或 Server酱 https://sctapi.ftqq.com/<key>.send。",
    "NOTIFY_FORMAT": "Webhook 收到的格式：json（通用）、ntfy、bark、telegram 或 serverchan。",
    "NOTIFY_TELEGRAM_CHAT_ID": "Telegram 机器人发送消息的聊天 ID（NOTIFY_FORMAT=telegram 时）。",
    "NOTIFY_EVENTS": "要发送的事件，用逗号分隔：job_finished、job_failed、runner_recovered、disk_low、source_down、source_recovered。",
    "NOTIFY_DISK_FREE_MB": "音乐库磁盘剩余空间低于此值（MiB）时发送 disk_low。",
    "NOTIFY_RETRY_SECONDS": "投递失败后重试前的等待时间；每次加倍，最长一小时，共 8 次。",
}
ZH.update({"paths": "路径", "download": "下载", "upload": "上传", "workers": "工作线程", "retries": "重试",
           "runner": "运行器", "web": "网页", "notify": "通知"})


def setting_help(setting) -> str:
    """A setting's help text in the page's language."""
    if current_language() == "zh":
        return ZH_SETTING_HELP.get(setting.key, setting.help)
    return setting.help


# The codes the runner writes (statuses, job and stage types, outcomes, worker states, event
# kinds, revision sources, error classes): pages show them through _(), so they read in the
# reader's language; in English, as words (CODES_EN below).
CODES_ZH = {
    "queued": "排队中", "running": "运行中", "pause_requested": "正在暂停", "paused": "已暂停",
    "cancel_requested": "正在取消", "completed": "已完成", "completed_with_errors": "已完成（有错误）", "failed": "失败",
    "canceled": "已取消", "pending": "等待中", "skipped": "已跳过", "succeeded": "成功", "interrupted": "已中断",
    "starting": "启动中", "idle": "空闲", "busy": "忙碌", "stopping": "停止中", "stopped": "已停止", "dead": "已退出",
    "applied": "已执行", "rejected": "已拒绝", "gone": "已消失", "invalid": "无效",
    "full_pipeline": "完整流程", "collect": "收集", "sync": "同步", "download": "下载", "upload": "上传",
    "verify": "校验", "repair": "修复",
    "cli": "命令行", "ui": "网页", "web": "网页", "api": "API", "external": "外部编辑", "rollback": "回滚",
    "startup": "启动时", "init": "初始化",
    "job_created": "任务已创建", "job_started": "任务开始", "job_finished": "任务结束", "job_paused": "任务已暂停",
    "job_resumed": "任务已继续", "job_canceled": "任务已取消", "job_reprioritized": "优先级已调整", "recovery": "恢复",
    "stage_started": "阶段开始", "stage_finished": "阶段结束", "stage_skipped": "阶段已跳过", "item_succeeded": "条目成功", "item_failed": "条目失败",
    "item_retried": "条目重试", "item_interrupted": "条目中断", "item_canceled": "条目取消", "item_skipped": "条目跳过",
    "item_deferred": "条目等待", "item_retry_scheduled": "条目将重试", "items_added": "已加入条目", "item_claimed": "条目已领取", "item_released": "条目已退回",
    "runner_resumed": "运行器已恢复", "runner_paused": "运行器已暂停", "item_retry_requested": "条目已请求重试",
    "items_retry_requested": "已请求重试多个条目", "backed_up": "已备份", "in_library": "已入库", "untried": "尚未尝试",
    "closed": "正常", "open": "暂停中", "half_open": "试探中", "incompatible": "不兼容",
    "connection": "连接失败", "timeout": "超时", "http_4xx": "HTTP 4xx", "http_5xx": "HTTP 5xx", "not_found": "未找到",
    "no_match": "无匹配", "checksum_mismatch": "校验不符", "disk_full": "磁盘已满", "auth": "鉴权失败",
    "rate_limited": "被限流", "unsupported": "不支持", "config": "配置错误", "internal": "内部错误", "parse": "解析失败",
    "encrypted": "加密格式", "preview": "试听片段", "invalid_audio": "音频无效",
}
ZH.update({k: v for k, v in CODES_ZH.items() if k not in ZH or k in ("download", "upload")})
# In English a code reads as its words ("completed_with_errors": "completed with errors"), a few
# as people write them.
CODES_EN = {code: code.replace("_", " ") for code in CODES_ZH} | {
    "http_4xx": "HTTP 4xx", "http_5xx": "HTTP 5xx", "cli": "command line", "api": "API", "ui": "web",
    "half_open": "half-open"}
CATALOG["en"].update(CODES_EN)


def code_words() -> dict[str, str]:
    """Every runner-written code in the page's language, for the script that updates pages live."""
    return {code: gettext(code) for code in CODES_ZH}


# Events whose English message only repeats what the kind and the new status say: pages leave
# the message out (in every language: it names the status by its id).
SELF_DESCRIBING = frozenset({"job_created", "job_started", "job_finished", "stage_started", "stage_finished",
                             "items_added", "item_claimed", "item_succeeded", "item_released", "job_paused",
                             "job_resumed", "pause_requested", "cancel_requested", "job_canceled", "job_reprioritized"})


# What an applied command did, in words (the banner after a form): {names} come from its result.
COMMAND_PHRASES = {kind.value: spec.phrase for kind, spec in SPECS.items()}
ZH.update({
    "Job {job_id} queued": "任务 {job_id} 已加入队列", "Job {job_id}: {status}": "任务 {job_id}：{status}",
    "Job {job_id} resumed": "任务 {job_id} 已继续", "Item {item_id} queued again": "条目 {item_id} 已重新排队",
    "Job {job_id}: {requeued} failed items queued again": "任务 {job_id}：{requeued} 个失败条目已重新排队",
    "Job {job_id}: priority {priority}": "任务 {job_id}：优先级 {priority}", "Runner paused": "运行器已暂停",
    "Runner resumed": "运行器已恢复", "Config applied (revision {revision_id})": "配置已应用（版本 {revision_id}）",
    "Config rolled back (revision {revision_id})": "配置已回滚（版本 {revision_id}）",
    "Source {source}: tried again now": "来源 {source}：已立即重试",
    "Repair job {job_id} queued for {drifts} drifted files": "修复任务 {job_id} 已加入队列，处理 {drifts} 个偏差文件",
    "Test notification queued for {target}": "测试通知已排队，将发送到 {target}",
    "Send a test notification": "发送测试通知",
    "Queue a job": "新建任务", "Pause a job": "暂停任务", "Resume a job": "继续任务", "Cancel a job": "取消任务",
    "Retry an item": "重试条目", "Retry failed items": "重试失败的条目", "Change a job's priority": "调整任务优先级",
    "Pause the runner": "暂停运行器", "Resume the runner": "恢复运行器", "Apply the config": "应用配置",
    "Roll the config back": "回滚配置", "Try a source again now": "立即重试来源", "Repair drift": "修复偏差",
    "It goes through the webhook in force: apply a change first.": "通过当前生效的 Webhook 发送：修改请先应用。",
})


def command_title(kind: str) -> str:
    """What a command asks for, in the page's language (its kind as written when unknown)."""
    spec = SPECS.get(kind)
    return gettext(spec.title) if spec is not None else kind


def command_phrases() -> dict[str, str]:
    return {kind: gettext(phrase) for kind, phrase in COMMAND_PHRASES.items()}

# The verify job and its drift page.
ZH.update({
    "A repair downloads a missing or changed file again (a changed file is kept in .catalogsync/kept, never "
    "overwritten) and uploads a missing object again. An orphan is only reported: it is yours to move or delete.":
        "修复会重新下载缺失或被改动的文件（被改动的文件保存在 .catalogsync/kept "
        "中，绝不覆盖），并重新上传缺失的备份对象。孤立文件只作报告：移动或删除由你决定。",
    "A verify compares every library file with what was recorded when it was put in place (its size and time, or with "
    "a deep verify its whole content), the backup's listing with the recorded uploads, and looks for audio files the "
    "catalog does not know. It changes nothing.":
        "校验会将资料库中的每个文件与入库时的记录比对（大小和修改时间；深度校验则比对全部内容），将备份的清单与上传记录比对，并查找目录不认识的音频文件。校验不会改动任何东西。",
    "A verify found files that changed or went missing:": "校验发现有文件被改动或缺失：",
    "All kinds": "全部类型", "Check the library": "检查资料库", "Deep verify (reads every file)": "深度校验（读取每个文件）",
    "Drift": "偏差", "Hide resolved": "隐藏已解决", "Kind": "类型", "Last repair": "上次修复", "Last verify": "上次校验",
    "No drift: the library and its backup are as recorded.": "没有偏差：资料库及其备份与记录一致。",
    "No verify has run yet.": "尚未运行过校验。", "Nothing is known yet: start a verify.": "尚无结果：请开始一次校验。",
    "Path": "路径", "Repair": "修复", "Repair all %(n)s": "全部修复（%(n)s）", "See and repair": "查看并修复",
    "Show resolved": "显示已解决", "Verify and drift": "校验与偏差", "Verify now": "立即校验", "What differs": "差异",
    "being repaired": "修复中", "deep": "深度", "not resolved": "未解决", "resolved": "已解决",
    "missing from the library": "资料库中缺失", "changed in the library": "资料库中被改动",
    "missing from the backup": "备份中缺失", "changed in the backup": "备份中被改动",
    "not in the catalog (orphan)": "目录中没有（孤立文件）",
})

# A drift kind in words (the code itself is a word only in the CLI and the API).
DRIFT_WORDS = {"file_missing": "missing from the library", "file_changed": "changed in the library",
               "object_missing": "missing from the backup", "object_changed": "changed in the backup",
               "orphan": "not in the catalog (orphan)"}


def drift_word(kind: str) -> str:
    return gettext(DRIFT_WORDS.get(kind, kind))
