"""The daemon as a process (its own sanlock daemon, libvirt's test driver, a real HTTP health page),
driven by the `hosted-engine` command over the Unix socket.

Given a fresh domain and a configured host, when the daemon runs, then `--vm-status --json` shows
the Engine up on host 1; maintenance modes, liveliness and the generic `call` work with oVirt's exit
codes; and SIGTERM publishes `stopped` and ends the daemon cleanly."""

import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from tests.integration.conftest import install_hooks, wait_for
from tests.integration.ha.test_agent_real import HealthPage
from vdsm_hosted_engine.lab.sanlock_daemon import SanlockDaemon
from vdsm_hosted_engine.rpc.client import Client

VM_ID = "5c0a6f3e-9a53-4f0c-8a53-0a8c0c2ff1a1"


def host_conf_text(tmp_path, storage, health_port=1):
    """host 1's hosted-engine.conf on the test driver, its hooks in `tmp_path/hooks`."""
    return (
        f"host_id=1\nstorage={storage}\nvmid={VM_ID}\nvm_conf={tmp_path}/vm.conf\n"
        f"run_dir={tmp_path}/run\nhooks_dir={tmp_path}/hooks\nlibvirt_uri=test:///default\n"
        f"network_test=none\nbridge=lo\nhostname=host1\ntick=0.5\n"
        f"health_url=http://127.0.0.1:{health_port}/ovirt-engine/services/health\n"
    )


def free_port():
    """A loopback port free now (the kernel's pick, released for the daemon to take)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def tmp_daemon(tmp_path, tmp_domain, monkeypatch):
    """host 1's sanlock daemon and vdsm-hosted-engine process (with our hooks installed), stopped
    by pid afterwards."""
    import http.server
    import threading

    health = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HealthPage)
    threading.Thread(target=health.serve_forever, daemon=True).start()
    sanlock = SanlockDaemon(str(tmp_path / "sanlock1"), "he-test-daemon1")
    sanlock.start()
    (tmp_path / "vm.conf").write_text(f"vmId={VM_ID}\nmemSize=128\nsmp=1\ndomainType=test\n")
    conf = tmp_path / "hosted-engine.conf"
    install_hooks(
        tmp_path,
        monkeypatch,
        ["before_vm_start", "after_vm_destroy"],
        host_conf_text(tmp_path, tmp_domain.path, health.server_port)
        + f"metrics_port={free_port()}\nmetrics_textfile={tmp_path}/metrics.prom\n",
    )
    log = open(tmp_path / "daemon.log", "w")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [sys.executable, "-m", "vdsm_hosted_engine.daemon", "--config", str(conf)],
        env=sanlock.env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield process, conf, tmp_path
    if process.poll() is None:
        process.kill()
        process.wait()
    log.close()
    sanlock.stop(timeout=3)
    health.shutdown()
    health.server_close()


def tmp_daemon_env(tmp_path):
    """The environment of host 1's sanlock daemon started by `tmp_daemon`."""
    return {**os.environ, "SANLOCK_RUN_DIR": str(tmp_path / "sanlock1")}


