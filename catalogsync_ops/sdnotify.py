"""systemd's notify protocol (Type=notify, WatchdogSec=): a datagram to $NOTIFY_SOCKET.

Without systemd (a shell, the Synology task scheduler, tests) NOTIFY_SOCKET is unset and
every call does nothing, but for one thing: "ready" is also said to a file when
CATALOGSYNC_READY_FILE names one (the process's pid, written whole), which is how the Synology
boot-up scripts know that what they started runs, however slow the NAS is to start Python.
"""
from __future__ import annotations

import os
import socket


def notify(state: str) -> bool:
    """Send `state` (e.g. "READY=1", "WATCHDOG=1", "STOPPING=1"); returns whether it was sent."""
    ready_file = os.environ.get("CATALOGSYNC_READY_FILE")
    if ready_file and "READY=1" in state.splitlines():
        _say_ready(ready_file)
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # an abstract socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state.encode("utf-8"))
        return True
    except OSError:
        return False


def watchdog_enabled() -> bool:
    """Whether systemd expects WATCHDOG=1 pings from this process."""
    pid = os.environ.get("WATCHDOG_PID")
    return bool(os.environ.get("WATCHDOG_USEC")) and (not pid or pid == str(os.getpid()))


def _say_ready(path: str) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="ascii") as handle:
            handle.write(f"{os.getpid()}\n")
        os.replace(tmp, path)
    except OSError:
        pass  # the script that waits says it did not hear, and where the log is
