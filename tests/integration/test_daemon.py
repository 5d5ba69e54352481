"""The daemon built in this process (nothing started): how it wires its parts."""

from pathlib import Path

from tests.integration.cli.test_daemon_cli import VM_ID, host_conf_text
from tests.integration.conftest import install_hooks
from vdsm_hosted_engine import config as config_
from vdsm_hosted_engine.daemon import Daemon


def read_chars() -> int:
    """Bytes this process has read through read(2)-family calls so far (/proc/self/io rchar)."""
    line = next(x for x in Path("/proc/self/io").read_text().splitlines() if x.startswith("rchar:"))
    return int(line.split()[1])


def test_the_storage_probe_reads_one_block_not_the_whole_whiteboard(tmp_path, tmp_domain, monkeypatch):
    """The agent reads the whole 8 MiB area each tick; the storage monitor must not read it again."""
    (tmp_path / "vm.conf").write_text(f"vmId={VM_ID}\nmemSize=128\nsmp=1\ndomainType=test\n")
    conf_text = host_conf_text(tmp_path, tmp_domain.path)
    install_hooks(tmp_path, monkeypatch, ["before_vm_start", "after_vm_destroy"], conf_text)
    daemon = Daemon(config_.load_host_config(str(tmp_path / "hosted-engine.conf")), config_.parse_agent_config(""))
    monitor = daemon.broker.monitors["storage"]
    before = read_chars()
    result = monitor.probe()
    read = read_chars() - before
    assert result["ok"] is not None and result["delay"] is not None, result
    assert read < 64 * 1024, f"the probe read {read} bytes"
