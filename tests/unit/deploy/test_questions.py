"""Deploy questions: every validator with bad input, the answer file, the prompt flow through stdin."""

import io
import os
import socket

import pytest

from vdsm_hosted_engine.deploy import answers as answer_file
from vdsm_hosted_engine.deploy import engine
from vdsm_hosted_engine.deploy.prompts import Prompts
from vdsm_hosted_engine.deploy.questions import BY_KEY, validate
from vdsm_hosted_engine.deploy.validators import Context
from vdsm_hosted_engine.errors import ConfigError

# The tests' storage is a local directory; libvirt's test driver plugs no NIC into the bridge.
LOCAL = Context(allow_local_storage=True, domain_type="test")


@pytest.fixture
def tmp_layout(tmp_path):
    """A storage directory and an appliance image (raw, with an MBR partition table)."""
    (tmp_path / "domain").mkdir()
    (tmp_path / "appliance.qcow2").write_bytes(b"\0" * 510 + b"\x55\xaa")
    return tmp_path


@pytest.mark.parametrize(
    "key, value, reason",
    [
        ("OVEHOSTED_STORAGE/path", "relative/dir", "relative/dir is not an absolute path"),
        ("OVEHOSTED_STORAGE/path", "/nonexistent/dir", "/nonexistent/dir does not exist or is not a directory"),
        ("OVEHOSTED_STORAGE/path", "", "the answer must not be empty"),
        ("OVEHOSTED_STORAGE/ioTimeout", "ten", "'ten' is not a whole number"),
        ("OVEHOSTED_STORAGE/ioTimeout", "0", "0 s is out of range: must be between 1 and 60"),
        ("OVEHOSTED_NETWORK/gateway", "10.0.0.256", "'10.0.0.256' is not an IP address"),
        ("OVEHOSTED_NETWORK/networkTest", "icmp", "'icmp' is not one of ping, dns, tcp, none"),
        ("OVEHOSTED_NETWORK/bridgeName", "a-bridge-name-too-long", "'a-bridge-name-too-long' is not a network"),
        ("OVEHOSTED_VM/applianceImage", "/nonexistent.qcow2", "/nonexistent.qcow2 is not an existing file"),
        ("OVEHOSTED_VM/vcpus", "512", "512 vCPUs are more than this host can give"),
        ("OVEHOSTED_VM/memMiB", "64", "64 MiB is out of range: must be between 128 and"),
        ("OVEHOSTED_VM/memMiB", str(10**6), "1000000 MiB is more than this host can give"),
        ("OVEHOSTED_VM/mac", "52:54:00:12:34", "'52:54:00:12:34' is not a MAC address"),
        ("OVEHOSTED_VM/mac", "01:00:5e:00:00:01", "01:00:5e:00:00:01 is a multicast MAC address"),
        ("OVEHOSTED_VM/fqdn", "bad_name!", "'bad_name!' is not an IP address or a valid host name"),
        ("OVEHOSTED_VM/fqdn", os.uname().nodename, "is this host's own name"),
        ("OVEHOSTED_VM/fqdn", "engine.no-such-domain.invalid", "engine.no-such-domain.invalid does not resolve"),
        ("OVEHOSTED_VM/healthUrl", "ftp://engine/health", "ftp://engine/health is not an http:// or https:// URL"),
        ("OVEHOSTED_HA/spareHosts", "3", "3 is out of range: must be between 0 and 2"),
        ("OVEHOSTED_NOTIF/destEmails", "ops@example.com, nope", "'ops@example.com, nope' is not one or more e-mail"),
    ],
)
def test_validators_refuse_bad_answers_with_a_reason(key, value, reason):
    with pytest.raises(ValueError, match=reason):
        validate(BY_KEY[key], value, {})


def test_optional_answers_may_be_empty():
    assert validate(BY_KEY["OVEHOSTED_NOTIF/smtpServer"], "", {}) is None
    assert validate(BY_KEY["OVEHOSTED_VM/mac"], "00:16:3E:AA:bb:01", {}) == "00:16:3e:aa:bb:01"
    assert validate(BY_KEY["OVEHOSTED_VM/mac"], "52:54:00:12:34:56", {}) == "52:54:00:12:34:56"


