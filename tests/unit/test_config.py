"""hosted-engine.conf and agent.conf: schema, defaults, every problem reported at once."""

import pytest

from vdsm_hosted_engine import config
from vdsm_hosted_engine.config import HostConfig, ScoreConfig
from vdsm_hosted_engine.errors import ConfigError

GOOD = """\
# written by hosted-engine --deploy
host_id=2
storage=/srv/he/domain
sdUUID=0e3d5ad2-5d6a-4bb8-9b46-53b59ec8c1f4
vmid = 7d2b9a3c-6c3e-4ac5-bd6c-1d1b7c5b2b6e
gateway=192.168.222.1
fqdn=engine.lab
network_test=tcp
tcp_t_address=192.168.222.1
tcp_t_port=80
priority=10
sanlock_run_dir=/var/tmp/he-lab/host2/run/sanlock
"""


def test_reads_ovirt_keys_and_ours():
    c = config.parse_host_config(GOOD, "/etc/x.conf")
    assert c == HostConfig(
        host_id=2,
        storage="/srv/he/domain",
        sd_uuid="0e3d5ad2-5d6a-4bb8-9b46-53b59ec8c1f4",
        vmid="7d2b9a3c-6c3e-4ac5-bd6c-1d1b7c5b2b6e",
        gateway="192.168.222.1",
        fqdn="engine.lab",
        network_test="tcp",
        tcp_t_address="192.168.222.1",
        tcp_t_port=80,
        priority=10,
        sanlock_run_dir="/var/tmp/he-lab/host2/run/sanlock",
    )
    assert c.bridge == "ovirtmgmt" and c.libvirt_uri == "qemu:///system"


def test_render_round_trips():
    c = config.parse_host_config(GOOD)
    assert config.parse_host_config(config.render_host_config(c)) == c


def test_spare_hosts_is_written_and_read():
    """spare_hosts had no key: deploy's answer (and join's he.spareHosts) was dropped when the file was
    rendered, so every host kept the Engine's RAM free on 1 spare host whatever was asked."""
    from dataclasses import replace

    c = replace(config.parse_host_config(GOOD), spare_hosts=3)
    assert "spare_hosts=3" in config.render_host_config(c)
    assert config.parse_host_config(config.render_host_config(c)).spare_hosts == 3


def test_every_problem_is_reported_with_file_line_and_key():
    text = (
        "host_id=0\nbogus=1\nstorage=relative/path\nno equals sign\n"
        "bridge=ovirtmgmt\nbridge=br0\ngateway=10.0.0.300\n[score]\n"
    )
    with pytest.raises(ConfigError) as e:
        config.parse_host_config(text, "/etc/he.conf")
    assert [str(p) for p in e.value.problems] == [
        "/etc/he.conf:1: host_id: '0': must be >= 1",
        "/etc/he.conf:2: bogus: unknown key",
        "/etc/he.conf:3: storage: 'relative/path': must be an absolute path or server:/path",
        "/etc/he.conf:4: no equals sign: not a key=value line",
        "/etc/he.conf:6: bridge: duplicate key (first on line 5)",
        "/etc/he.conf:7: gateway: '10.0.0.300': not an IP address",
        "/etc/he.conf:8: [score]: unexpected section header",
        "/etc/he.conf: vmid: required key is missing",
    ]
    assert "invalid configuration:\n  /etc/he.conf:1: host_id" in str(e.value)


def test_required_keys_and_tcp_test_needs_target():
    with pytest.raises(ConfigError) as e:
        config.parse_host_config("network_test=tcp\n", "f")
    assert [str(p) for p in e.value.problems] == [
        "f: host_id: required key is missing",
        "f: storage: required key is missing",
        "f: vmid: required key is missing",
        "f: network_test: 'tcp': tcp needs tcp_t_address and tcp_t_port",
    ]


