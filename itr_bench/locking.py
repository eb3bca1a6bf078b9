"""Folder locks: one process at a time owns a run folder (or builds a cache entry).

The lock is an advisory ``fcntl.flock`` on a small file *beside* the folder
(``<parent>/.<name>.lock``), so moving the folder aside (a rerun, a damaged checkpoint) keeps
it locked. The kernel drops the lock when its process dies, however it dies (kill -9
included), so a dead owner can never leave a lock that looks alive: the next process simply
takes it over. The file holds the owner's pid and host only to say who holds a live lock.

flock is POSIX (Linux, macOS); on a network file system it is only as good as the server's
lock support.
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path
from types import TracebackType

from .errors import RunBusyError


def lock_path(folder: Path | str) -> Path:
    """The lock file of ``folder``: a hidden sibling, so it survives the folder being moved."""
    folder = Path(folder)
    return folder.with_name(f".{folder.name}.lock")


class FolderLock:
    """``with FolderLock(folder):`` owns ``folder`` or raises :class:`RunBusyError` naming the owner.

    ``wait=True`` blocks until the owner is done instead (for short critical sections such as
    building a cache entry or writing a leaderboard).
    """

    def __init__(self, folder: Path | str, *, wait: bool = False) -> None:
        self.folder, self.path, self.wait = Path(folder), lock_path(folder), wait
        self._fd: int | None = None

    def acquire(self) -> FolderLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if self.wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RunBusyError(f"{self.folder}: in use by {owner} (its lock: {self.path}); skipped") from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.ftruncate(fd, 0)  # no owner named once released
            finally:
                os.close(fd)  # closing drops the flock

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()
