"""The real agent on real parts: sanlock (this test process's daemon joins as host 1), a storage
domain, libvirt's test driver with real hook scripts, the broker's real monitors and a real HTTP
health endpoint. Given a fresh domain, when the agent runs, then it starts the Engine VM, sees the
Engine healthy, publishes EngineUp; when the health page turns bad it notices; when it stops it
publishes `stopped` and leaves the VM running."""

import http.server
import threading

import pytest

from tests.integration.conftest import install_hooks, wait_for
from vdsm_hosted_engine.broker.broker import Broker
from vdsm_hosted_engine.broker.monitors.engine_health import EngineHealthMonitor
from vdsm_hosted_engine.broker.monitors.host import BridgeMonitor, CpuLoadMonitor, MemoryMonitor
from vdsm_hosted_engine.broker.monitors.network import NetworkMonitor
from vdsm_hosted_engine.broker.monitors.storage import StorageMonitor
from vdsm_hosted_engine.ha.agent import Agent, AgentConfig
from vdsm_hosted_engine.ha.fsm import State
from vdsm_hosted_engine.ha.real_env import RealEnv
from vdsm_hosted_engine.hooks.lease import LeaseSpec
from vdsm_hosted_engine.observations import Health, VmStatus
from vdsm_hosted_engine.virt.domxml import VmConfig
from vdsm_hosted_engine.virt.runtime import VmRuntime

VM_ID = "0b7cf3e4-31c7-4d51-9a8c-5a8c3c7b6f10"


class HealthPage(http.server.BaseHTTPRequestHandler):
    body = b"DB Up!Welcome to Health Status!"

    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(type(self).body)

    def log_message(self, *args):
        pass


@pytest.fixture
def tmp_health_server():
    """A real HTTP server on loopback serving the Engine's health page."""
    handler = type("Page", (HealthPage,), {"body": HealthPage.body})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.handler = handler
    yield server
    server.shutdown()
    server.server_close()


def test_agent_starts_the_engine_and_leaves_it_running_when_stopped(
    tmp_domain, tmp_health_server, tmp_path, monkeypatch
):
    install_hooks(tmp_path, monkeypatch, ["before_vm_start"], f"host_id=1\nstorage={tmp_domain.path}\nvmid={VM_ID}\n")
    runtime = VmRuntime(
        "test:///default",
        VmConfig(VM_ID, domain_type="test", memory_mib=128),
        hooks_dir=str(tmp_path / "hooks"),
        lease=LeaseSpec.of(tmp_domain.engine_vm_lease()),
    )
    url = f"http://127.0.0.1:{tmp_health_server.server_port}/ovirt-engine/services/health"
    lockspace = tmp_domain.lockspace()
    board = tmp_domain.whiteboard(lockspace)
    broker = Broker(
        [
            NetworkMonitor("none", None, interval=0.5),
            BridgeMonitor("lo", interval=0.5),
            MemoryMonitor(interval=0.5),
            CpuLoadMonitor(runtime.cpu_seconds, interval=0.5),
            EngineHealthMonitor(runtime.status, url, interval=0.5, timeout=2),
            StorageMonitor(board.read_global, lambda: lockspace.holds(1), interval=0.5),
        ]
    )
    env = RealEnv(1, tmp_domain, runtime, broker, ha_conf_path=str(tmp_path / "ha.conf"), shutdown_grace=5)
    runtime.on_event = env.wake  # libvirt lifecycle events wake the agent at once
    agent = Agent(env, AgentConfig(host_id=1, hostname="host1", vm_mem_mib=128, tick=0.5))
    broker.start()
    thread = threading.Thread(target=agent.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: agent.last and agent.last.state is State.ENGINE_UP, timeout=60, what="EngineUp")
        assert runtime.status()[0] is VmStatus.UP
        xml = runtime._domain().XMLDesc()
        assert "<lockspace>hosted-engine</lockspace>" in xml and tmp_domain.leases_path in xml  # our hook ran
        slot = tmp_domain.whiteboard().read().hosts[1]
        assert (slot.state, slot.engine_status["vm"], slot.engine_status["health"], slot.score) == (
            "EngineUp",
            "up",
            "good",
            slot.score,
        )
        assert slot.score > 0

        tmp_health_server.handler.body = b"DB Down"
        wait_for(lambda: agent.last.state is State.ENGINE_UP_BAD_HEALTH, timeout=30, what="EngineUpBadHealth")
        assert broker.values().engine_health is Health.BAD
        assert broker.status()["engine-health"]["fresh"] is True
    finally:
        agent.stop()
        thread.join(30)
        broker.stop()
    try:
        assert not thread.is_alive()
        slot = tmp_domain.whiteboard().read().hosts[1]
        assert (slot.stopped, slot.score, slot.state) == (True, 0, "AgentStopped")
        assert runtime.status()[0] is VmStatus.UP  # left running
        # libvirt's test driver holds no sanlock lease, so sanlock lets the host id go and kills
        # nothing; with a real lease holder it refuses (test_lease_owner.py: leaving never kills one).
        assert lockspace.holds(1) is False
    finally:  # the test driver's domains outlive the test: never leave one for the next
        runtime.destroy()
        runtime.close()
        lockspace.leave(1)
