"""The broker: cached values with their age; stale or failed values count as missing."""

import threading

import pytest

from vdsm_hosted_engine.broker.base import Monitor
from vdsm_hosted_engine.broker.broker import Broker
from vdsm_hosted_engine.broker.monitors.host import BridgeMonitor, CpuLoadMonitor, MemoryMonitor
from vdsm_hosted_engine.broker.monitors.network import NetworkMonitor
from vdsm_hosted_engine.broker.monitors.storage import StorageMonitor
from vdsm_hosted_engine.errors import StorageUnavailable
from vdsm_hosted_engine.observations import Health


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


class Fixed(Monitor):
    def __init__(self, name, value, **kw):
        super().__init__(**kw)
        self.name, self.value = name, value

    def probe(self):
        if isinstance(self.value, Exception):
            raise self.value
        return self.value


def test_values_age_out_after_their_ttl():
    clock = Clock()
    broker = Broker([Fixed("network", 1.0, interval=10, timeout=5)], clock=clock)
    assert broker.values().network is None  # nothing measured yet
    broker.probe_once("network")
    assert broker.values().network == 1.0
    clock.t += 35  # ttl = 3 x interval + timeout
    assert broker.values().network == 1.0
    clock.t += 0.1
    assert broker.values().network is None
    status = broker.status()["network"]
    assert (status["fresh"], status["age"], status["value"]) == (False, 35.1, 1.0)


def test_a_failing_probe_counts_as_missing_and_is_reported():
    broker = Broker([Fixed("mem-free", OSError("boom"))])
    broker.probe_once("mem-free")
    assert broker.values().mem_free_mib is None
    assert broker.status()["mem-free"]["error"] == "OSError: boom"


def test_a_stuck_monitor_does_not_stall_the_others():
    release = threading.Event()

    class Stuck(Monitor):
        name = "network"

        def probe(self):
            release.wait(10)
            return 1.0

    broker = Broker([Stuck(interval=0.05), Fixed("mem-free", 2048, interval=0.05)])
    broker.start()
    try:
        for _ in range(100):
            if broker.values().mem_free_mib == 2048:
                break
            threading.Event().wait(0.02)
        assert broker.values().mem_free_mib == 2048
        assert broker.values().network is None
    finally:
        release.set()
        broker.stop()


def test_engine_health_and_storage_views():
    broker = Broker(
        [
            Fixed("engine-health", {"vm": "up", "health": "good", "detail": ""}),
            Fixed("storage", {"ok": False, "detail": "x"}),
        ]
    )
    assert broker.values().engine_health is Health.UNKNOWN
    broker.probe_once("engine-health")
    broker.probe_once("storage")
    assert (broker.values().engine_health, broker.values().storage_ok) == (Health.GOOD, False)


