"""`make rpm` builds both packages, and they hold what VDSM and systemd expect (rpm -ql, -qR, rpmlint)."""

import os
import pathlib
import shutil
import subprocess

import pytest

import vdsm_hosted_engine

ROOT = pathlib.Path(__file__).parents[2]
VERSION = vdsm_hosted_engine.__version__
HOOKS = "/usr/libexec/vdsm/hooks"

pytestmark = pytest.mark.skipif(
    shutil.which("rpmbuild") is None, reason="rpmbuild is not installed (Debian package 'rpm'): RPM checks skipped"
)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The RPMs built from this tree by scripts/build-rpm.sh (what `make rpm` runs)."""
    topdir = tmp_path_factory.mktemp("rpm")
    env = {**os.environ, "RPM_TOPDIR": str(topdir), "PYTHON": str(ROOT / ".venv" / "bin" / "python")}
    if not os.path.exists(env["PYTHON"]):
        env["PYTHON"] = "python3"
    result = subprocess.run(
        [str(ROOT / "scripts" / "build-rpm.sh")], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    rpms = {pathlib.Path(line).name: line for line in result.stdout.split()}
    return {
        "main": rpms[f"vdsm-hosted-engine-{VERSION}-1.noarch.rpm"],
        "hook": rpms[f"vdsm-hook-hosted-engine-{VERSION}-1.noarch.rpm"],
        "src": rpms[f"vdsm-hosted-engine-{VERSION}-1.src.rpm"],
    }


def rpm(*args):
    return subprocess.run(["rpm", *args], capture_output=True, text=True, check=True).stdout.split("\n")


def test_main_package_files(built):
    files = set(rpm("-qlp", built["main"]))
    site = [f for f in files if f.endswith("/site-packages/vdsm_hosted_engine")]
    assert len(site) == 1
    for path in (
        "/usr/sbin/vdsm-hosted-engine",
        "/usr/bin/hosted-engine",
        "/usr/bin/hosted-engine-lab",
        "/usr/lib/systemd/system/vdsm-hosted-engine.service",
        "/usr/lib/tmpfiles.d/vdsm-hosted-engine.conf",
        "/etc/logrotate.d/vdsm-hosted-engine",
        "/etc/ovirt-hosted-engine-ha/agent.conf",
        "/var/log/vdsm-hosted-engine",
        "/run/vdsm-hosted-engine",
        site[0] + "/verbs/vdsm-api-hosted-engine.yml",
        site[0] + "/verbs/vdsm-events-hosted-engine.yml",
        site[0] + "/daemon.py",
    ):
        assert path in files, path
    docs = [f for f in files if "/doc/vdsm-hosted-engine" in f and f.endswith("/monitoring")]
    assert len(docs) == 1, "the Prometheus alert rules and Grafana dashboard are shipped as docs"
    assert {docs[0] + "/hosted-engine-alerts.yml", docs[0] + "/grafana-dashboard.json"} <= files
    configs = set(rpm("-qcp", built["main"]))
    assert {"/etc/ovirt-hosted-engine-ha/agent.conf", "/etc/logrotate.d/vdsm-hosted-engine"} <= configs


def test_the_merged_schema_follows_vdsm_installs_and_upgrades(built):
    """Installed, on vdsm's install or upgrade (file trigger on its schema pickles) and on ours, the
    verbs are merged into the schema vdsm-client reads first; removed with us or with vdsm."""
    scripts = "\n".join(rpm("-qp", "--scripts", built["main"]))
    assert "vdsm_hosted_engine.cli.vdsm_schema install" in scripts.split("preuninstall")[0]
    assert "vdsm_hosted_engine.cli.vdsm_schema remove" in scripts
    triggers = "\n".join(rpm("-qp", "--filetriggers", built["main"]))
    site = next(f for f in rpm("-qlp", built["main"]) if f.endswith("/site-packages/vdsm_hosted_engine"))
    vdsm_rpc = site.replace("/vdsm_hosted_engine", "/vdsm/rpc")
    assert f"transfiletriggerin scriptlet (using /bin/sh) -- {vdsm_rpc}" in triggers
    assert f"transfiletriggerpostun scriptlet (using /bin/sh) -- {vdsm_rpc}" in triggers
    assert "vdsm_hosted_engine.cli.vdsm_schema install" in triggers


def test_hook_package_has_executables_at_the_hook_points_and_owns_no_directory(built):
    listing = [line.split() for line in rpm("-qlvp", built["hook"]) if line]
    assert sorted(entry[-1] for entry in listing) == [
        f"{HOOKS}/after_vm_destroy/50_hosted_engine",
        f"{HOOKS}/before_vm_migrate_destination/50_hosted_engine",
        f"{HOOKS}/before_vm_start/50_hosted_engine",
    ]
    assert all(entry[0] == "-rwxr-xr-x" for entry in listing)
    requires = set(rpm("-qpR", built["hook"]))
    assert "vdsm" in requires and f"vdsm-hosted-engine = {VERSION}-1" in requires


def test_dependencies(built):
    requires = {line.split()[0] for line in rpm("-qpR", built["main"]) if line and not line.startswith("rpmlib(")}
    assert {
        "python3",
        "python3-libvirt",
        "python3-sanlock",
        "python3-lxml",
        "python3-pyyaml",
        "python3-prometheus_client",
        "sanlock",
        "libvirt-daemon-driver-qemu",
        "libvirt-lock-sanlock",
        "qemu-img",
        "genisoimage",
        "openssl",
        "logrotate",
    } <= requires


def test_rpmlint_finds_no_errors(built):
    if shutil.which("rpmlint") is None:
        pytest.skip("rpmlint is not installed (Debian package 'rpmlint')")
    result = subprocess.run(
        ["rpmlint", "-r", str(ROOT / "spec" / "vdsm-hosted-engine.rpmlintrc"), *built.values()],
        capture_output=True,
        text=True,
    )
    assert " 0 errors" in result.stdout, result.stdout
