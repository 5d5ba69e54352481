"""Deploy on real parts: sanlock (this process's daemon), libvirt's test driver, qemu-img, our hooks
as processes, and a real HTTP health page.

Given an empty shared directory and an appliance image, when deploy runs, then the domain, the disk,
the shared and local configuration exist, the Engine VM runs with its lease, and HA has it (global
maintenance off). When a step fails, everything deploy created is gone again."""

import os
import subprocess
import sys
import uuid

import pytest

from tests.integration.conftest import install_hooks
from vdsm_hosted_engine import config
from vdsm_hosted_engine.deploy import answers as answer_file
from vdsm_hosted_engine.deploy.steps import DeployError, Deployment, HostPaths
from vdsm_hosted_engine.deploy.validators import Context
from vdsm_hosted_engine.errors import ConfigError
from vdsm_hosted_engine.lab.sanlock_daemon import SanlockDaemon
from vdsm_hosted_engine.storage.domain import StorageDomain
from vdsm_hosted_engine.storage.shared_config import SharedConfig

# HOSTED_ENGINE_CONF for the hooks until deploy writes the real one (the runtime then points them at it).
UNUSED_CONF = "host_id=1\nstorage=/unused\nvmid=00000000-0000-4000-8000-000000000000\n"
# The tests' storage is a local directory (deploy --allow-local-storage); libvirt's test driver plugs
# no NIC, so `lo` passes as the bridge (--domain-type=test).
LOCAL = Context(allow_local_storage=True, domain_type="test")
ENGINE = "192.0.2.10"  # the Engine VM's address (an IP: a name must resolve)


class Collect:
    """A reporter that keeps what deploy showed."""

    def __init__(self):
        self.steps, self.progress_seen, self.lines = [], [], []

    def step(self, name):
        self.steps.append(name)

    def progress(self, fraction):
        self.progress_seen.append(fraction)

    def waiting(self, what, elapsed, timeout):
        self.lines.append(f"waiting {what}")

    def info(self, text):
        self.lines.append(text)


def answer_text(tmp_path, health, disk_gib=1):
    (tmp_path / "domain").mkdir(exist_ok=True)
    appliance = tmp_path / "appliance.qcow2"
    if not appliance.exists():
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(appliance), "16M"], check=True)
    return (
        "[environment:default]\n"
        f"OVEHOSTED_STORAGE/path=str:{tmp_path}/domain\nOVEHOSTED_STORAGE/ioTimeout=int:1\n"
        "OVEHOSTED_NETWORK/gateway=str:127.0.0.1\nOVEHOSTED_NETWORK/networkTest=str:none\n"
        "OVEHOSTED_NETWORK/bridgeName=str:lo\n"
        f"OVEHOSTED_VM/applianceImage=str:{appliance}\nOVEHOSTED_VM/vcpus=int:1\nOVEHOSTED_VM/memMiB=int:128\n"
        f"OVEHOSTED_VM/diskSizeGiB=int:{disk_gib}\nOVEHOSTED_VM/mac=str:00:16:3e:00:00:01\n"
        f"OVEHOSTED_VM/fqdn=str:{ENGINE}\nOVEHOSTED_VM/healthUrl=str:{health}\n"
        "OVEHOSTED_VM/cloudInit=bool:True\nOVEHOSTED_VM/cloudinitNetwork=str:dhcp\n"
        "OVEHOSTED_VM/rootPassword=none:None\nOVEHOSTED_VM/rootSshPubkey=none:None\nOVEHOSTED_VM/setupScript=none:None\n"
        "OVEHOSTED_HA/priority=int:0\nOVEHOSTED_HA/spareHosts=int:1\nOVEHOSTED_NOTIF/smtpServer=none:None\n"
    )


def deployment(tmp_path, health, monkeypatch, **kw):
    install_hooks(tmp_path, monkeypatch, ["before_vm_start"], UNUSED_CONF)
    paths = HostPaths(str(tmp_path / "etc"), str(tmp_path / "run"), str(tmp_path / "hooks"), "test:///default", "test")
    answers = answer_file.parse(answer_text(tmp_path, health), "answers.conf", LOCAL)
    return Deployment(answers, paths, Collect(), health_timeout=30, **kw)