def good_answer_file(tmp_layout):
    return (
        "# generated\n[environment:default]\n"
        f"OVEHOSTED_STORAGE/path=str:{tmp_layout}/domain\n"
        "OVEHOSTED_STORAGE/ioTimeout=int:1\n"
        "OVEHOSTED_NETWORK/gateway=str:192.168.222.1\n"
        "OVEHOSTED_NETWORK/networkTest=str:none\n"
        f"OVEHOSTED_VM/applianceImage=str:{tmp_layout}/appliance.qcow2\n"
        "OVEHOSTED_VM/memMiB=int:128\n"
        "OVEHOSTED_VM/fqdn=str:192.0.2.10\n"
        "OVEHOSTED_VM/cloudInit=bool:False\n"
        "OVEHOSTED_NOTIF/smtpServer=none:None\n"
    )


def test_answer_file_round_trip(tmp_layout):
    parsed = answer_file.parse(good_answer_file(tmp_layout), "a.conf", LOCAL)
    assert parsed["OVEHOSTED_STORAGE/ioTimeout"] == 1 and parsed["OVEHOSTED_NOTIF/smtpServer"] is None
    assert answer_file.parse(answer_file.render(parsed), "b.conf", LOCAL) == parsed


def test_answer_file_problems_are_all_reported_with_file_and_line(tmp_layout):
    text = (
        "[environment:default]\n"
        "OVEHOSTED_STORAGE/ioTimeout=int:99\n"
        "OVEHOSTED_VM/memMiB=str:4096\n"
        "OVEHOSTED_NOPE/x=str:1\n"
        "OVEHOSTED_VM/fqdn=text:engine\n"
        "OVEHOSTED_STORAGE/ioTimeout=int:5\n"
        "[otherstuff]\n"
    )
    with pytest.raises(ConfigError) as e:
        answer_file.parse(text, "ans.conf")
    # In line order: the per-line problems and the validators' together.
    assert [str(p) for p in e.value.problems] == [
        "ans.conf:2: OVEHOSTED_STORAGE/ioTimeout: '99': 99 s is out of range: must be between 1 and 60",
        "ans.conf:3: OVEHOSTED_VM/memMiB: 'str:4096': type must be int",
        "ans.conf:5: OVEHOSTED_VM/fqdn: 'text:engine': type must be one of str, int, bool, none",
        "ans.conf:6: OVEHOSTED_STORAGE/ioTimeout: duplicate key (first on line 2)",
        "ans.conf:7: [otherstuff]: unknown section (only [environment:default])",
    ]


def test_an_ovirt_answer_file_is_read_and_its_other_keys_ignored_with_one_warning_each(tmp_layout):
    """Given an answer file as oVirt's hosted-engine --deploy writes it (seen refused as "unknown key"),
    then the keys that mean our questions are taken whatever type oVirt gave them, unset ones are
    skipped, and every other key is ignored with one warning that names it and its line."""
    text = good_answer_file(tmp_layout).replace("OVEHOSTED_VM/memMiB=int:128\n", "").replace(
        "OVEHOSTED_VM/fqdn=str:192.0.2.10\n", ""
    ) + (
        "OVEHOSTED_VM/vmMemSizeMB=int:256\n"
        "OVEHOSTED_VM/vmVCpus=str:1\n"
        "OVEHOSTED_NETWORK/fqdn=str:192.0.2.11\n"
        "OVEHOSTED_NETWORK/network_test_tcp_port=none:None\n"
        "OVEHOSTED_VM/cloudinitRootPwd=str:s3cret-pw\n"
        "OVEHOSTED_VM/automateVMShutdown=bool:True\n"
        "OVEHOSTED_CORE/deployProceed=bool:True\n"
    ).replace("OVEHOSTED_VM/cloudInit=bool:False", "OVEHOSTED_VM/cloudInit=bool:True")
    read = answer_file.read(text, "ovirt.conf", LOCAL)
    assert read.answers["OVEHOSTED_VM/memMiB"] == 256 and read.answers["OVEHOSTED_VM/vcpus"] == 1
    assert read.answers["OVEHOSTED_VM/fqdn"] == "192.0.2.11"
    assert "OVEHOSTED_NETWORK/networkTestPort" not in read.answers
    assert read.answers["OVEHOSTED_VM/rootPassword"].startswith("$6$")  # oVirt's clear text, hashed
    assert read.warnings == [
        "ovirt.conf:15: OVEHOSTED_VM/automateVMShutdown: ignored (not a question of this deploy)",
        "ovirt.conf:16: OVEHOSTED_CORE/deployProceed: ignored (not a question of this deploy)",
    ]
    assert "s3cret-pw" not in answer_file.render(read.answers, keep_secrets=True)
    assert "rootPassword" not in answer_file.render(read.answers)  # kept only when asked