def test_memory_and_bridge_from_files(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:  16000000 kB\nMemAvailable:  8388608 kB\n")
    assert MemoryMonitor(str(meminfo)).probe() == 8192
    sysfs = tmp_path / "sys"
    (sysfs / "class/net/ovirtmgmt").mkdir(parents=True)
    (sysfs / "class/net/ovirtmgmt/operstate").write_text("down\n")
    assert BridgeMonitor("ovirtmgmt", str(sysfs)).probe() is False
    (sysfs / "class/net/ovirtmgmt/operstate").write_text("up\n")
    assert BridgeMonitor("ovirtmgmt", str(sysfs)).probe() is True
    assert BridgeMonitor("absent", str(sysfs)).probe() is False


def test_cpu_load_excludes_the_engine_vm(tmp_path):
    stat = tmp_path / "stat"
    engine = [0.0]
    monitor = CpuLoadMonitor(lambda: engine[0], str(stat))
    stat.write_text("cpu  100 0 100 800 0 0 0 0 0 0\n")
    with pytest.raises(ValueError, match="first sample"):
        monitor.probe()
    # 1000 more ticks: 600 busy, of which the Engine VM used 300 ticks' worth of seconds.
    stat.write_text("cpu  500 0 300 1200 0 0 0 0 0 0\n")
    engine[0] = 300 / monitor.hz
    assert monitor.probe() == pytest.approx(0.3)


def test_a_host_in_its_own_cgroup_counts_its_cgroups_memory_and_cpu(tmp_path, monkeypatch):
    root = tmp_path / "cgroup"
    for controller in ("cpu", "cpuacct", "memory"):
        (root / controller / "host1").mkdir(parents=True)
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemAvailable:  8388608 kB\n")
    memory = root / "memory" / "host1"
    (memory / "memory.limit_in_bytes").write_text(str(2048 * 2**20))
    (memory / "memory.usage_in_bytes").write_text(str(1600 * 2**20))
    (memory / "memory.stat").write_text(f"cache 1\ntotal_inactive_file {100 * 2**20}\n")
    assert MemoryMonitor(str(meminfo), cgroup="host1", cgroup_root=str(root)).probe() == 2048 - 1500
    (root / "cpu/host1/cpu.cfs_quota_us").write_text("100000")  # one CPU of the machine's
    (root / "cpu/host1/cpu.cfs_period_us").write_text("100000")
    usage = root / "cpuacct/host1/cpuacct.usage"
    clock = [1000.0]
    monkeypatch.setattr("vdsm_hosted_engine.broker.monitors.host.time.monotonic", lambda: clock[0])
    monitor = CpuLoadMonitor(lambda: 1.0, cgroup="host1", cgroup_root=str(root))
    usage.write_text(str(5 * 10**9))
    with pytest.raises(ValueError, match="first sample"):
        monitor.probe()
    clock[0] += 10  # 10 s of one CPU: 9 s used, 1 s of it by the Engine VM
    usage.write_text(str(14 * 10**9))
    monitor.engine_cpu_seconds = lambda: 2.0
    assert monitor.probe() == pytest.approx(0.8)


def test_network_tcp_and_none():
    import socket

    assert NetworkMonitor("none", None).probe() == 1.0
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(10)
    port = listener.getsockname()[1]
    try:
        assert NetworkMonitor("tcp", "127.0.0.1", port, probes=3, timeout=1).probe() == 1.0
    finally:
        listener.close()
    assert NetworkMonitor("tcp", "127.0.0.1", port, probes=2, timeout=1).probe() == 0.0
    with pytest.raises(ValueError, match="needs a target"):
        NetworkMonitor("ping", None)


def test_network_ping_sends_its_probes_in_one_round():
    """Five echo requests 0.2 s apart in one ping process: the answer comes in about a second, not
    after five probes in a row at the full timeout each."""
    assert NetworkMonitor("ping", "127.0.0.1", probes=5, timeout=1).probe() == 1.0
    assert NetworkMonitor("ping", "198.51.100.7", probes=3, timeout=1).probe() == 0.0  # TEST-NET-2: no answer


def test_storage_monitor():
    ok = StorageMonitor(lambda: b"", lambda: True).probe()
    assert ok["ok"] is True and ok["host_id_held"] is True

    def unreachable():
        raise StorageUnavailable("gone")

    assert StorageMonitor(unreachable, lambda: True).probe() == {
        "ok": False,
        "delay": None,
        "host_id_held": None,
        "mount_ok": True,
        "detail": "gone",
    }
    assert StorageMonitor(lambda: b"", lambda: False).probe()["ok"] is False


def test_storage_monitor_reports_a_wrong_or_missing_mount_without_reading():
    """A read through a missing mount would read the empty directory below it, not the domain."""
    reads = []
    wrong = StorageMonitor(lambda: reads.append(1), lambda: True, mount_problem=lambda: "nothing is mounted at /m")
    assert wrong.probe() == {
        "ok": False,
        "delay": None,
        "host_id_held": None,
        "mount_ok": False,
        "detail": "nothing is mounted at /m",
    }
    assert reads == []

    def unreadable():
        raise StorageUnavailable("cannot read /proc/self/mountinfo: gone")

    assert StorageMonitor(lambda: b"", lambda: True, mount_problem=unreadable).probe()["mount_ok"] is False
