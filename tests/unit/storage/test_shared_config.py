"""The shared configuration file: versioned, checksummed, replaced atomically; damage refused."""

import re

import pytest

from vdsm_hosted_engine.errors import CorruptBlock, InvalidRequest, StorageUnavailable
from vdsm_hosted_engine.storage.shared_config import SharedConfig, render
from vdsm_hosted_engine.storage.shared_keys import checked


def test_set_get_and_version(tmp_path):
    conf = SharedConfig(str(tmp_path / "hosted-engine.conf"))
    assert conf.read() == ({}, 0)
    assert conf.set("notify.smtp-server", "mail.example.com") == 1
    assert conf.set("spare_hosts", "2") == 2
    assert conf.read() == ({"notify.smtp-server": "mail.example.com", "spare_hosts": "2"}, 2)
    assert conf.get("spare_hosts") == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hosted-engine.conf"]  # no temp file left


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("version", "9", "not a valid"),
        ("bad key", "x", "not a valid"),
        ("k", "two\nlines", "one line"),
        # Finding 4: each of these is a line end to `splitlines`: the crc failed on every later read.
        *(("k", f"a{c}b", "one line of printable characters") for c in "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\0"),
        ("k", "1\x0bhe.smtpPort=x", "one line"),  # an injected key
        ("k", "x" * 5000, "longer than 4096"),
        # Finding 3: a non-numeric port made every daemon exit at its next alert.
        ("he.smtpPort", "25a", "he.smtpPort: '25a': not an integer"),
        ("he.smtpPort", "70000", "must be <= 65535"),
        ("he.healthUrl", "file:///etc/shadow", "http:// or https://"),
        ("he.destEmails", "ops@example.com,nobody", "not an e-mail address"),
        ("vm.vmId", "not-a-uuid", "not a UUID"),
    ],
)
def test_bad_keys_and_values_change_nothing(tmp_path, key, value, message):
    conf = SharedConfig(str(tmp_path / "c"))
    conf.set("a", "1")
    before = (tmp_path / "c").read_bytes()
    with pytest.raises(InvalidRequest, match=message):
        conf.set(key, value)
    assert (tmp_path / "c").read_bytes() == before
    assert conf.read() == ({"a": "1"}, 1)


def test_values_of_known_keys_are_written_as_given(tmp_path):
    conf = SharedConfig(str(tmp_path / "c"))
    for key, value in (("he.smtpPort", "2525"), ("he.healthUrl", "https://engine.lab/health"), ("vm.cmdline", "a=b c")):
        conf.set(key, value)
    assert conf.read()[0] == {"he.smtpPort": "2525", "he.healthUrl": "https://engine.lab/health", "vm.cmdline": "a=b c"}


def test_the_temporary_file_cannot_be_prepared_by_someone_else(tmp_path):
    """Finding 9: the temporary file was `<conf>.<pid>.tmp`, opened following symlinks: whoever could
    write the storage made root overwrite a host file through a symlink."""
    import os

    victim = tmp_path / "victim"
    victim.write_text("host file\n")
    path = tmp_path / "c"
    for pid in range(os.getpid() - 5, os.getpid() + 5):
        os.symlink(victim, f"{path}.{pid}.tmp")
    conf = SharedConfig(str(path))
    conf.set("a", "1")
    assert victim.read_text() == "host file\n"
    assert conf.read() == ({"a": "1"}, 1)


def test_a_symlinked_shared_config_is_not_followed(tmp_path):
    (tmp_path / "elsewhere").write_text("a=1\n")
    (tmp_path / "c").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(StorageUnavailable, match="cannot read"):
        SharedConfig(str(tmp_path / "c")).read()


def test_damage_is_detected(tmp_path):
    conf = SharedConfig(str(tmp_path / "c"))
    conf.set("a", "1")
    text = (tmp_path / "c").read_text().replace("a=1", "a=2")
    (tmp_path / "c").write_text(text)
    with pytest.raises(CorruptBlock, match="bad crc32"):
        conf.read()
    (tmp_path / "c").write_text("a=1\n")
    with pytest.raises(CorruptBlock, match="no crc32 line"):
        conf.read()


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("he.smtpPort", "twenty-five", "he.smtpPort: 'twenty-five': not an integer"),
        ("he.smtpPort", "70000", "he.smtpPort: '70000': must be <= 65535"),
        ("he.smtpServer", "mail server", "not an IP address or a valid host name"),
        ("he.smtpSecurity", "tls", "must be one of none, starttls, ssl"),
        ("he.smtpUser", "two words", "without spaces"),
        ("he.sourceEmail", "root", "not an e-mail address"),
        ("he.destEmails", "ops@example.com,,nobody", "not an e-mail address"),
        ("he.destEmails", " , ", "one or more e-mail addresses"),
        ("he.notifyPattern", "up|(down", "not a regular expression"),
        ("he.notifyWindow", "-1", "must be >= 0"),
    ],
)
def test_notification_settings_are_checked_when_set(tmp_path, key, value, message):
    conf = SharedConfig(str(tmp_path / "c"))
    conf.set(key.replace("he.", "other."), value)  # the same value under an unchecked key is free text
    before = (tmp_path / "c").read_bytes()
    with pytest.raises(InvalidRequest, match=re.escape(message)):
        conf.set(key, value)
    assert (tmp_path / "c").read_bytes() == before


@pytest.mark.parametrize(
    "key, value",
    [
        ("he.smtpPort", "587"),
        ("he.smtpServer", ""),  # mail off
        ("he.smtpServer", "mail.example.com"),
        ("he.smtpSecurity", "starttls"),
        ("he.destEmails", "ops@example.com, dba@example.com"),
        ("he.notifyPattern", "maintenance|start|stop|migrate|up|down"),
        ("he.notifyWindow", "0"),
    ],
)
def test_good_notification_settings_are_stored(tmp_path, key, value):
    conf = SharedConfig(str(tmp_path / "c"))
    conf.set(key, value)
    assert conf.get(key) == value


def test_a_bad_value_stored_before_is_reported_by_its_reader(tmp_path):
    path = tmp_path / "c"
    path.write_text(render({"he.smtpPort": "abc"}, 1))  # a hand edit, or an older version's write
    values, _ = SharedConfig(str(path)).read()
    with pytest.raises(InvalidRequest, match=re.escape("he.smtpPort: 'abc': not an integer")):
        checked(values, "he.smtpPort", "25")
    assert checked({}, "he.smtpPort", "25") == 25