def test_prompt_flow_through_stdin_reasks_with_the_reason(tmp_layout):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    lines = [
        "",  # storage type: default dir
        "relative/path",
        f"{tmp_layout}/domain",  # storage path: refused, then accepted
        "",  # io_timeout: default 10
        "tcp",
        "127.0.0.1",  # network test tcp, gateway; the test's target defaults to the gateway
        "",
        "99999",
        str(port),  # tcp port: refused, then accepted (the test connects to it at its question)
        "",  # bridge default
        f"{tmp_layout}/appliance.qcow2",
        "1",
        "128",
        "",
        "",
        "engine.lab",
        "192.0.2.10",  # an FQDN that does not resolve is refused; an IP is taken
        "",  # cloud-init: yes
        "dhcp",  # its network (static is the default for an IP)
        "short",
        "s3cret-pw",  # root password: refused (too short), then taken (hashed)
        "not a key",
        "",  # ssh key: refused, then none
        "",  # no setup script
        "",  # vm
        "",
        "",  # ha defaults
        "",  # no smtp server: the other notification questions are skipped
        "maybe",
        "yes",  # confirm
    ]
    out = io.StringIO()
    with listener:
        result = engine.collect(Prompts(io.StringIO("\n".join(lines) + "\n"), out), context=LOCAL)
    text = out.getvalue()
    assert "  [ERROR] relative/path is not an absolute path" in text
    assert "  [ERROR] 99999 is out of range: must be between 1 and 65535" in text
    assert "  [ERROR] engine.lab does not resolve" in text
    assert "  [ERROR] the root password is too short" in text and "s3cret-pw" not in text
    assert result["OVEHOSTED_VM/rootPassword"].startswith("$6$") and result["OVEHOSTED_VM/rootSshPubkey"] is None
    assert "Engine VM root password (empty: none)                       : (set)" in text
    assert "  [ERROR] answer Yes or No" in text
    assert "--== STORAGE ==--" in text and "--== CONFIGURATION PREVIEW ==--" in text
    assert result["OVEHOSTED_NETWORK/networkTestTarget"] == "127.0.0.1"
    assert result["OVEHOSTED_NETWORK/networkTestPort"] == port
    assert result["OVEHOSTED_VM/healthUrl"] == "http://192.0.2.10/ovirt-engine/services/health"
    assert result["OVEHOSTED_VM/mac"].startswith("00:16:3e:")
    assert "OVEHOSTED_NOTIF/smtpPort" not in result


def test_answered_questions_are_not_asked_and_declining_changes_nothing(tmp_layout):
    preset = answer_file.parse(good_answer_file(tmp_layout), "a.conf", LOCAL)
    out = io.StringIO()
    # Seven questions remain (bridge, vcpus, disk, MAC, health URL, priority, spares): accept their
    # defaults, then decline the summary.
    with pytest.raises(engine.DeployAborted, match="nothing was changed"):
        engine.collect(Prompts(io.StringIO("\n" * 7 + "no\n"), out), preset, LOCAL)
    asked = out.getvalue()
    questions_part = asked.split("CONFIGURATION PREVIEW")[0]
    assert "Storage domain path" not in questions_part and questions_part.count("]: ") == 7


def test_input_ending_early_aborts():
    with pytest.raises(engine.DeployAborted, match="input ended"):
        engine.collect(Prompts(io.StringIO(""), io.StringIO()))


def test_the_health_url_default_waits_for_the_fqdn():
    """Seen: the TUI showed http://None/... until an FQDN was typed."""
    question = BY_KEY["OVEHOSTED_VM/healthUrl"]
    assert question.default_for({}) is None
    assert question.default_for({"OVEHOSTED_VM/fqdn": "192.0.2.10"}) == (
        "http://192.0.2.10/ovirt-engine/services/health"
    )