def test_deploy_end_to_end(tmp_path, tmp_health, sanlock_admin, monkeypatch):
    dep = deployment(tmp_path, tmp_health, monkeypatch)
    try:
        dep.run()
        domain = StorageDomain.open(str(tmp_path / "domain"))
        assert domain.identity.sd_uuid == dep.sd_uuid and domain.identity.io_timeout == 1
        assert os.path.getsize(dep.disk_path) == 1024**3
        assert dep.reporter.progress_seen[-1] == 1.0
        shared, version = SharedConfig(domain.shared_conf_path).read()
        assert shared["vm.vmId"] == dep.vm_uuid and shared["he.fqdn"] == ENGINE and version > 1
        conf = config.load_host_config(str(tmp_path / "etc" / "hosted-engine.conf"))
        assert (conf.host_id, conf.vmid, conf.sd_uuid, conf.storage) == (
            1,
            dep.vm_uuid,
            dep.sd_uuid,
            str(tmp_path / "domain"),
        )
        xml = dep.runtime._domain().XMLDesc()
        assert domain.leases_path in xml  # our before_vm_start hook ran with the new configuration
        # The cloud-init seed: an ISO labelled cidata next to the disk, attached as the VM's CD-ROM.
        assert dep.seed_path == os.path.join(os.path.dirname(dep.disk_path), "cloud-init-seed.iso")
        assert f"<source file='{dep.seed_path}'/>" in xml and "device='cdrom'" in xml
        label = subprocess.run(["isoinfo", "-d", "-i", dep.seed_path], capture_output=True, text=True, check=True)
        assert "Volume id: cidata" in label.stdout
        assert shared["vm.cdrom"] == dep.seed_path
        assert domain.lockspace().holds(1) is True
        assert domain.whiteboard().read().global_maintenance is False
        assert any("healthy" in line for line in dep.reporter.lines)
    finally:
        if dep.runtime is not None:
            dep.runtime.destroy()
        StorageDomain.open(str(tmp_path / "domain")).lockspace().leave(1)


def test_a_failing_step_leaves_nothing_behind(tmp_path, tmp_health, sanlock_admin, monkeypatch):
    dep = deployment(tmp_path, tmp_health, monkeypatch)
    refuse = tmp_path / "hooks" / "before_vm_start" / "10_refuse"
    refuse.write_text("#!/bin/sh\necho 'refused by policy' >&2\nexit 2\n")
    refuse.chmod(0o755)
    with pytest.raises(
        DeployError, match="Starting the Engine VM failed: .*refused by policy.*; what deploy had done was undone"
    ):
        dep.run()
    assert os.listdir(tmp_path / "domain") == []
    assert not (tmp_path / "etc" / "hosted-engine.conf").exists()
    assert not (tmp_path / "etc" / "vm.conf").exists()
    assert dep.reporter.steps[-1] == "Starting the Engine VM"


def test_checks_refuse_before_changing_anything(tmp_path, tmp_health, sanlock_admin, monkeypatch):
    """What one answer decides is refused when the answer file is read; what the environment decides
    (libvirt answers, no domain there yet) is checked before the first change."""
    install_hooks(tmp_path, monkeypatch, ["before_vm_start"], UNUSED_CONF)
    big = tmp_path / "big.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(big), "2G"], check=True)
    text = answer_text(tmp_path, tmp_health)
    with pytest.raises(ConfigError, match="1 GiB is smaller than the appliance's virtual size \\(2 GiB\\)"):
        answer_file.parse(text.replace(str(tmp_path / "appliance.qcow2"), str(big)), "a.conf", LOCAL)
    paths = HostPaths(str(tmp_path / "etc"), str(tmp_path / "run"), str(tmp_path / "hooks"), "test:///no/such.xml")
    StorageDomain.create(str(tmp_path / "domain"), io_timeout=1, sd_uuid=str(uuid.uuid4()), now=0)
    before = sorted(os.listdir(tmp_path / "domain"))
    with pytest.raises(DeployError) as e:
        Deployment(answer_file.parse(text, "a.conf", LOCAL), paths, Collect()).run()
    assert "nothing was changed" in str(e.value)
    assert "libvirt does not answer at test:///no/such.xml" in str(e.value)
    assert "already holds a hosted-engine domain (deploy --force replaces it)" in str(e.value)
    assert sorted(os.listdir(tmp_path / "domain")) == before and not (tmp_path / "etc").exists()


