"""An inter-process lock on a file, with a timeout, for Linux, macOS and Windows.

``<path>.lock`` is opened (created if needed, never deleted) and locked with ``fcntl.flock`` on POSIX
or ``msvcrt.locking`` on Windows; both locks belong to the open file, so they also exclude other
threads of the same process, and the operating system drops them when a process dies. Where neither
module exists, the lock is the exclusive creation (``O_EXCL``) of ``<path>.lock.owner``, removed on
release and considered stale after ``STALE_SECONDS``.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from types import TracebackType

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]
try:
    import msvcrt
except ImportError:  # POSIX
    msvcrt = None  # type: ignore[assignment]

POLL_SECONDS = 0.02
STALE_SECONDS = 120.0


class LockTimeout(TimeoutError):
    """Another process held the lock for longer than the timeout."""


class FileLock:
    """``with FileLock(path, timeout=10): ...`` holds ``<path>.lock`` exclusively."""

    def __init__(self, path: str | os.PathLike[str], timeout: float = 10.0, mechanism: str | None = None):
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.timeout = timeout
        self.mechanism = mechanism or ("fcntl" if fcntl else "msvcrt" if msvcrt else "exclusive-file")
        if self.mechanism not in ("fcntl", "msvcrt", "exclusive-file"):
            raise ValueError(
                f"unknown lock mechanism {mechanism!r}; expected fcntl, msvcrt or exclusive-file"
            )
        self._fd: int | None = None

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.release()

    def acquire(self) -> None:
        """Wait up to ``timeout`` seconds for the lock; LockTimeout names the file if it stays taken."""
        if self._fd is not None:
            raise RuntimeError(f"{self.lock_path} is already held by this FileLock")
        deadline = time.monotonic() + self.timeout
        if self.mechanism == "exclusive-file":
            self._acquire_exclusive_file(deadline)
            return
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            while not self._try_lock(fd):
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"could not lock {self.path} within {self.timeout:g} s: another process "
                        f"(a WebUI or a scan) is writing it; try again"
                    )
                time.sleep(POLL_SECONDS)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        """Release the lock (a no-op if it is not held)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if self.mechanism == "exclusive-file":
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._owner_path)
            return
        try:
            if self.mechanism == "fcntl":
                fcntl.flock(fd, fcntl.LOCK_UN)
            else:
                os.lseek(fd, 0, os.SEEK_SET)
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        finally:
            os.close(fd)

    def _try_lock(self, fd: int) -> bool:
        try:
            if self.mechanism == "fcntl":
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            else:
                os.lseek(fd, 0, os.SEEK_SET)
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:  # BlockingIOError (POSIX) or PermissionError / EDEADLOCK (Windows)
            return False
        return True

    @property
    def _owner_path(self) -> Path:
        return self.lock_path.with_name(self.lock_path.name + ".owner")

    def _acquire_exclusive_file(self, deadline: float) -> None:
        owner = self._owner_path
        while True:
            try:
                fd = os.open(owner, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                try:
                    age = time.time() - owner.stat().st_mtime
                except FileNotFoundError:
                    continue
                if age > STALE_SECONDS:  # its owner died without releasing it
                    with contextlib.suppress(FileNotFoundError):
                        owner.unlink()
                    continue
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"could not lock {self.path} within {self.timeout:g} s: {owner} exists (another "
                        f"process is writing; it is removed when older than {STALE_SECONDS:g} s)"
                    ) from None
                time.sleep(POLL_SECONDS)
                continue
            os.write(fd, f"{os.getpid()}\n".encode())
            self._fd = fd
            return
