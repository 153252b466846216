"""A file system that forgets what was not synced, as a disk does at a power cut.

`forgetfs` is a FUSE passthrough to a folder (the backing folder) that keeps, beside it, what
a disk would still hold after a power cut: a file's data as of its last fsync (or fdatasync),
and a folder's entries as of its last fsync. Everything the processes on the mount see is the
live folder; a *cut* freezes the durable picture (every later operation hangs, as on a machine
whose power went), and `restore` rewrites the backing folder to that picture. The model is
POSIX's, without the mercy of a real journal: a write never fsynced is gone, a new name whose
folder was never fsynced is gone, a file renamed into place whose folder was not synced is back
under its old name. One mercy is kept: a rename between two folders is atomic (ext4 and Btrfs
journal it in one transaction), so syncing either folder makes both ends of it durable.

    python tools/forgetfs.py BACKING MOUNTPOINT STATE   # mounts until unmounted
    creating MOUNTPOINT/.forgetfs-cut                   # the cut: freeze, write STATE/ledger.json

The mount's type is `fuse.forgetfs`; the runner accepts its database there only with
CATALOGSYNC_ALLOW_FUSEBLK=1, like a local disk reached through FUSE. Used by tools/power_cut.py.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import sys
import threading
from pathlib import Path

import mfusepy

CUT_NAME = ".forgetfs-cut"  # creating this file at the mount's root is the power cut
CUT_ERRNO = errno.ECONNABORTED  # what that create answers once the picture is frozen
BLOCK = 64 * 1024  # writes are remembered by block; a sync copies the blocks written since the last
LEDGER = "ledger.json"


class ForgetFS(mfusepy.Operations):
    use_ns = True

    def __init__(self, backing: Path, state: Path) -> None:
        self.backing = str(backing)
        self.state = Path(state)
        self.blobs = self.state / "blobs"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.mutex = threading.Lock()
        self.frozen = threading.Event()
        self.next_id = 0
        self.ids: dict[int, int] = {}  # backing inode → our id (a new id once an inode is gone)
        self.fh_ids: dict[int, int] = {}
        self.dirty: dict[int, set[int]] = {}  # id → blocks written since its last sync
        self.floor: dict[int, int] = {}  # id → smallest size truncated to since its last sync
        self.durable: dict[int, dict[str, list]] = {}  # folder id → {name: entry} as of its last sync
        self.moves: list[tuple[int, str, int, str, list]] = []  # renames between folders, not yet synced
        self.renamed: set[int] = set()  # folders with a rename in them since their last sync
        self.counts = {"syncs": 0, "dir_syncs": 0, "renames": 0}
        self.root_id = self._snapshot(self.backing)

    # -- the durable picture -------------------------------------------------------------------------

    def _id(self, ino: int) -> int:
        if ino not in self.ids:
            self.next_id += 1
            self.ids[ino] = self.next_id
        return self.ids[ino]

    def _forget_if_last(self, real: str) -> None:
        """Before `real` is unlinked or replaced: its inode, when this is its last name, may be
        reused by the backing file system for a new file, which must get a new id."""
        try:
            st = os.lstat(real)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode) or st.st_nlink <= 1:
            self.ids.pop(st.st_ino, None)

    def _entry(self, real: str) -> list | None:
        st = os.lstat(real)
        if stat.S_ISDIR(st.st_mode):
            return ["d", self._id(st.st_ino), stat.S_IMODE(st.st_mode)]
        if stat.S_ISLNK(st.st_mode):
            return ["l", os.readlink(real)]
        if stat.S_ISREG(st.st_mode):
            return ["f", self._id(st.st_ino), stat.S_IMODE(st.st_mode)]
        return None  # sockets and pipes hold no data: a reboot has none

    def _listing(self, real: str) -> dict[str, list]:
        listing = {}
        for name in os.listdir(real):
            entry = self._entry(os.path.join(real, name))
            if entry is not None:
                listing[name] = entry
        return listing

    def _snapshot(self, real: str) -> int:
        """At mount, everything already there is durable."""
        folder_id = self._id(os.lstat(real).st_ino)
        listing = self._listing(real)
        self.durable[folder_id] = listing
        for name, entry in listing.items():
            path = os.path.join(real, name)
            if entry[0] == "d":
                self._snapshot(path)
            elif entry[0] == "f":
                shutil.copyfile(path, self.blobs / str(entry[1]))
        return folder_id

    def _sync_data(self, fh: int) -> None:
        file_id = self.fh_ids.get(fh)
        if file_id is None:
            file_id = self._id(os.fstat(fh).st_ino)
        blocks = self.dirty.pop(file_id, set())
        floor = self.floor.pop(file_id, None)
        source = os.open(f"/proc/self/fd/{fh}", os.O_RDONLY)
        blob = os.open(self.blobs / str(file_id), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if floor is not None:
                os.ftruncate(blob, min(floor, os.fstat(blob).st_size))
            for block in sorted(blocks):
                data = os.pread(source, BLOCK, block * BLOCK)
                os.pwrite(blob, data, block * BLOCK)
            os.ftruncate(blob, os.fstat(source).st_size)
        finally:
            os.close(source)
            os.close(blob)
        self.counts["syncs"] += 1

    def _sync_dir(self, real: str) -> None:
        folder_id = self._id(os.lstat(real).st_ino)
        self.durable[folder_id] = self._listing(real)
        kept = []
        for move in self.moves:
            src_id, src_name, dst_id, dst_name, entry = move
            if folder_id not in (src_id, dst_id):
                kept.append(move)
                continue
            if src_id != folder_id:  # the other end of an atomic rename becomes durable with it
                self.durable.get(src_id, {}).pop(src_name, None)
            if dst_id != folder_id:
                self.durable.setdefault(dst_id, {})[dst_name] = entry
        self.moves = kept
        self.renamed.discard(folder_id)
        self.counts["dir_syncs"] += 1

    def _in_flight(self) -> dict[str, int]:
        """What the cut interrupted: unsynced data of downloads (`.part`), of the database (its
        -wal, -journal or the file itself), of other files, and renames not yet made durable."""
        names = {}
        for fh, file_id in self.fh_ids.items():
            try:
                names[file_id] = os.readlink(f"/proc/self/fd/{fh}")
            except OSError:
                pass
        moment = {"transfer": 0, "commit": 0, "rename": len(self.renamed), "other": 0}
        for file_id, blocks in self.dirty.items():
            if not blocks and file_id not in self.floor:
                continue
            name = names.get(file_id, "")
            if name.endswith((".log", "-shm")):
                continue  # log lines are written unsynced by design; SQLite never syncs its shared memory
            kind = ("transfer" if ".part" in name else
                    "commit" if name.endswith((".db", "-wal", "-journal")) else "other")
            moment[kind] += 1
            if kind == "other":
                moment.setdefault("other_names", []).append(name or f"id {file_id}")
        return moment

    def cut(self) -> None:
        """Freeze the durable picture and write it down; every later operation hangs."""
        self.frozen.set()
        ledger = {"root": self.root_id, "durable": {str(k): v for k, v in self.durable.items()},
                  "counts": self.counts, "at_cut": self._in_flight()}
        tmp = self.state / (LEDGER + ".tmp")
        tmp.write_text(json.dumps(ledger), encoding="utf-8")
        os.replace(tmp, self.state / LEDGER)

    # -- passthrough ---------------------------------------------------------------------------------

    def _real(self, path: str) -> str:
        if self.frozen.is_set():
            threading.Event().wait()  # the power is off: nothing answers again
        return self.backing + path

    def getattr(self, path, fh=None):
        st = os.fstat(fh) if fh is not None else os.lstat(self._real(path))
        attrs = {key: getattr(st, key) for key in ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size",
                                                     "st_ino", "st_blocks")}
        attrs.update(st_atime=st.st_atime_ns, st_mtime=st.st_mtime_ns, st_ctime=st.st_ctime_ns)
        return attrs

    def access(self, path, amode):
        if not os.access(self._real(path), amode):
            raise mfusepy.FuseOSError(errno.EACCES)
        return 0

    def readdir(self, path, fh):
        return [".", "..", *os.listdir(self._real(path))]

    def readlink(self, path):
        return os.readlink(self._real(path))

    def statfs(self, path):
        sv = os.statvfs(self._real(path))
        return {key: getattr(sv, key) for key in ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail",
                                                   "f_ffree", "f_files", "f_flag", "f_frsize", "f_namemax")}

    def chmod(self, path, mode):
        os.chmod(self._real(path), mode)
        return 0

    def chown(self, path, uid, gid):
        os.lchown(self._real(path), uid, gid)
        return 0

    def utimens(self, path, times=None):
        os.utime(self._real(path), ns=times, follow_symlinks=False)
        return 0

    def mkdir(self, path, mode):
        os.mkdir(self._real(path), mode)
        return 0

    def rmdir(self, path):
        real = self._real(path)
        with self.mutex:
            self._forget_if_last(real)
            os.rmdir(real)
        return 0

    def unlink(self, path):
        real = self._real(path)
        with self.mutex:
            self._forget_if_last(real)
            os.unlink(real)
        return 0

    def symlink(self, target, source):
        os.symlink(source, self._real(target))
        return 0

    def link(self, target, source):
        os.link(self._real(source), self._real(target))
        return 0

    def rename(self, old, new):
        real_old, real_new = self._real(old), self._real(new)
        with self.mutex:
            src_dir, dst_dir = os.path.dirname(real_old), os.path.dirname(real_new)
            if os.path.lexists(real_new):
                self._forget_if_last(real_new)
            os.rename(real_old, real_new)
            self.counts["renames"] += 1
            self.renamed.update(self._id(os.lstat(d).st_ino) for d in {src_dir, dst_dir})
            if src_dir != dst_dir:
                entry = self._entry(real_new)
                self.moves.append((self._id(os.lstat(src_dir).st_ino), os.path.basename(real_old),
                                   self._id(os.lstat(dst_dir).st_ino), os.path.basename(real_new), entry))
        return 0

    def open(self, path, flags):
        fh = os.open(self._real(path), flags)
        with self.mutex:
            self.fh_ids[fh] = self._id(os.fstat(fh).st_ino)
        return fh

    def create(self, path, mode, fi=None):
        if path == "/" + CUT_NAME:
            with self.mutex:
                self.cut()
            raise mfusepy.FuseOSError(CUT_ERRNO)
        flags = fi if isinstance(fi, int) else os.O_RDWR
        fh = os.open(self._real(path), flags | os.O_CREAT, mode)
        with self.mutex:
            file_id = self._id(os.fstat(fh).st_ino)
            self.fh_ids[fh] = file_id
            self.floor[file_id] = 0
        return fh

    def read(self, path, size, offset, fh):
        self._real(path or "")
        return os.pread(fh, size, offset)

    def write(self, path, data, offset, fh):
        self._real(path or "")
        written = os.pwrite(fh, data, offset)
        with self.mutex:
            file_id = self.fh_ids.get(fh) or self._id(os.fstat(fh).st_ino)
            self.dirty.setdefault(file_id, set()).update(range(offset // BLOCK, (offset + written - 1) // BLOCK + 1))
        return written

    def truncate(self, path, length, fh=None):
        if fh is None:
            real = self._real(path)
            with self.mutex:
                file_id = self._id(os.lstat(real).st_ino)
                os.truncate(real, length)
        else:
            self._real(path or "")
            with self.mutex:
                file_id = self.fh_ids.get(fh) or self._id(os.fstat(fh).st_ino)
                os.ftruncate(fh, length)
        with self.mutex:
            self.floor[file_id] = min(self.floor.get(file_id, length), length)
        return 0

    def flush(self, path, fh):
        return 0

    def release(self, path, fh):
        with self.mutex:
            self.fh_ids.pop(fh, None)
        os.close(fh)
        return 0

    def fsync(self, path, datasync, fh):
        self._real(path or "")
        with self.mutex:
            if self.frozen.is_set():
                threading.Event().wait()
            self._sync_data(fh)
        return 0

    def fsyncdir(self, path, datasync, fh):
        real = self._real(path)
        with self.mutex:
            if self.frozen.is_set():
                threading.Event().wait()
            self._sync_dir(real)
        return 0


def restore(backing: Path, state: Path) -> dict:
    """Rewrite `backing` to the durable picture in STATE/ledger.json (as a reboot finds the disk)."""
    ledger = json.loads((Path(state) / LEDGER).read_text(encoding="utf-8"))
    blobs = Path(state) / "blobs"
    for child in Path(backing).iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    made: dict[int, Path] = {}
    seen: set[int] = set()

    def build(folder_id: int, real: Path) -> None:
        seen.add(folder_id)
        for name, entry in ledger["durable"].get(str(folder_id), {}).items():
            path = real / name
            if entry[0] == "l":
                os.symlink(entry[1], path)
            elif entry[0] == "d":
                if entry[1] in seen:
                    continue  # a folder durably in two places: it is where it was built first
                path.mkdir(mode=entry[2])
                build(entry[1], path)
            elif entry[1] in made:
                os.link(made[entry[1]], path)
            else:
                blob = blobs / str(entry[1])
                if blob.exists():
                    shutil.copyfile(blob, path)
                else:
                    path.touch()  # the name was synced, never its data
                os.chmod(path, entry[2])
                made[entry[1]] = path

    build(ledger["root"], Path(backing))
    return {"counts": ledger["counts"], "at_cut": ledger["at_cut"]}


def main(argv: list[str]) -> int:
    backing, mountpoint, state = (Path(a) for a in argv[1:4])
    fs = ForgetFS(backing, state)
    mfusepy.FUSE(fs, str(mountpoint), foreground=True, nothreads=False, fsname="forgetfs", subtype="forgetfs",
                 errors="surrogateescape")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