def test_cli_deploy_with_an_answer_file(tmp_path, tmp_health, monkeypatch):
    """The command as a process bound to its own sanlock daemon: bad answers are refused with
    file:line; good answers deploy without a question but the confirmation."""
    install_hooks(tmp_path, monkeypatch, ["before_vm_start"], UNUSED_CONF)
    bad = tmp_path / "bad.conf"
    bad.write_text("[environment:default]\nOVEHOSTED_VM/memMiB=int:12\n")
    args = [
        sys.executable,
        "-m",
        "vdsm_hosted_engine.cli.hosted_engine",
        "--deploy",
        "--conf-dir",
        str(tmp_path / "etc"),
        "--run-dir",
        str(tmp_path / "run"),
        "--hooks-dir",
        str(tmp_path / "hooks"),
        "--libvirt-uri",
        "test:///default",
        "--domain-type",
        "test",
        "--health-timeout",
        "30",
        "--allow-local-storage",
    ]
    result = subprocess.run([*args, f"--config-append={bad}"], capture_output=True, text=True, input="", timeout=60)
    assert (
        result.returncode == 1
        and f"{bad}:2: OVEHOSTED_VM/memMiB: '12': 12 MiB is out of range: must be between 128 and" in (result.stderr)
    )
    good = tmp_path / "answers.conf"
    good.write_text(answer_text(tmp_path, tmp_health))
    sanlock = SanlockDaemon(str(tmp_path / "sanlock1"), "he-test-deploy1")
    sanlock.start()
    try:
        result = subprocess.run(
            [*args, f"--config-append={good}", f"--generate-answer={tmp_path}/generated.conf"],
            capture_output=True,
            text=True,
            input="\n",
            timeout=120,
            env={**sanlock.env},
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Please confirm installation settings" in result.stdout
        # No systemd unit here: deploy does not claim HA has the VM, and says what to run.
        assert "The Engine VM is up on this host, but HA does not have it until the agent runs" in result.stdout
        assert f"  vdsm-hosted-engine --config={tmp_path}/etc/hosted-engine.conf\n" in result.stdout
        assert result.stdout.count("[##############################] 100.0%") == 1  # once, not twice
        generated = (tmp_path / "generated.conf").read_text()
        assert answer_file.parse(generated, "g", LOCAL) == answer_file.parse(good.read_text(), "a", LOCAL)
        assert (tmp_path / "etc" / "answers.conf").exists()
    finally:
        sanlock.stop(timeout=3)


def test_three_hosts_joining_at_once_get_three_distinct_ids(tmp_path, tmp_health, sanlock_admin, monkeypatch):
    """Given a deployed domain, when three hosts (each a process with its own sanlock daemon) join
    at the same moment, then sanlock gives each its own host id and each writes its configuration."""
    dep = deployment(tmp_path, tmp_health, monkeypatch)
    daemons = []
    try:
        dep.run()
        dep.runtime.destroy()
        procs = []
        for n in (2, 3, 4):
            daemon = SanlockDaemon(str(tmp_path / f"sanlock{n}"), f"he-test-join{n}")
            daemon.start()
            daemons.append(daemon)
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "vdsm_hosted_engine.cli.hosted_engine",
                        "--deploy",
                        "--join",
                        "--storage",
                        str(tmp_path / "domain"),
                        "--conf-dir",
                        str(tmp_path / f"etc{n}"),
                        "--hostname",
                        f"host{n}",
                        "--libvirt-uri",
                        "test:///default",
                        "--hooks-dir",
                        str(tmp_path / "hooks"),
                    ],
                    env=daemon.env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        outputs = [p.communicate(timeout=300) for p in procs]
        assert all(p.returncode == 0 for p in procs), outputs
        ids = {config.load_host_config(str(tmp_path / f"etc{n}" / "hosted-engine.conf")).host_id for n in (2, 3, 4)}
        assert len(ids) == 3 and 1 not in ids
        board = StorageDomain.open(str(tmp_path / "domain")).whiteboard().read()
        assert {board.hosts[h].hostname for h in ids} == {"host2", "host3", "host4"}
        vm_conf = (tmp_path / "etc2" / "vm.conf").read_text()
        assert f"vmId={dep.vm_uuid}" in vm_conf
    finally:
        for daemon in daemons:
            daemon.stop(timeout=3)
        StorageDomain.open(str(tmp_path / "domain")).lockspace().leave(1)


def test_join_refuses_an_undeployed_domain(tmp_domain, tmp_path, monkeypatch):
    from vdsm_hosted_engine.deploy.join import join
    from vdsm_hosted_engine.errors import InvalidRequest

    hooks_dir = install_hooks(tmp_path, monkeypatch, ["before_vm_start"], UNUSED_CONF)
    with pytest.raises(InvalidRequest, match="deploy the first host before joining"):
        join(tmp_domain.path, HostPaths(str(tmp_path / "etc"), hooks_dir=str(hooks_dir)), "hostX")


