"""Deploy questions: every validator with bad input, the answer file, the prompt flow through stdin."""

import io
import os

import pytest

from vdsm_hosted_engine.deploy import answers as answer_file
from vdsm_hosted_engine.deploy import engine
from vdsm_hosted_engine.deploy.prompts import Prompts
from vdsm_hosted_engine.deploy.questions import BY_KEY, validate
from vdsm_hosted_engine.errors import ConfigError


@pytest.fixture
def tmp_layout(tmp_path):
    """A storage directory and an appliance image file."""
    (tmp_path / "domain").mkdir()
    (tmp_path / "appliance.qcow2").write_bytes(b"\0" * 512)
    return tmp_path


@pytest.mark.parametrize(
    "key, value, reason",
    [
        ("OVEHOSTED_STORAGE/path", "relative/dir", "must be an absolute path"),
        ("OVEHOSTED_STORAGE/path", "/nonexistent/dir", "does not exist or is not a directory"),
        ("OVEHOSTED_STORAGE/path", "", "must not be empty"),
        ("OVEHOSTED_STORAGE/ioTimeout", "ten", "must be a whole number"),
        ("OVEHOSTED_STORAGE/ioTimeout", "0", "must be between 1 and 60"),
        ("OVEHOSTED_NETWORK/gateway", "10.0.0.256", "is not an IP address"),
        ("OVEHOSTED_NETWORK/networkTest", "icmp", "must be one of ping, dns, tcp, none"),
        ("OVEHOSTED_NETWORK/bridgeName", "a-bridge-name-too-long", "not a network interface name"),
        ("OVEHOSTED_VM/applianceImage", "/nonexistent.qcow2", "is not an existing file"),
        ("OVEHOSTED_VM/vcpus", "100000", "must be between 1 and"),
        ("OVEHOSTED_VM/memMiB", "64", "must be between 128 and"),
        ("OVEHOSTED_VM/memMiB", str(10**6), "more than this host can give"),
        ("OVEHOSTED_VM/mac", "52:54:00:12:34:56", "00:16:3e"),
        ("OVEHOSTED_VM/fqdn", "bad_name!", "not an IP address or a valid host name"),
        ("OVEHOSTED_VM/fqdn", os.uname().nodename, "must not be this host's own name"),
        ("OVEHOSTED_VM/healthUrl", "ftp://engine/health", "must be an http:// or https:// URL"),
        ("OVEHOSTED_HA/spareHosts", "3", "must be between 0 and 2"),
        ("OVEHOSTED_NOTIF/destEmails", "ops@example.com, nope", "e-mail addresses"),
    ],
)
def test_validators_refuse_bad_answers_with_a_reason(key, value, reason):
    with pytest.raises(ValueError, match=reason):
        validate(BY_KEY[key], value, {})


def test_optional_answers_may_be_empty():
    assert validate(BY_KEY["OVEHOSTED_NOTIF/smtpServer"], "", {}) is None
    assert validate(BY_KEY["OVEHOSTED_VM/mac"], "00:16:3E:AA:bb:01", {}) == "00:16:3e:aa:bb:01"


def good_answer_file(tmp_layout):
    return (
        "# generated\n[environment:default]\n"
        f"OVEHOSTED_STORAGE/path=str:{tmp_layout}/domain\n"
        "OVEHOSTED_STORAGE/ioTimeout=int:1\n"
        "OVEHOSTED_NETWORK/gateway=str:192.168.222.1\n"
        "OVEHOSTED_NETWORK/networkTest=str:none\n"
        f"OVEHOSTED_VM/applianceImage=str:{tmp_layout}/appliance.qcow2\n"
        "OVEHOSTED_VM/memMiB=int:128\n"
        "OVEHOSTED_VM/fqdn=str:engine.lab\n"
        "OVEHOSTED_NOTIF/smtpServer=none:None\n"
    )


def test_answer_file_round_trip(tmp_layout):
    parsed = answer_file.parse(good_answer_file(tmp_layout), "a.conf")
    assert parsed["OVEHOSTED_STORAGE/ioTimeout"] == 1 and parsed["OVEHOSTED_NOTIF/smtpServer"] is None
    assert answer_file.parse(answer_file.render(parsed)) == parsed


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
    assert [str(p) for p in e.value.problems] == [
        "ans.conf:4: OVEHOSTED_NOPE/x: unknown key",
        "ans.conf:5: OVEHOSTED_VM/fqdn: 'text:engine': type must be one of str, int, bool, none",
        "ans.conf:6: OVEHOSTED_STORAGE/ioTimeout: duplicate key (first on line 2)",
        "ans.conf:7: [otherstuff]: unknown section (only [environment:default])",
        "ans.conf:2: OVEHOSTED_STORAGE/ioTimeout: '99': must be between 1 and 60",
        "ans.conf:3: OVEHOSTED_VM/memMiB: 'str:4096': type must be int",
    ]


def test_prompt_flow_through_stdin_reasks_with_the_reason(tmp_layout):
    lines = [
        "",  # storage type: default dir
        "relative/path",
        f"{tmp_layout}/domain",  # storage path: refused, then accepted
        "",  # io_timeout: default 10
        "192.168.222.1",  # gateway
        "tcp",
        "",  # network test tcp; its target defaults to the gateway
        "99999",
        "443",  # tcp port: refused, then accepted
        "",  # bridge default
        f"{tmp_layout}/appliance.qcow2",
        "1",
        "128",
        "",
        "",
        "engine.lab",
        "",  # vm
        "",
        "",  # ha defaults
        "",  # no smtp server: the other notification questions are skipped
        "maybe",
        "yes",  # confirm
    ]
    out = io.StringIO()
    result = engine.collect(Prompts(io.StringIO("\n".join(lines) + "\n"), out))
    text = out.getvalue()
    assert "  [ERROR] must be an absolute path" in text
    assert "  [ERROR] must be between 1 and 65535" in text
    assert "  [ERROR] answer Yes or No" in text
    assert "--== STORAGE ==--" in text and "--== CONFIGURATION PREVIEW ==--" in text
    assert result["OVEHOSTED_NETWORK/networkTestTarget"] == "192.168.222.1"
    assert result["OVEHOSTED_NETWORK/networkTestPort"] == 443
    assert result["OVEHOSTED_VM/healthUrl"] == "http://engine.lab/ovirt-engine/services/health"
    assert result["OVEHOSTED_VM/mac"].startswith("00:16:3e:")
    assert "OVEHOSTED_NOTIF/smtpPort" not in result


def test_answered_questions_are_not_asked_and_declining_changes_nothing(tmp_layout):
    preset = answer_file.parse(good_answer_file(tmp_layout))
    out = io.StringIO()
    # Seven questions remain (bridge, vcpus, disk, MAC, health URL, priority, spares): accept their
    # defaults, then decline the summary.
    with pytest.raises(engine.DeployAborted, match="nothing was changed"):
        engine.collect(Prompts(io.StringIO("\n" * 7 + "no\n"), out), preset)
    asked = out.getvalue()
    questions_part = asked.split("CONFIGURATION PREVIEW")[0]
    assert "Storage domain path" not in questions_part and questions_part.count("]: ") == 7


def test_input_ending_early_aborts():
    with pytest.raises(engine.DeployAborted, match="input ended"):
        engine.collect(Prompts(io.StringIO(""), io.StringIO()))
