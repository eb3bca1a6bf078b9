"""Folder locks: one process at a time owns a run folder (or builds a cache entry).

The lock is an advisory ``fcntl.flock`` on a small file *beside* the folder
(``<parent>/.<name>.lock``), so moving the folder aside (a rerun, a damaged checkpoint) keeps
it locked. The kernel drops the lock when its process dies, however it dies (kill -9
included), so a dead owner can never leave a lock that looks alive: the next process simply
takes it over. The file holds the owner's pid and host only to say who holds a live lock; the
owner removes it as it releases the lock (a killed owner leaves it, harmlessly).

A waiting lock (``wait=`` seconds) says once on stderr what it waits for and for how long at
most, polls, and gives up with :class:`RunBusyError` naming the folder and the owner: a
leaderboard write waits up to :data:`LEADERBOARD_WAIT` seconds, a cache entry being built by
another process up to :data:`CACHE_WAIT`; ``$ITR_BENCH_LOCK_TIMEOUT`` (seconds) replaces both.

flock is POSIX (Linux, macOS); on a network file system it is only as good as the server's
lock support.
"""

from __future__ import annotations

import fcntl
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType

from ..errors import ConfigError, RunBusyError

#: Seconds a leaderboard write waits for another writer (writes take well under a second).
LEADERBOARD_WAIT = 300.0
#: Seconds a run waits for another process building the same prepared cache (COCO: about an hour).
CACHE_WAIT = 4 * 3600.0
#: The environment variable that replaces both waits (seconds).
WAIT_ENV = "ITR_BENCH_LOCK_TIMEOUT"
#: Seconds between two tries while waiting.
POLL = 0.2


def lock_path(folder: Path | str) -> Path:
    """The lock file of ``folder``: a hidden sibling, so it survives the folder being moved."""
    folder = Path(folder)
    return folder.with_name(f".{folder.name}.lock")


def _wait_from_env(default: float) -> float:
    """``$ITR_BENCH_LOCK_TIMEOUT`` when set (seconds, positive), else ``default``."""
    given = os.environ.get(WAIT_ENV)
    if not given:
        return default
    try:
        seconds = float(given)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        raise ConfigError(f"${WAIT_ENV}={given!r}: expected a positive number of seconds")
    return seconds


class FolderLock:
    """``with FolderLock(folder):`` owns ``folder`` or raises :class:`RunBusyError` naming the owner.

    ``wait=<seconds>`` waits for the owner that long instead (for short critical sections such as
    building a cache entry or writing a leaderboard), saying so on stderr; see the module.
    """

    def __init__(self, folder: Path | str, *, wait: float = 0.0) -> None:
        self.folder, self.path = Path(folder), lock_path(folder)
        self.wait = _wait_from_env(wait) if wait else 0.0
        self._fd: int | None = None

    def acquire(self) -> FolderLock:
        deadline, told = time.monotonic() + self.wait, False
        while True:
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
                os.close(fd)
                if not self.wait:
                    raise RunBusyError(f"{self.folder}: in use by {owner} (lock {self.path}); left to it") from None
                if time.monotonic() >= deadline:
                    raise RunBusyError(f"{self.folder}: still in use by {owner} after waiting {self.wait:g} s "
                                       f"(lock {self.path}); gave up (${WAIT_ENV} sets the wait)") from None
                if not told:
                    print(f"waiting for {owner} to release {self.folder} (lock {self.path}), "
                          f"at most {self.wait:g} s", file=sys.stderr, flush=True)
                    told = True
                time.sleep(POLL)
                continue
            except BaseException:
                os.close(fd)
                raise
            if self._still_linked(fd):
                break
            os.close(fd)  # its owner removed the file as it released it: lock the new one
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        self._fd = fd
        return self

    def _open(self) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:  # an unwritable store: name the folder the user chose
            raise OSError(exc.errno, exc.strerror, str(self.folder)) from None

    def _still_linked(self, fd: int) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def release(self) -> None:
        """Remove the lock file, then unlock: a waiter that opened it sees it unlinked and retries."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                self.path.unlink(missing_ok=True)
            finally:
                os.close(fd)  # closing drops the flock

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()
