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
from collections.abc import Mapping
from typing import Any

from flask import g

from catalogsync_ops.messages import CODE_PARAMS, render
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
    zh = (g.get("lang") or i18n.current_language()) == "zh"
    keys = row.keys() if hasattr(row, "keys") else ()
    code = row["code"] if "code" in keys else None
    if not code or code in UNTRANSLATED:
        return message
    # In English the template is the code itself; either way, values that are codes read as words.
    template, words = (LOG_ZH.get(code), i18n.CODES_ZH) if zh else (code, i18n.CODES_EN)
    if template is None:
        return message
    try:
        values = json.loads(row["params_json"]) if row["params_json"] else []
        if not isinstance(values, list):
            return message
        values = [words.get(v, v) if isinstance(v, str) else v for v in values]
        return template % tuple(values)
    except (TypeError, ValueError):
        return message  # values that do not fit the template: the English line as written


# Why something was refused (catalogsync_ops/messages.py), in Chinese, by code: the same
# parameters fill the template; parameters that are codes (a state, a subject) become words.
MESSAGES_ZH = {
    "not_found": "{subject} {id} 不存在",
    "cannot_become": "{subject} {id} 的状态为{status}，不能变为{to}（可变为：{allowed}）",
    "changed_meanwhile": "{subject} {id} 在更新时状态已改变；请重试",
    "job_already": "任务 {job_id} 已经是{status}状态",
    "job_nothing_to_pause": "任务 {job_id} 的状态为{status}；没有可暂停的",
    "job_finished_nothing_to_cancel": "任务 {job_id} 的状态为{status}；已经结束，没有可取消的",
    "job_not_paused": "任务 {job_id} 的状态为{status}；只有已暂停的任务可以继续",
    "job_not_queued": "任务 {job_id} 的状态为{status}；只有排队中的任务可以开始",
    "job_priority_moot": "任务 {job_id} 的状态为{status}；优先级已无意义",
    "job_over_enqueue_new": "任务 {job_id} 的状态为{status}；请新建一个任务",
    "job_over_item": "任务 {job_id} 的状态为{status}；要获取条目 {item_id}，请新建一个任务",
    "job_no_failed_items": "任务 {job_id} 没有失败的条目",
    "job_no_failed_items_of_class": "任务 {job_id} 没有错误类别为 {error_class} 的失败条目",
    "job_no_failed_items_from_source": "任务 {job_id} 没有来源为 {source} 的失败条目",
    "job_no_failed_items_of_class_from_source":
        "任务 {job_id} 没有错误类别为 {error_class}、来源为 {source} 的失败条目",
    "job_stages_open": "任务 {job_id} 还有未结束的阶段：{stages}",
    "job_still_running": "任务 {job_id} 还有 {count} 个条目在运行；它们结束后任务才会暂停",
    "job_still_stopping": "任务 {job_id} 还有 {count} 个条目正在停止",
    "job_not_pause_requested": "任务 {job_id} 的状态为{status}；只有已请求暂停的任务才能完成暂停",
    "job_not_cancel_requested": "任务 {job_id} 的状态为{status}；只有已请求取消的任务才能完成取消",
    "item_not_retryable": "条目 {item_id} 的状态为{status}；只有失败、中断或取消的条目可以重试",
    "item_owned_elsewhere": "条目 {item_id} 属于第 {owner} 次尝试，而不是第 {attempt} 次；此工作线程的结果已丢弃",
    "items_owned_elsewhere": "{count} 个条目中有 {lost} 个已不属于其尝试；逐个记录",
    "stage_no_items": "阶段 {stage_id} 的状态为{status}；不能再添加条目",
    "stage_cannot_start": "阶段 {stage_id} 的状态为{status}；只有待开始或已暂停的阶段可以开始",
    "stage_job_cannot_start": "任务 {job_id} 的状态为{status}；其阶段不能开始",
    "stage_unfinished":
        "阶段 {stage_id} 还有 {queued} 个排队、{running} 个运行和 {interrupted} 个中断的条目；还不能结束",
    "runner_already_paused": "运行器已经暂停",
    "runner_not_paused": "运行器没有暂停",
    "config_invalid": "配置文件无效，任何任务都无法开始；请先修正 catalogsync.env",
    "no_env_file": "此运行器没有可写入的配置文件",
    "unknown_source": "未知来源 {source}；已知来源：{known}",
    "no_open_drift": "没有待修复的偏差（校验任务会找出偏差）",
    "drift_songs_gone": "这些偏差对应的歌曲已不在目录中；无法重新获取",
    "no_webhook": "尚未设置通知 Webhook：请先在 catalogsync.env 中设置 NOTIFY_WEBHOOK_URL",
    "invalid_payload": "命令内容无效：{detail}",
    "runner_stopped_applying":
        "运行器在应用此命令时停止了，因此不会再次尝试（可能正是它导致了停止）；如仍需要，请重新发送",
    "apply_failed": "无法应用（{detail}）；没有做任何改动",
    "drift_not_on_disk": "磁盘上没有",
    "drift_size_differs": "记录的大小为 {recorded}，磁盘上为 {found}",
    "drift_content_differs": "内容与记录的 SHA-256 不同",
    "drift_not_in_backup": "{place} 中没有",
    "drift_object_size_differs": "上传时大小为 {uploaded}，清单中为 {listed}",
    "drift_etag_differs": "上传时 ETag 为 {uploaded}，清单中为 {listed}",
    "drift_object_content_differs": "内容与上传时的 SHA-256 不同",
    "drift_orphan": "目录不认识的音频文件",
}
_SUBJECTS_ZH = {"job": "任务", "item": "条目", "command": "命令", "stage": "阶段", "items_of_job": "任务的条目",
                "config_revision": "配置版本"}


