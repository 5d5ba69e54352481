"""Real sanlock daemons for integration tests.

libsanlock binds a process to the daemon of the SANLOCK_RUN_DIR it first sees. So this test process
talks to one daemon of its own (`sanlock_admin`: it initialises domains, never joins a lockspace),
and every simulated host is a child process bound to its own daemon (`sanlock_hosts`). Fixtures stop
exactly the daemons and processes they started, by pid, even when the test fails.
"""

import os
import pathlib
import shutil
import time

import pytest

from vdsm_hosted_engine.lab.sanlock_daemon import SanlockDaemon
from vdsm_hosted_engine.lab.storage_host import StorageHost
from vdsm_hosted_engine.storage.domain import StorageDomain

IO_TIMEOUT = 1


@pytest.fixture(scope="session")
def sanlock_admin(tmp_path_factory):
    """This test process's own sanlock daemon (for write_lockspace / write_resource)."""
    run_dir = str(tmp_path_factory.mktemp("sanlock-admin"))
    daemon = SanlockDaemon(run_dir, "he-test-admin")
    daemon.start()
    previous = os.environ.get("SANLOCK_RUN_DIR")
    os.environ["SANLOCK_RUN_DIR"] = run_dir
    yield daemon
    if previous is None:
        os.environ.pop("SANLOCK_RUN_DIR", None)
    else:
        os.environ["SANLOCK_RUN_DIR"] = previous
    daemon.stop()


@pytest.fixture
def tmp_domain(tmp_path, sanlock_admin):
    """A fresh storage domain (io_timeout 1 s) in a temporary directory."""
    path = tmp_path / "domain"
    path.mkdir()
    return StorageDomain.create(str(path), io_timeout=IO_TIMEOUT, now=time.time())


class SimHost:
    """A simulated host: its own sanlock daemon and a storage process bound to it."""

    def __init__(self, host_id: int, daemon: SanlockDaemon, storage: StorageHost, domain_path: str) -> None:
        self.host_id = host_id
        self.daemon = daemon
        self.storage = storage
        self.domain_path = domain_path

    def call(self, op, **args):
        return self.storage.call(op, **args)

    def crash(self):
        """Everything of the host dies at once: its daemon and its lease-holding process."""
        self.daemon.kill()
        self.storage.kill()

    def power_on(self):
        """After a crash: a new daemon (same run dir and host name) and a new storage process."""
        self.daemon.start()
        self.storage = StorageHost(self.domain_path, self.daemon.env, f"host{self.host_id}")

    def process(self, name):
        """Another process bound to this host's daemon (a lease holder standing in for qemu)."""
        return StorageHost(self.domain_path, self.daemon.env, f"host{self.host_id}-{name}")


@pytest.fixture
def sanlock_hosts(tmp_path, tmp_domain):
    """Factory: sanlock_hosts(2) -> [SimHost 1, SimHost 2] on `tmp_domain` (not yet joined)."""
    started: list[SimHost] = []

    def start(count):
        hosts = []
        for host_id in range(len(started) + 1, len(started) + count + 1):
            daemon = SanlockDaemon(str(tmp_path / f"host{host_id}"), f"he-test-host{host_id}")
            daemon.start()
            try:
                host = SimHost(
                    host_id, daemon, StorageHost(tmp_domain.path, daemon.env, f"host{host_id}"), tmp_domain.path
                )
            except BaseException:
                daemon.stop(timeout=2)
                raise
            started.append(host)
            hosts.append(host)
        return hosts

    yield start
    for host in started:
        host.storage.kill()
        host.daemon.stop(timeout=2)


def wait_for(predicate, timeout, interval=0.2, what="condition"):
    """Poll `predicate` until it returns a truthy value, at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s (last value {value!r})")
        time.sleep(interval)


ROOT = pathlib.Path(__file__).parents[2]


def install_hooks(tmp_path, monkeypatch, points, conf_text):
    """Our vdsm_hooks executables for `points` in `tmp_path/hooks`, with a hosted-engine.conf holding
    `conf_text` that they read (HOSTED_ENGINE_CONF) and the checkout on their PYTHONPATH."""
    hooks_dir = tmp_path / "hooks"
    for point in points:
        (hooks_dir / point).mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "vdsm_hooks" / point / "50_hosted_engine", hooks_dir / point)
    conf = tmp_path / "hosted-engine.conf"
    conf.write_text(conf_text)
    monkeypatch.setenv("HOSTED_ENGINE_CONF", str(conf))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    return hooks_dir