def cli(conf, *args):
    return subprocess.run(
        [sys.executable, "-m", "vdsm_hosted_engine.cli.hosted_engine", *args, "--config", str(conf)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def status(conf):
    result = cli(conf, "--vm-status", "--json")
    return json.loads(result.stdout) if result.returncode == 0 else None


def test_daemon_and_cli(tmp_daemon, tmp_domain, monkeypatch):
    process, conf, tmp_path = tmp_daemon

    def engine_up():
        s = status(conf)
        return s and "1" in s and s["1"]["engine-status"]["health"] == "good" and s["1"]["live-data"]

    wait_for(engine_up, timeout=90, interval=0.5, what="Engine up and healthy in --vm-status")
    assert status(conf)["view_age"] >= 0  # the agent's last cycle's view, and how old it is
    text = cli(conf, "--vm-status")
    assert text.returncode == 0 and "--== Host host1 (id: 1) status ==--" in text.stdout
    assert f"{'Status up-to-date':35}: True" in text.stdout

    assert cli(conf, "--check-liveliness").stdout == "Hosted Engine is up!\n"

    # Finding 6: a second daemon with the same conf unlinked the socket and ran a second agent.
    socket_path = tmp_path / "run" / "hosted-engine.sock"
    before = socket_path.stat().st_ino
    second = run_daemon(conf)
    assert (second.returncode, second.stderr.splitlines()[-1]) == (
        1,
        f"vdsm-hosted-engine: cannot start: another vdsm-hosted-engine (pid {process.pid}) runs with run_dir "
        f"{tmp_path}/run",
    )
    assert socket_path.stat().st_ino == before
    assert cli(conf, "--check-liveliness").stdout == "Hosted Engine is up!\n"

    refused = cli(conf, "--vm-migrate", "--host-id=1")
    assert refused.returncode == 1 and "runs on this host already" in refused.stderr
    refused = cli(conf, "--vm-migrate")  # answered by the agent's next cycle, at once
    assert refused.returncode == 1 and "live migration refused: no live eligible host" in refused.stderr
    assert refused.stderr.count("refused") == 1, refused.stderr  # said once, not "refused: ... refused: ..."

    events = Client.unix(str(tmp_path / "run" / "hosted-engine.sock"))
    events.subscribe_events()
    events.call("HostedEngine.getScore")  # the subscription is in place once this is answered
    ok = cli(conf, "--set-maintenance", "--mode=global")
    assert ok.returncode == 0 and ok.stdout == "Success: maintenance mode is now global\n"
    wait_for(lambda: status(conf)["global_maintenance"], timeout=10, what="global maintenance")
    score = json.loads(cli(conf, "call", "getScore").stdout)
    wait_for(
        lambda: json.loads(cli(conf, "call", "getScore").stdout)["state"] == "GlobalMaintenance",
        timeout=10,
        what="GlobalMaintenance state",
    )
    assert score["hostId"] == 1
    events.call("HostedEngine.getScore")
    events.close()
    assert any(
        e["method"] == "|hosted-engine|status|1" and e["params"]["state"] == "GlobalMaintenance" for e in events.events
    )

    bad = cli(conf, "call", "setMaintenance", "mode=partial")
    assert bad.returncode == 1 and "code=-32602" in bad.stderr and "'partial' is not one of" in bad.stderr
    monitors = json.loads(cli(conf, "call", "getMonitorStatus").stdout)
    assert monitors["engine-health"]["fresh"] is True

    assert (
        cli(conf, "--set-shared-config", "notify.to", "ops@example.com").stdout
        == "Success: notify.to=ops@example.com (version 1)\n"
    )
    assert cli(conf, "--get-shared-config", "notify.to").stdout == "notify.to : ops@example.com, type : he_shared\n"
    assert cli(conf, "--get-shared-config", "bridge", "--type=he_local").stdout == "bridge : lo, type : he_local\n"
    # Finding 4 and the he_local ones: values are one printable line, checked per key; he_local
    # writes only keys that cannot run code or widen access, and the file keeps its mode.
    refused = cli(conf, "--set-shared-config", "he.smtpPort", "25a")
    assert refused.returncode == 1 and "he.smtpPort: '25a': not an integer" in refused.stderr
    refused = cli(conf, "--set-shared-config", "notify.to", "a\x0bb")
    assert refused.returncode == 1 and "one line of printable characters" in refused.stderr
    conf.chmod(0o600)
    ok = cli(conf, "--set-shared-config", "priority", "5", "--type=he_local")
    assert ok.returncode == 0 and ok.stdout == "Success: priority=5\n"
    assert oct(conf.stat().st_mode & 0o777) == "0o600" and "priority=5\n" in conf.read_text()
    before = conf.read_text()
    for key, value in (("hooks_dir", str(tmp_path)), ("rpc_listen", "plain"), ("priority", "5\nhooks_dir=/tmp")):
        refused = cli(conf, "--set-shared-config", key, value, "--type=he_local")
        assert refused.returncode == 1 and (
            "cannot be changed remotely" in refused.stderr or "printable" in refused.stderr
        )
    assert conf.read_text() == before
    refused = cli(conf, "--reinitialize-lockspace")
    assert refused.returncode == 1 and "would kill it" in refused.stderr
    assert cli(conf, "--check-deployed").stdout == "Hosted Engine is deployed\n"
    assert "setMaintenance mode=MaintenanceMode" in cli(conf, "call", "--help").stdout
    usage = json.loads(cli(conf, "call", "getResourceUsage").stdout)
    assert usage["engine"]["hostId"] == 1 and usage["engine"]["memoryMiB"] == 128

    # vdsmd's after_vm_destroy hook, run as a process against this daemon: the real verb answers
    # (the hook exits 1 with a message when it cannot reach the daemon).
    hooks_dir = install_hooks(tmp_path, monkeypatch, ["after_vm_destroy"], conf.read_text())
    hook = subprocess.run(
        [str(hooks_dir / "after_vm_destroy" / "50_hosted_engine")],
        capture_output=True,
        text=True,
        env={**os.environ, "vmId": VM_ID},
        timeout=30,
    )
    assert (hook.returncode, hook.stderr) == (0, "")

    # Local maintenance survives the daemon's (and the host's) restart: it lives in ha.conf beside
    # hosted-engine.conf, as in oVirt, not in the run directory (a tmpfs).
    assert cli(conf, "--set-maintenance", "--mode=local").returncode == 0
    assert (tmp_path / "ha.conf").read_text() == "local_maintenance=True\n"
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    slot = tmp_domain.whiteboard().read().hosts[1]
    assert (slot.stopped, slot.score) == (True, 0)
    assert "daemon stopped" in (tmp_path / "daemon.log").read_text()
    with open(tmp_path / "daemon2.log", "w") as log:
        again = subprocess.Popen(
            [sys.executable, "-m", "vdsm_hosted_engine.daemon", "--config", str(conf)],
            env=tmp_daemon_env(tmp_path),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(
                lambda: (s := status(conf)) and s["1"]["maintenance"] and not s["1"]["stopped"],
                timeout=60,
                interval=0.5,
                what="host 1 back, still in local maintenance",
            )
        finally:
            again.send_signal(signal.SIGTERM)
            again.wait(30)


def run_daemon(conf, *args):
    """The daemon as a process that is expected to exit at once (a refusal): its result."""
    return subprocess.run(
        [sys.executable, "-m", "vdsm_hosted_engine.daemon", "--config", str(conf), *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_daemon_refuses_to_start_without_its_parts(tmp_path, monkeypatch):
    conf = tmp_path / "hosted-engine.conf"
    install_hooks(tmp_path, monkeypatch, ["before_vm_start"], host_conf_text(tmp_path, f"{tmp_path}/nowhere"))
    result = run_daemon(conf)
    assert result.returncode == 1
    assert result.stderr.startswith("vdsm-hosted-engine: cannot start: storage path ")
    bad = tmp_path / "bad.conf"
    bad.write_text("host_id=1\n")
    result = run_daemon(bad, "--validate-config")
    assert result.returncode == 1 and "storage: required key is missing" in result.stderr


def test_daemon_refuses_to_start_without_the_lease_hook(tmp_path, tmp_domain):
    """Given a good configuration and domain whose hooks_dir lacks the lease hook (a wrong path, or
    the hook package not installed), when the daemon starts, then it refuses with one sentence
    before it could ever start the Engine VM with no lease."""
    (tmp_path / "vm.conf").write_text(f"vmId={VM_ID}\nmemSize=128\nsmp=1\ndomainType=test\n")
    conf = tmp_path / "hosted-engine.conf"
    conf.write_text(host_conf_text(tmp_path, tmp_domain.path))
    hooks_dir = tmp_path / "hooks"
    for prepare in (lambda: None, lambda: (hooks_dir / "after_vm_destroy").mkdir(parents=True)):
        prepare()
        result = run_daemon(conf)
        assert result.returncode == 1
        assert result.stderr.startswith(
            f"vdsm-hosted-engine: cannot start: the Engine VM's lease hook is not installed in hooks_dir {hooks_dir} "
        )
        assert "would start without its sanlock lease" in result.stderr
        assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "run").exists()  # refused before it created anything


def test_a_configuration_without_vmid_is_refused(tmp_path):
    conf = tmp_path / "hosted-engine.conf"
    conf.write_text(host_conf_text(tmp_path, tmp_path).replace(f"vmid={VM_ID}\n", ""))
    result = subprocess.run(
        [sys.executable, "-m", "vdsm_hosted_engine.daemon", "--config", str(conf), "--validate-config"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr == (
        f"vdsm-hosted-engine: cannot start: invalid configuration:\n  {conf}: vmid: required key is missing\n"
    )
