"""One daemon per run directory: an exclusive `flock` on `<run_dir>/vdsm-hosted-engine.pid`.

Taken before anything else is touched (the socket, sanlock, libvirt): a second daemon started with
the same configuration refuses with one sentence naming the first one's pid, and leaves the first
one's socket alone. The lock goes with the process (also on SIGKILL); the file stays, and holds the
pid of the daemon that last took it.
"""

from __future__ import annotations

import fcntl
import os

from vdsm_hosted_engine.errors import InvalidRequest

LOCK_NAME = "vdsm-hosted-engine.pid"


def acquire(run_dir: str) -> int:
    """The locked file's descriptor, to keep open for the daemon's lifetime; InvalidRequest if taken."""
    os.makedirs(run_dir, mode=0o755, exist_ok=True)
    path = os.path.join(run_dir, LOCK_NAME)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise InvalidRequest(f"another vdsm-hosted-engine (pid {holder}) runs with run_dir {run_dir}") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd
