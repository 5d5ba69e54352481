"""What this host can give: mounts and cgroup limits read from files laid out as the kernel does."""

from vdsm_hosted_engine.deploy import machine

MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
23 22 0:21 / /proc rw,nosuid shared:12 - proc proc rw
24 22 0:5 / /dev/shm rw shared:3 - tmpfs tmpfs rw
40 22 0:44 / /mnt/he rw,relatime shared:30 - nfs4 nfs:/export/he rw,vers=4.2
41 40 0:45 / /mnt/he/sub\\040dir rw shared:31 - fuse.glusterfs gl:/vol rw
"""


def test_the_mount_holding_a_path_is_the_longest_mount_point():
    assert machine.mount_of("/mnt/he/x", MOUNTINFO) == ("/mnt/he", "nfs4")
    assert machine.mount_of("/mnt/he", MOUNTINFO) == ("/mnt/he", "nfs4")
    assert machine.mount_of("/mnt/he/sub dir/y", MOUNTINFO) == ("/mnt/he/sub dir", "fuse.glusterfs")
    assert machine.mount_of("/mnt/hex", MOUNTINFO) == ("/", "ext4")
    assert machine.mount_of("/proc/1", MOUNTINFO) == ("/proc", "proc")


def test_cgroup_directories_v1_and_v2(tmp_path):
    (tmp_path / "cgroup").write_text("4:memory:/lab/host1\n1:cpu,cpuacct:/lab/host1\n0::/\n")
    (tmp_path / "root" / "unified").mkdir(parents=True)
    dirs = machine.cgroup_dirs("memory", str(tmp_path / "cgroup"), str(tmp_path / "root"))
    root = tmp_path / "root"
    assert dirs == [
        str(root / "memory/lab/host1"),
        str(root / "memory/lab"),
        str(root / "memory"),
        str(root / "unified"),
    ]
    assert machine.cgroup_dirs("cpu", str(tmp_path / "cgroup"), str(root))[0] == str(root / "cpu,cpuacct/lab/host1")


def test_a_cgroup_limit_bounds_what_the_host_can_give(tmp_path):
    """A lab host (a cgroup with 2 GiB and one CPU's quota) can give no more than its cgroup allows,
    however much the machine has (seen: memory checked against the whole machine)."""
    host, top = tmp_path / "host", tmp_path / "top"
    host.mkdir()
    top.mkdir()
    (host / "memory.limit_in_bytes").write_text(str(2 * 1024**3))
    (host / "memory.usage_in_bytes").write_text(str(512 * 1024**2))
    (top / "memory.limit_in_bytes").write_text("9223372036854771712")  # v1 "unlimited"
    (top / "memory.usage_in_bytes").write_text("1")
    assert machine.cgroup_memory_left_mib([str(host), str(top)]) == 1536
    assert machine.cgroup_memory_left_mib([str(top)]) is None
    (host / "cpu.cfs_quota_us").write_text("100000")
    (host / "cpu.cfs_period_us").write_text("100000")
    (top / "cpu.max").write_text("max 100000")
    assert machine.cgroup_cpus([str(host), str(top)]) == 1
    (top / "cpu.max").write_text("250000 100000")
    assert machine.cgroup_cpus([str(top)]) == 3
    assert machine.cgroup_cpus([str(tmp_path / "none")]) is None


def test_kvm_only_where_the_cpu_and_dev_kvm_offer_it(tmp_path):
    """Seen: the default kvm domain type hung a guest at 100 % CPU on a host without vmx/svm."""
    plain = tmp_path / "cpuinfo-plain"
    plain.write_text("processor\t: 0\nflags\t\t: fpu sse2 hypervisor\n")
    vmx = tmp_path / "cpuinfo-vmx"
    vmx.write_text("processor\t: 0\nflags\t\t: fpu vmx sse2\n")
    not_kvm = tmp_path / "kvm"
    not_kvm.write_text("")
    assert machine.virtualization(str(plain), "/dev/kvm") == (
        "qemu",
        "the CPU offers no hardware virtualization (no vmx/svm flag): TCG emulation, slower",
    )
    kind, why = machine.virtualization(str(vmx), str(tmp_path / "missing"))
    assert kind == "qemu" and why.startswith(f"{tmp_path}/missing cannot be opened")
    kind, why = machine.virtualization(str(vmx), str(not_kvm))
    assert kind == "qemu" and why.startswith(f"{not_kvm} does not answer")