def test_the_engine_can_join_a_host_remotely_through_the_verb(tmp_path, tmp_health, sanlock_admin, monkeypatch):
    """Given a deployed domain and an unconfigured host whose daemon serves joinHost, when the verb is
    called, then the host gets an id and its configuration; other verbs say it is not deployed."""
    import signal
    import time

    from vdsm_hosted_engine.rpc.client import Client, ClientError

    dep = deployment(tmp_path, tmp_health, monkeypatch)
    daemon = SanlockDaemon(str(tmp_path / "sanlock5"), "he-test-join5")
    process = None
    try:
        dep.run()
        dep.runtime.destroy()
        daemon.start()
        etc = tmp_path / "etc5"
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vdsm_hosted_engine.daemon",
                "--unconfigured",
                "--config",
                str(etc / "hosted-engine.conf"),
                "--run-dir",
                str(tmp_path / "run5"),
                "--hooks-dir",
                str(tmp_path / "hooks"),
            ],
            env=daemon.env,
        )
        socket_path = tmp_path / "run5" / "hosted-engine.sock"
        for _ in range(100):
            if socket_path.exists():
                break
            time.sleep(0.1)
        client = Client.unix(str(socket_path))
        with pytest.raises(ClientError, match="not deployed"):
            client.call("HostedEngine.getStatus")
        result = client.call("HostedEngine.joinHost", {"storage": str(tmp_path / "domain"), "hostname": "host5"})
        client.close()
        assert config.load_host_config(str(etc / "hosted-engine.conf")).host_id == result["hostId"] != 1
    finally:
        if process is not None:
            process.send_signal(signal.SIGTERM)
            process.wait(10)
        daemon.stop(timeout=3)
        StorageDomain.open(str(tmp_path / "domain")).lockspace().leave(1)


def hook_missing(hooks_dir, reason):
    """The sentence deploy and join refuse with when `hooks_dir` lacks the lease hook."""
    return (
        f"the Engine VM's lease hook is not installed in hooks_dir {hooks_dir} ({reason}), so the Engine VM would "
        "start without its sanlock lease: install vdsm-hook-hosted-engine there or point hooks_dir at it"
    )


def test_join_refuses_a_host_without_the_lease_hook(tmp_path, tmp_health, sanlock_admin, monkeypatch):
    """Given a deployed domain, when a host joins with a hooks_dir that does not hold the lease hook
    (seen in the lab: `--deploy --join` took a default hooks_dir that did not exist, and after a
    failover that host ran the Engine VM with no lease), then join refuses with one sentence before it
    takes a host id or writes any configuration."""
    dep = deployment(tmp_path, tmp_health, monkeypatch)
    missing = tmp_path / "no-such-hooks"
    try:
        dep.run()
        dep.runtime.destroy()
        board = StorageDomain.open(str(tmp_path / "domain")).whiteboard()
        slots_before = board.read_bytes()
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "vdsm_hosted_engine.cli.hosted_engine",
                "--deploy",
                "--join",
                "--storage",
                str(tmp_path / "domain"),
                "--conf-dir",
                str(tmp_path / "etc2"),
                "--hostname",
                "host2",
                "--libvirt-uri",
                "test:///default",
                "--hooks-dir",
                str(missing),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (result.returncode, result.stdout) == (1, "")
        assert result.stderr == f"Failed: {hook_missing(missing, f'{missing} does not exist')}\n"
        assert not (tmp_path / "etc2").exists()
        assert board.read_bytes() == slots_before  # no host id claimed
    finally:
        StorageDomain.open(str(tmp_path / "domain")).lockspace().leave(1)


def test_deploy_refuses_a_hooks_dir_without_the_lease_hook(tmp_path, tmp_health, sanlock_admin, monkeypatch):
    dep = deployment(tmp_path, tmp_health, monkeypatch)
    script = tmp_path / "hooks" / "before_vm_start" / "50_hosted_engine"
    script.unlink()
    with pytest.raises(DeployError) as e:
        dep.run()
    assert str(e.value) == "nothing was changed, because:\n  " + hook_missing(
        tmp_path / "hooks", f"{script.parent} has no 50_hosted_engine"
    )
    assert os.listdir(tmp_path / "domain") == []
    assert dep.reporter.steps == []