def test_vmid_is_required():
    """Without it the lease hook cannot tell the Engine VM's domxml and leaves it without a lease."""
    text = GOOD.replace("vmid = 7d2b9a3c-6c3e-4ac5-bd6c-1d1b7c5b2b6e\n", "")
    with pytest.raises(ConfigError) as e:
        config.parse_host_config(text, "/etc/ovirt-hosted-engine/hosted-engine.conf")
    assert [str(p) for p in e.value.problems] == [
        "/etc/ovirt-hosted-engine/hosted-engine.conf: vmid: required key is missing"
    ]
    with pytest.raises(ConfigError, match=r"he.conf:2: vmid: '': not a UUID"):
        config.parse_host_config("host_id=1\nvmid=\nstorage=/d\n", "he.conf")


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="nope.conf: -: file not found"):
        config.load_host_config(str(tmp_path / "nope.conf"))
    bad = tmp_path / "bin.conf"
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match="cannot read"):
        config.load_host_config(str(bad))


def test_score_defaults_are_ovirts(tmp_path):
    assert config.load_agent_config(str(tmp_path / "absent.conf")) == config.AgentSettings(ScoreConfig(), {})
    assert ScoreConfig() == ScoreConfig(3400, 1600, 1000, 600, 400, 1000, 50, 0.4, 0.9)


def test_score_section_overrides_and_errors():
    s = config.parse_agent_config("[score]\nbase-score=2000\ncpu-load-penalty-min=0.5\n").score
    assert (s.base, s.cpu_load_min, s.gateway_penalty) == (2000, 0.5, 1600)
    with pytest.raises(ConfigError) as e:
        config.parse_agent_config(
            "base-score=1\n[score]\nbase-score=abc\ncpu-load-penalty-max=0.3\nwhat=1\n[other]\nx=1\n", "a.conf"
        )
    assert [str(p) for p in e.value.problems] == [
        "a.conf:1: base-score: unknown key outside any section",
        "a.conf:7: x: unknown key [other]",
        "a.conf:3: base-score: 'abc': not an integer",
        "a.conf:5: what: unknown key",
        "a.conf: cpu-load-penalty-min: '0.4': must be below cpu-load-penalty-max (0.3)",
    ]


def test_timeouts_section_overrides_only_what_it_names():
    from vdsm_hosted_engine.ha.fsm import Timeouts

    settings = config.parse_agent_config("[timeouts]\nengine-bad-health-timeout=30\nlocal-restarts=1\n")
    assert settings.timeouts == {"health": 30.0, "local_restarts": 1}
    timeouts = Timeouts(**settings.timeouts)
    assert (timeouts.health, timeouts.local_restarts, timeouts.stop) == (30.0, 1, Timeouts().stop)
    with pytest.raises(ConfigError, match="engine-stop-timeout.*between|engine-stop-timeout"):
        config.parse_agent_config("[timeouts]\nengine-stop-timeout=0\n")


@pytest.mark.parametrize(
    "line, reason",
    [
        ("network_test=icmp", "must be one of ping, dns, tcp, none"),
        ("vmid=not-a-uuid", "not a UUID"),
        ("bridge=this-name-is-too-long", "not a network interface name"),
        ("fqdn=bad_host!", "not an IP address or a valid host name"),
        ("tcp_t_port=70000", "must be <= 65535"),
        ("priority=x", "not an integer"),
        ("libvirt_uri=", "must not be empty"),
        # Low findings of issue 14: both passed --validate-config, then failed at start-up or later.
        ("health_url=file:///etc/shadow", "must be an http:// or https:// URL"),
        ("rpc_allowed_subjects=engine.lab,,host1.lab", "must be names separated by commas"),
        ("rpc_listen=plain\nrpc_address=0.0.0.0", "rpc_listen=plain \\(no TLS\\) needs a loopback address"),
    ],
)
def test_bad_values(line, reason):
    with pytest.raises(ConfigError, match=reason):
        config.parse_host_config(f"host_id=1\nstorage=/d\n{line}\n")  # (and vmid missing: every problem is listed)
