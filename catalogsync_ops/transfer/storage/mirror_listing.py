"""The listing of a mirror folder: every file's key and size, made in a process of its own.

A mirror's listing is a stat per file with a little Python between them: work that holds
Python's lock. In the runner, beside a verify's library parts (stat calls too), two threads would
only take turns with it. So `LocalUploader.listing` runs this file as a script (`python -I -S`,
the standard library only: it starts in a hundredth of a second) and reads its answer, waiting
with the lock let go while the other worker checks the library.

The answer on stdout: `key NUL size NUL` for each file, UTF-8 (a name that is not is kept as
the bytes it was, by surrogate escapes), exit status 0. A folder that cannot be read ends it
with exit status 3 and, in place of the listing, errno `NUL` message `NUL` path. What it lists
is what the in-process walk listed before it: depth first, a linked folder passed by (as
os.walk does), an upload in progress (`.name.part`) left out, a file that went away meanwhile
left out.
"""
from __future__ import annotations

import os
import sys

ERROR_STATUS = 3


def list_mirror(root: str, base: str) -> dict[str, int]:
    """Every file under `base` (inside `root`) by its key (its path below `root`, with '/')."""
    root = os.path.normpath(root)
    cut = len(root) + 1
    base = os.path.normpath(base)
    # Each folder is read through its descriptor, so a file's size is a stat relative to it
    # (fstatat), not of its whole path again; keys by string slicing (os.path.relpath costs ten
    # times the stat). The names first, then a stat each (os.stat with dir_fd, not DirEntry.stat()).
    listed: dict[str, int] = {}
    folders = [(base, base[cut:].replace(os.sep, "/") + "/" if len(base) > len(root) else "")]
    stat = os.stat
    while folders:
        folder, prefix = folders.pop()
        try:
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        except (FileNotFoundError, NotADirectoryError):
            continue
        try:
            names = []
            with os.scandir(fd) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir():
                            if not entry.is_symlink():  # a linked folder is passed by, as os.walk does
                                folders.append((folder + os.sep + entry.name, prefix + entry.name + "/"))
                            continue
                    except FileNotFoundError:
                        continue
                    names.append(entry.name)
            for name in names:
                if name[0] == "." and name.endswith(".part"):
                    continue  # an upload in progress, not an object yet
                try:
                    listed[prefix + name] = stat(name, dir_fd=fd).st_size
                except FileNotFoundError:
                    continue
        finally:
            os.close(fd)
    return listed


def parse(out: bytes) -> dict[str, int]:
    """The listing from what the script wrote (exit status 0)."""
    fields = out.decode("utf-8", "surrogateescape").split("\0")[:-1]
    return dict(zip(fields[::2], map(int, fields[1::2]), strict=True))


def error_of(out: bytes) -> OSError:
    """The error the walk met, from what the script wrote (exit status ERROR_STATUS)."""
    errno, message, path = out.decode("utf-8", "surrogateescape").split("\0")
    return OSError(int(errno), message, path)


def main(argv: list[str]) -> int:
    root, base = argv
    out = sys.stdout.buffer
    try:
        listed = list_mirror(root, base)
    except OSError as exc:
        out.write(f"{exc.errno or 0}\0{exc.strerror or exc}\0{exc.filename or ''}".encode("utf-8", "surrogateescape"))
        return ERROR_STATUS
    out.write("".join(f"{key}\0{size}\0" for key, size in listed.items()).encode("utf-8", "surrogateescape"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
