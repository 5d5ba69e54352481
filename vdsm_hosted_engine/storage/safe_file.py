"""Replacing a file whole, safely in a directory others can write (shared storage, /etc).

The temporary file gets a random name and is created with O_CREAT | O_EXCL | O_NOFOLLOW: whoever can
write the directory cannot make us write through a symlink or into a file they prepared, and two
writers never share a temporary file. It is fsynced and renamed over the target, so a reader sees the
old or the new file, never half of one. The mode is the old file's (or `mode` for a new one): an
edit never widens access.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def replace(path: str, data: bytes, mode: int = 0o600) -> None:
    """Write `data` to `path` atomically; raises OSError."""
    with contextlib.suppress(FileNotFoundError):
        mode = stat.S_IMODE(os.stat(path, follow_symlinks=False).st_mode)
    tmp = os.path.join(os.path.dirname(path) or ".", f".{os.path.basename(path)}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, _CREATE, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)  # the umask narrowed it maybe; never widened
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
