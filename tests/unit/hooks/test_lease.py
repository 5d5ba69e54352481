"""The lease transform on sample domxmls (tests/data/domxml)."""

import pathlib

import pytest

from vdsm_hosted_engine.hooks.lease import LeaseSpec, inject
from vdsm_hosted_engine.virt.xml import BadDomxml, parse_domxml

DATA = pathlib.Path(__file__).parents[2] / "data" / "domxml"
VM = "7d2b9a3c-6c3e-4ac5-bd6c-1d1b7c5b2b6e"
LEASE = LeaseSpec("hosted-engine", "engine-vm", "/d/ha_agent/hosted-engine.leases")


def leases(text):
    return [
        (e.findtext("lockspace"), e.findtext("key"), e.find("target").get("path"), e.find("target").get("offset"))
        for e in parse_domxml(text).findall("devices/lease")
    ]


@pytest.mark.parametrize("name", ["engine-with-devices.xml", "engine-without-devices.xml"])
def test_lease_is_added_once(name):
    once = inject((DATA / name).read_text(), VM, LEASE)
    assert leases(once) == [("hosted-engine", "engine-vm", "/d/ha_agent/hosted-engine.leases", "0")]
    assert inject(once, VM, LEASE) == once  # idempotent, byte for byte


def test_existing_lease_is_corrected_and_deduplicated_others_removed():
    """Finding 5: a lease for another lockspace stayed, and the Engine VM ran under two leases."""
    result = inject((DATA / "engine-with-stale-lease.xml").read_text(), VM, LEASE)
    assert leases(result) == [("hosted-engine", "engine-vm", "/d/ha_agent/hosted-engine.leases", "0")]
    assert inject(result, VM, LEASE) == result


def test_a_correct_lease_beside_another_lockspaces_is_left_alone_but_the_other_goes():
    once = inject((DATA / "engine-with-devices.xml").read_text(), VM, LEASE)
    other = "<lease><lockspace>sd</lockspace><key>vm</key><target path='/x' offset='0'/></lease>"
    result = inject(once.replace("</devices>", other + "</devices>"), VM, LEASE)
    assert leases(result) == [("hosted-engine", "engine-vm", "/d/ha_agent/hosted-engine.leases", "0")]


def test_other_vms_are_untouched_byte_for_byte():
    text = (DATA / "other-vm.xml").read_text()
    assert inject(text, VM, LEASE) is text


def test_billion_laughs_is_refused():
    with pytest.raises(BadDomxml, match="DTD or entity"):
        inject((DATA / "billion-laughs.xml").read_text(), VM, LEASE)
