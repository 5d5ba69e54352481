"""The lease hook's entry point on files: any other VM passes untouched whatever is wrong; the
Engine VM fails closed (exit 2)."""

import pathlib

import pytest

from vdsm_hosted_engine.hooks import lease_hook

DATA = pathlib.Path(__file__).parents[2] / "data" / "domxml"
VM = "7d2b9a3c-6c3e-4ac5-bd6c-1d1b7c5b2b6e"
OTHER = "11111111-2222-3333-4444-555555555555"
CONF = f"host_id=1\nstorage=/srv/he\nvmid={VM}\n"


def run(tmp_path, monkeypatch, domxml: bytes, conf: str | None = CONF):
    """(exit code, the domxml file afterwards)."""
    path = tmp_path / "domxml"
    path.write_bytes(domxml)
    monkeypatch.setenv("_hook_domxml", str(path))
    monkeypatch.setenv("HOSTED_ENGINE_CONF", str(tmp_path / "hosted-engine.conf"))
    if conf is not None:
        (tmp_path / "hosted-engine.conf").write_text(conf)
    return lease_hook.main(), path.read_bytes()


def other_vm(inside: bytes = b"") -> bytes:
    return b"<domain type='kvm'><name>web</name><uuid>" + OTHER.encode() + b"</uuid>" + inside + b"<devices/></domain>"


@pytest.mark.parametrize(
    "domxml, conf",
    [
        pytest.param(other_vm(), None, id="no-conf-undeployed-host"),
        pytest.param(other_vm(), CONF + "tick=fast\n", id="conf-with-a-bad-key"),
        pytest.param(other_vm(b"<!-- <!DOCTYPE x> -->"), CONF, id="doctype-in-a-comment"),
        pytest.param(other_vm(b"<a>" * 300 + b"</a>" * 300), CONF, id="deeper-than-256"),
        pytest.param(other_vm(b"<description>caf\xe9</description>"), CONF, id="not-utf-8"),
        pytest.param(b"<domain><devices>", CONF, id="not-well-formed"),
    ],
)
def test_another_vm_passes_untouched_whatever_is_wrong(tmp_path, monkeypatch, domxml, conf):
    """Finding 5: the conf was loaded and the domxml parsed before the uuid was checked, so each of
    these blocked every VM's start on the host."""
    assert run(tmp_path, monkeypatch, domxml, conf) == (0, domxml)


@pytest.mark.parametrize(
    "domxml, conf, message",
    [
        pytest.param((DATA / "billion-laughs.xml").read_bytes(), CONF, "DTD or entity", id="unsafe-xml"),
        pytest.param(
            f"<domain><uuid>{VM}</uuid><description>caf\xe9</description></domain>".encode("latin-1"),
            CONF,
            "not UTF-8",
            id="not-utf-8",
        ),
        pytest.param(
            (DATA / "engine-with-devices.xml").read_bytes(), CONF + "tick=fast\n", "invalid", id="conf-with-a-bad-key"
        ),
        pytest.param((DATA / "engine-with-devices.xml").read_bytes(), "host_id=1\n", "no valid vmid", id="no-vmid"),
    ],
)
def test_the_engine_vm_fails_closed(tmp_path, monkeypatch, capsys, domxml, conf, message):
    code, after = run(tmp_path, monkeypatch, domxml, conf)
    assert (code, after) == (2, domxml)
    assert message in capsys.readouterr().err


def test_the_engine_vm_gets_exactly_its_lease(tmp_path, monkeypatch):
    code, after = run(tmp_path, monkeypatch, (DATA / "engine-with-stale-lease.xml").read_bytes())
    assert code == 0
    assert after.count(b"<lease>") == 1 and b'path="/srv/he/ha_agent/hosted-engine.leases" offset="0"' in after
