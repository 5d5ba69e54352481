"""The shared configuration file: versioned, checksummed, replaced atomically; damage refused."""

import pytest

from vdsm_hosted_engine.errors import CorruptBlock, InvalidRequest
from vdsm_hosted_engine.storage.shared_config import SharedConfig


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
    [("version", "9", "not a valid"), ("bad key", "x", "not a valid"), ("k", "two\nlines", "one line")],
)
def test_bad_keys_and_values_change_nothing(tmp_path, key, value, message):
    conf = SharedConfig(str(tmp_path / "c"))
    conf.set("a", "1")
    before = (tmp_path / "c").read_bytes()
    with pytest.raises(InvalidRequest, match=message):
        conf.set(key, value)
    assert (tmp_path / "c").read_bytes() == before


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
