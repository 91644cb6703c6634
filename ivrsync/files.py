"""One way to replace a file: a reader, or a job killed at any moment, sees the old content or
the new one, never a mix, and nothing is left behind.

The state, a saved plan, an apply result, the audio cache, a formatted manifest, the files of
`ivrsync init`: every file ivrsync writes over goes through `write_atomically`, so each gets the
same guarantees (temp file beside it, fsync, rename, directory fsync, permissions kept, temp
removed on every error path including Ctrl-C, and leftovers of killed writers removed later).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import socket
import time
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "STALE_TEMP_SECONDS",
    "fsync_directory",
    "process_alive",
    "temp_path",
    "write_atomically",
]

log = logging.getLogger(__name__)

# A temp file this old is left over whatever its name says: no write takes an hour.
STALE_TEMP_SECONDS = 3600.0

HOST = socket.gethostname() or "unknown"
# The host as it appears in temp file names: no dots, so that names parse back.
HOST_TAG = re.sub(r"[^A-Za-z0-9-]", "-", HOST)[:64]

_O_BINARY: int = getattr(os, "O_BINARY", 0)  # Windows: no newline translation


def write_atomically(
    path: Path,
    data: bytes | str,
    *,
    mode: int | None = None,
    before_replace: Callable[[], None] | None = None,
    durable: bool = True,
) -> os.stat_result:
    """Replace `path` (not the file a link there points to) with `data` (str: UTF-8), whole.

    `mode`: the permissions to give it; by default those of the file it replaces, or for a new
    file the usual ones (0o666 less the umask). `before_replace` runs once the new content is
    durable and before it takes the old one's place (the state store keeps its backup then).
    `durable=False` skips the fsyncs, for a cache whose reader checks what it reads (a crash
    may then leave an empty file, never a mix): a cold plan writes thousands of cache files.
    Raises OSError, with the old file and no temp file left. Returns the new file's stat.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    _remove_leftovers(path)
    if mode is None:
        with contextlib.suppress(FileNotFoundError):
            mode = path.stat().st_mode & 0o7777
    temp = temp_path(path)
    created = False
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
        created = True
        with os.fdopen(fd, "wb") as file:
            if mode is not None and hasattr(os, "fchmod"):
                os.fchmod(file.fileno(), mode)
            file.write(payload)
            file.flush()
            if durable:
                os.fsync(file.fileno())
            written = os.fstat(file.fileno())
        if mode is not None and not hasattr(os, "fchmod"):
            temp.chmod(mode)
        if before_replace is not None:
            before_replace()
        temp.replace(path)
        created = False
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                temp.unlink()
        raise
    if durable:
        fsync_directory(path.parent)
    return written


def temp_path(path: Path) -> Path:
    """A name beside `path` no other writer uses, that says which process made it."""
    name = f".{path.name}.{HOST_TAG}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    return path.with_name(name)


# What follows `.NAME.` in a temp file's name (temp_path): host, pid, random, `.tmp`. One
# pattern for every file: a cold plan writes thousands, and compiling one per name was most
# of the cost of writing them.
_TEMP_TAIL = re.compile(r"([A-Za-z0-9-]*)\.([0-9]+)\.[0-9a-f]{8}\.tmp$")


def _remove_leftovers(path: Path) -> None:
    """Remove the temp files of writers of `path` that were killed: made by a process of this
    host that no longer runs, or older than an hour (no write takes that long)."""
    prefix = f".{path.name}."
    now = time.time()
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        match = _TEMP_TAIL.match(entry.name, len(prefix))
        if match is None:
            continue
        host, pid = match.group(1), int(match.group(2))
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        dead = host == HOST_TAG and pid != os.getpid() and not process_alive(pid)
        if dead or age > STALE_TEMP_SECONDS:
            log.info("removing %s, left by an ivrsync that was stopped mid-write", entry.path)
            with contextlib.suppress(OSError):
                Path(entry.path).unlink()


def fsync_directory(directory: Path) -> None:
    """Make the renames durable; some platforms and file systems cannot, which is no error."""
    if os.name == "nt":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def process_alive(pid: int) -> bool:
    """Whether a process of this host runs under `pid` (when in doubt, it does)."""
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but belongs to someone else
        return True
    return True
