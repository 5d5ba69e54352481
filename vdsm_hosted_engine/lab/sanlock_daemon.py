"""One real `sanlock daemon` per simulated host, each with its own SANLOCK_RUN_DIR.

Used by the integration tests, the demo and the lab. A daemon is started as our child and stopped
by its pid only; nothing here ever looks for or signals sanlock processes it did not start.

In containers without CAP_SYS_RESOURCE the daemon aborts because it cannot raise RLIMIT_MEMLOCK;
then (and only then) a tiny LD_PRELOAD shim, compiled here with gcc from `setrlimit_shim.c`, makes
that one failure report success (ENVIRONMENT.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from importlib import resources

from vdsm_hosted_engine.errors import HostedEngineError

logger = logging.getLogger(__name__)

SANLOCK = "/usr/sbin/sanlock"
_PROBE = (
    "import resource\n"
    "try:\n"
    "    resource.setrlimit(resource.RLIMIT_MEMLOCK, (resource.RLIM_INFINITY,) * 2)\n"
    "except (ValueError, OSError):\n"
    "    raise SystemExit(1)\n"
)


class SanlockDaemonError(HostedEngineError):
    """The sanlock daemon could not be started or stopped."""


def can_raise_memlock() -> bool:
    """Whether a process here may raise RLIMIT_MEMLOCK to unlimited (probed in a child)."""
    return subprocess.run([sys.executable, "-c", _PROBE], check=False).returncode == 0


def setrlimit_shim(cache_dir: str) -> str:
    """Path of the compiled shim, built into `cache_dir` if missing or out of date.

    Safe to call from several processes at once, also from different pid namespaces (lab hosts
    booting in parallel, where pids repeat): each builds in a directory of its own and renames the
    result into place; the last rename wins and every one of them is the same library."""
    source = resources.files("vdsm_hosted_engine.lab").joinpath("setrlimit_shim.c").read_bytes()
    digest = hashlib.sha1(source).hexdigest()[:12]
    target = os.path.join(cache_dir, f"setrlimit-shim-{digest}.so")
    if os.path.exists(target):
        return target
    os.makedirs(cache_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="setrlimit-shim-", dir=cache_dir) as build:
        src = os.path.join(build, "shim.c")
        with open(src, "wb") as f:
            f.write(source)
        built = os.path.join(build, "shim.so")
        result = subprocess.run(
            ["gcc", "-shared", "-fPIC", "-O2", "-o", built, src, "-ldl"], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise SanlockDaemonError(f"cannot build the setrlimit shim: {result.stderr.strip()}")
        os.replace(built, target)
    logger.info("built setrlimit shim %s", target)
    return target


def default_cache_dir() -> str:
    return os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "vdsm-hosted-engine")


class SanlockDaemon:
    """A `sanlock daemon` process we own: `start()`, then `stop()` (or `kill()` to crash it)."""

    def __init__(self, run_dir: str, name: str, log_path: str | None = None, cache_dir: str | None = None) -> None:
        self.run_dir = run_dir
        self.name = name
        self.log_path = log_path or os.path.join(run_dir, "daemon.log")
        self.cache_dir = cache_dir or default_cache_dir()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        """The environment a sanlock client of this daemon needs."""
        return {**os.environ, "SANLOCK_RUN_DIR": self.run_dir}

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self, timeout: float = 15.0) -> None:
        if self.process is not None:
            raise SanlockDaemonError(f"sanlock daemon {self.name} already started (pid {self.process.pid})")
        os.makedirs(self.run_dir, exist_ok=True)
        env = self.env
        if not can_raise_memlock():
            env["LD_PRELOAD"] = setrlimit_shim(self.cache_dir)
        argv = [SANLOCK, "daemon", "-D", "-w", "0", "-l", "0", "-h", "0", "-U", "root", "-G", "root", "-e", self.name]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        logger.info("started sanlock daemon %s (pid %d, run dir %s)", self.name, self.process.pid, self.run_dir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                raise SanlockDaemonError(f"sanlock daemon {self.name} exited at start; see {self.log_path}")
            if self._answers():
                return
            time.sleep(0.05)
        self.stop()
        raise SanlockDaemonError(f"sanlock daemon {self.name} did not answer within {timeout} s")

    def _answers(self) -> bool:
        if not os.path.exists(os.path.join(self.run_dir, "sanlock.sock")):
            return False
        result = subprocess.run(
            [SANLOCK, "client", "status"], env=self.env, capture_output=True, timeout=5, check=False
        )
        return result.returncode == 0

    def kill(self) -> None:
        """SIGKILL the daemon, as a host crash would."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        logger.info("killed sanlock daemon %s (pid %d)", self.name, self.process.pid)
        self.process = None

    def stop(self, timeout: float = 10.0) -> None:
        """Ask our daemon to shut down (`sanlock client shutdown -f 1`: registered processes are
        killed, leases released, lockspaces removed), then SIGKILL it if it has not exited within
        `timeout`. A no-op when not running."""
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired, OSError):
                subprocess.run(
                    [SANLOCK, "client", "shutdown", "-f", "1"],
                    env=self.env,
                    capture_output=True,
                    timeout=timeout,
                    check=False,
                )
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        logger.info("stopped sanlock daemon %s (pid %d)", self.name, self.process.pid)
        self.process = None