def _word_zh(code: Any) -> Any:
    """A code parameter (a state, a subject) as a Chinese word."""
    if not isinstance(code, str):
        return code
    return _SUBJECTS_ZH.get(code) or i18n.CODES_ZH.get(code, code)


def reason_text(command: Mapping[str, Any] | None, language: str | None = None) -> str:
    """Why a command was refused, in the page's language: made from its code and parameters.
    A command refused before codes were kept shows its text as it was written."""
    if not command or not (command.get("reject_code") or command.get("reject_reason")):
        return ""
    code = command.get("reject_code")
    if not code:
        return command.get("reject_reason") or ""
    params = command.get("reject_params")
    if params is None:
        try:
            params = json.loads(command.get("reject_params_json") or "{}")
        except ValueError:
            params = {}
    return coded_text(code, params, language)


def coded_text(code: str, params: dict[str, Any], language: str | None = None) -> str:
    """A coded message (catalogsync_ops/messages.py) in the page's language."""
    if (language or g.get("lang") or i18n.current_language()) != "zh" or code not in MESSAGES_ZH:
        return render(code, params)
    shown = dict(params)
    for key in CODE_PARAMS & shown.keys():
        value = shown[key]
        shown[key] = ("、".join(str(_word_zh(v)) for v in value) or "无（已是最终状态）") \
            if isinstance(value, list) else _word_zh(value)
    try:
        return MESSAGES_ZH[code].format(**shown)
    except (KeyError, IndexError, ValueError):
        return render(code, params)


def drift_detail(row: Mapping[str, Any] | None) -> str:
    """What a verify found about a file or object, in the page's language (from its code; a row
    written before codes were kept shows its text)."""
    if not row:
        return ""
    keys = row.keys() if hasattr(row, "keys") else ()
    code = row["detail_code"] if "detail_code" in keys else None
    if not code:
        return row["detail"] or ""
    try:
        params = json.loads(row["detail_params_json"] or "{}")
    except ValueError:
        params = {}
    return coded_text(code, params)
