"""The runner's log lines in the reader's language.

The runner keeps each of its own lines' template (`job_logs.code`) and values
(`job_logs.params_json`) beside the English text. A page in Chinese renders the template's
translation with the values; values that are codes (statuses, stages, error classes) are
translated too. Lines from other libraries, or a template without a translation, show the
English text as written. `tests/test_logtext.py` fails when a log call in the runner's code
has no translation here.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from flask import g

from webui import i18n

# Lines that are values only (the config dump at start, a problem's own text): shown as written.
UNTRANSLATED = frozenset({"  %-28s %s", "%s"})

LOG_ZH = {
    "%s: attempt %s failed [%s]: %s": "%s：第 %s 次尝试失败 [%s]：%s",
    "%s stopped on an error": "%s 因错误停止",
    "%s: could not record its last results": "%s：无法记录最后的结果",
    "Result discarded: %s": "结果已丢弃：%s",
    "Item %s (%s): unexpected error": "条目 %s（%s）：意外错误",
    "runnerd %s starting (pid %d on %s), database %s": "runnerd %s 正在启动（进程 %d，主机 %s），数据库 %s",
    "catalogsync.env changed outside runnerd: revision %s recorded and in force":
        "catalogsync.env 在 runnerd 之外被修改：已记录为版本 %s 并生效",
    "Command %s was being applied when the last runner stopped: rejected, so it cannot stop this one too "
    "(send it again if it is still wanted)":
        "上一个运行器停止时命令 %s 正在执行：已拒绝，以免它也让本运行器停下（如仍需要请重新发送）",
    "Source %s: the probe the last runner made was lost; the next call probes again":
        "来源 %s：上一个运行器的试探调用已丢失；下一次调用会重新试探",
    "Recovery: %d items interrupted, %d failed after their last attempt; jobs paused %s, resumed %s, canceled %s":
        "恢复：%d 个条目被中断，%d 个在最后一次尝试后失败；暂停的任务 %s，继续的任务 %s，取消的任务 %s",
    "Command %s %s: %s": "命令 %s %s：%s",
    "Cancel: stopping %d transfers at their next chunk": "取消：%d 个传输将在下一个数据块处停止",
    "catalogsync.env was edited and is now invalid (revision %s); keeping the last valid config. Problems: %s":
        "catalogsync.env 被修改后无效（版本 %s）；继续使用上一个有效配置。问题：%s",
    "Job %s (%s): started": "任务 %s（%s）：已开始",
    "Job %s: %s": "任务 %s：%s",
    "Job %s: stage %s started with %d new items": "任务 %s：阶段 %s 开始，新增 %d 个条目",
    "Job %s: stage %s %s": "任务 %s：阶段 %s %s",
    "Stopping: interrupting %d items (they resume on the next start)": "正在停止：中断 %d 个条目（下次启动时继续）",
    "Stopping: could not %s: the database disk is full (the next start recovers)":
        "正在停止：无法%s：数据库磁盘已满（下次启动时恢复）",
    "Stage %s: %d workers (was %d)": "阶段 %s：%d 个工作线程（原为 %d）",
    "Worker %s died while running item %s; starting a new one": "工作线程 %s 在处理条目 %s 时退出；正在启动新的线程",
    "Worker %s died; starting a new one": "工作线程 %s 已退出；正在启动新的线程",
    "Stopping: %d items in flight get up to %.0fs to finish": "正在停止：%d 个进行中的条目最多还有 %.0f 秒完成",
    "Job %s: left as it is at shutdown: %s": "任务 %s：停止时保持原状：%s",
    "Degraded: %s": "降级运行：%s",
    "The database disk has space again: claiming work again": "数据库磁盘已有空间：重新领取工作",
    "The library disk has %d MiB free (below NOTIFY_DISK_FREE_MB=%d)": "音乐库磁盘剩余 %d MiB（低于 "
                                                                       "NOTIFY_DISK_FREE_MB=%d）",
    "OpenCC is not installed: traditional characters are folded with a small built-in table only (pip install opencc)":
        "未安装 OpenCC：繁体字只用一个小的内置对照表转换（pip install opencc）",
    "Command %s (%s) failed while being applied": "命令 %s（%s）执行时出错",
    "Notification %s (%s) given up after %d tries: %s": "通知 %s（%s）在 %d 次尝试后放弃：%s",
    "Notification %s (%s): %s; retrying at %s": "通知 %s（%s）：%s；将于 %s 重试",
    "%d log lines were dropped because the log queue was full": "日志队列已满，丢弃了 %d 行日志",
    "Coverage could not be counted": "无法统计覆盖情况",
    "Playlists could not be written to %s: %s": "无法把歌单写入 %s：%s",
    "Playlists could not be written to %s": "无法把歌单写入 %s",
    "Playlists in %s: %d written, %d unchanged, %d removed": "%s 中的歌单：写入 %d 个，未变 %d 个，删除 %d 个",
    "Notifier: unexpected error; trying again shortly": "通知程序：意外错误；稍后重试",
    "source host %d stopped: %s": "源主机进程 %d 已停止：%s",
    "source host %d retired after %d calls at %.0f MB": "源主机进程 %d 在 %d 次调用后（%.0f MB）退役",
    "source host: %s of %s failed": "源主机：%s（%s）失败",
    "fake_useragent's layout changed: each musicdl client parses its browser list again":
        "fake_useragent 的结构变了：每个 musicdl 客户端都会重新解析浏览器列表",
    "musicdl: %s is not writable (HOME=%s); its log folder goes to %s instead. Give the runnerd user a writable "
    "HOME (systemd: Environment=HOME=/var/lib/catalogsync) to keep it there.":
        "musicdl：%s 不可写（HOME=%s）；其日志目录改为 %s。请给 runnerd 用户一个可写的 HOME"
        "（systemd：Environment=HOME=/var/lib/catalogsync）以保留原位置。",
}


def log_text(row: Mapping[str, Any]) -> str:
    """One log row's message in the page's language."""
    message = row["message"]
    if (g.get("lang") or i18n.current_language()) != "zh":
        return message
    keys = row.keys() if hasattr(row, "keys") else ()
    code = row["code"] if "code" in keys else None
    template = LOG_ZH.get(code) if code else None
    if template is None:
        return message
    try:
        values = json.loads(row["params_json"]) if row["params_json"] else []
        if not isinstance(values, list):
            return message
        values = [i18n.CODES_ZH.get(v, v) if isinstance(v, str) else v for v in values]
        return template % tuple(values)
    except (TypeError, ValueError):
        return message  # values that do not fit the template: the English line as written


# Why the runner rejected a command, as it words it (engine/jobs.py, items.py, states.py,
# payloads.py): the reasons a person meets from the console's buttons, in Chinese. The test
# makes the runner reject real commands, so a reworded reason that no longer matches fails it.
REASONS_ZH = [
    (re.compile(r"^(job|item) (\d+) is (\w+); it cannot become (\w+) \(from \w+ it can become: (.*)\)$"),
     "{0} {1} 的状态为{2}，不能变为{3}"),
    (re.compile(r"^job (\d+) is (\w+); only a paused job can be resumed$"),
     "任务 {0} 的状态为{1}；只有已暂停的任务可以继续"),
    (re.compile(r"^job (\d+) is (\w+); only a queued job can start$"),
     "任务 {0} 的状态为{1}；只有排队中的任务可以开始"),
    (re.compile(r"^job (\d+) is (\w+); its priority no longer matters$"), "任务 {0} 的状态为{1}；优先级已无意义"),
    (re.compile(r"^job (\d+) is (\w+); enqueue a new job to fetch item (\d+)$"),
     "任务 {0} 的状态为{1}；要获取条目 {2}，请新建一个任务"),
    (re.compile(r"^item (\d+) is (\w+); only failed, interrupted or canceled items can be retried$"),
     "条目 {0} 的状态为{1}；只有失败、中断或取消的条目可以重试"),
    (re.compile(r"^job (\d+) changed state while being updated; try again$"), "任务 {0} 在更新时状态已改变；请重试"),
    (re.compile(r"^job (\d+) is already ([\w ]+)$"), "任务 {0} 已经是{1}状态"),
    (re.compile(r"^job (\d+) is (\w+); nothing to pause$"), "任务 {0} 的状态为{1}；没有可暂停的"),
    (re.compile(r"^job (\d+) is (\w+); it has finished, nothing to cancel$"),
     "任务 {0} 的状态为{1}；已经结束，没有可取消的"),
    (re.compile(r"^job (\d+) is (\w+); enqueue a new job instead$"), "任务 {0} 的状态为{1}；请新建一个任务"),
    (re.compile(r"^the runner is already paused$"), "运行器已经暂停"),
    (re.compile(r"^the config file is invalid, so no job can start; fix catalogsync.env first$"),
     "配置文件无效，任何任务都无法开始；请先修正 catalogsync.env"),
    (re.compile(r"^(job|item|command) (\d+) does not exist$"), "{0} {1} 不存在"),
    (re.compile(r"^unknown source '([^']*)'; known sources: (.*)$"), "未知来源 {0}；已知来源：{1}"),
    (re.compile(r"^there is no open drift to repair \(a verify job finds it\)$"),
     "没有待修复的偏差（校验任务会找出偏差）"),
    (re.compile(r"^the songs of this drift are no longer in the catalog; nothing can be fetched again$"),
     "这些偏差对应的歌曲已不在目录中；无法重新获取"),
]
_SUBJECTS_ZH = {"job": "任务", "item": "条目", "command": "命令"}


# What a verify wrote about a drift (catalogsync_ops/verify.py), in Chinese.
DRIFT_DETAILS_ZH = [
    (re.compile(r"^not on disk$"), "磁盘上没有"),
    (re.compile(r"^an audio file the catalog does not know$"), "目录不认识的音频文件"),
    (re.compile(r"^size (\d+) recorded, (\d+) on disk$"), "记录的大小为 {0}，磁盘上为 {1}"),
    (re.compile(r"^content differs from the recorded SHA-256$"), "内容与记录的 SHA-256 不同"),
    (re.compile(r"^not in (.+)$"), "{0} 中没有"),
    (re.compile(r"^size (\d+) uploaded, (\d+) listed$"), "上传时大小为 {0}，清单中为 {1}"),
    (re.compile(r"^ETag (.+) uploaded, (.+) listed$"), "上传时 ETag 为 {0}，清单中为 {1}"),
    (re.compile(r"^content differs from the uploaded SHA-256$"), "内容与上传时的 SHA-256 不同"),
]


def drift_detail(text: str | None) -> str:
    """What a verify wrote about a drift, in the page's language."""
    if not text or (g.get("lang") or i18n.current_language()) != "zh":
        return text or ""
    return _by_pattern(text, DRIFT_DETAILS_ZH)


def _by_pattern(text: str, table) -> str:
    """The first matching pattern's template, with its values (codes among them translated)."""
    for pattern, template in table:
        found = pattern.match(text)
        if found:
            # "pause requested" as the English reason words it is the code pause_requested.
            values = [_SUBJECTS_ZH.get(v) or i18n.CODES_ZH.get(v.replace(" ", "_"), v) for v in found.groups()]
            return template.format(*values)
    return text


def reason_text(reason: str | None, language: str | None = None) -> str:
    """A command's reject reason in the page's language (as written when there is no translation)."""
    if not reason:
        return ""
    if (language or g.get("lang") or i18n.current_language()) != "zh":
        return reason
    return _by_pattern(reason, REASONS_ZH)
