"""Put the Engine VM's sanlock `<lease>` into its domxml (pure: text in, text out).

    <devices>
      <lease>
        <lockspace>hosted-engine</lockspace>
        <key>engine-vm</key>
        <target path='/.../ha_agent/hosted-engine.leases' offset='0'/>
      </lease>
    </devices>

libvirt's sanlock plugin acquires that lease before qemu runs and sanlock kills qemu if it is lost.
Only the Engine VM (matched by uuid) is touched; any other domxml comes back byte for byte. The
transform is idempotent: an existing lease for the same lockspace and key is corrected in place,
never duplicated. Unsafe XML (entities, DTDs) is refused by the parser.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from vdsm_hosted_engine.virt.xml import parse_domxml, to_string


@dataclass(frozen=True)
class LeaseSpec:
    lockspace: str
    key: str
    path: str
    offset: int = 0


def inject(domxml: str, vm_uuid: str, lease: LeaseSpec) -> str:
    """`domxml` with the Engine VM's lease, or unchanged if it is not the Engine VM."""
    root = parse_domxml(domxml)
    if (root.findtext("uuid") or "").strip().lower() != vm_uuid.lower():
        return domxml
    devices = root.find("devices")
    if devices is None:
        devices = etree.SubElement(root, "devices")
    existing = [
        e
        for e in devices.findall("lease")
        if (e.findtext("lockspace") or "") == lease.lockspace and (e.findtext("key") or "") == lease.key
    ]
    for extra in existing[1:]:
        devices.remove(extra)
    element = existing[0] if existing else etree.SubElement(devices, "lease")
    if not existing:
        etree.SubElement(element, "lockspace").text = lease.lockspace
        etree.SubElement(element, "key").text = lease.key
    target = element.find("target")
    if target is None:
        target = etree.SubElement(element, "target")
    if target.get("path") == lease.path and target.get("offset") == str(lease.offset) and len(existing) == 1:
        return domxml
    target.set("path", lease.path)
    target.set("offset", str(lease.offset))
    return to_string(root)
