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
never duplicated. The Engine VM runs under this one lease only: a `<lease>` for another lockspace
(an oVirt VM lease the Engine added, a stale one) is removed, since libvirt would acquire it too and
its lockspace's fate (not joined here, another cluster's) would decide whether the Engine VM starts
or is killed. Unsafe XML (entities, DTDs) is refused by the parser.

`lease_problems` is the other side: what the VM runtime checks on the final domxml, after every
`before_vm_start` hook ran, before it asks libvirt to create the domain. libvirt's
`require_lease_for_disks = 0` would run a domxml with no lease at all, so a missing hook, a wrong
`hooks_dir` or a hook that did nothing must stop the start here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lxml import etree

from vdsm_hosted_engine.virt.xml import BadDomxml, parse_domxml, to_string

if TYPE_CHECKING:
    from vdsm_hosted_engine.storage.sanlock_resource import EngineVmLease


@dataclass(frozen=True)
class LeaseSpec:
    lockspace: str
    key: str
    path: str
    offset: int = 0

    @classmethod
    def of(cls, lease: EngineVmLease) -> LeaseSpec:
        """The `<lease>` that names `lease`, the sanlock resource on the storage domain."""
        return cls(lease.lockspace.decode(), lease.resource.decode(), lease.path, lease.offset)

    @property
    def name(self) -> str:
        return f"{self.lockspace}:{self.key}"


def inject(domxml: str, vm_uuid: str, lease: LeaseSpec) -> str:
    """`domxml` with the Engine VM's lease, or unchanged if it is not the Engine VM."""
    root = parse_domxml(domxml)
    if (root.findtext("uuid") or "").strip().lower() != vm_uuid.lower():
        return domxml
    devices = root.find("devices")
    if devices is None:
        devices = etree.SubElement(root, "devices")
    existing, others = [], []
    for e in devices.findall("lease"):
        ours = (e.findtext("lockspace") or "") == lease.lockspace and (e.findtext("key") or "") == lease.key
        (existing if ours else others).append(e)
    for extra in existing[1:] + others:
        devices.remove(extra)
    element = existing[0] if existing else etree.SubElement(devices, "lease")
    if not existing:
        etree.SubElement(element, "lockspace").text = lease.lockspace
        etree.SubElement(element, "key").text = lease.key
    target = element.find("target")
    if target is None:
        target = etree.SubElement(element, "target")
    unchanged = target.get("path") == lease.path and target.get("offset") == str(lease.offset)
    if unchanged and len(existing) == 1 and not others:
        return domxml
    target.set("path", lease.path)
    target.set("offset", str(lease.offset))
    return to_string(root)


def lease_problems(domxml: str, lease: LeaseSpec) -> list[str]:
    """What keeps `domxml` from running under exactly `lease` (empty: nothing). Pure.

    libvirt's sanlock plugin acquires every `<devices><lease>` before qemu runs. Exactly one of them
    must be `lease` and no other may be there: none lets the VM run unprotected, two for the same
    resource or one of another lockspace is not a domxml our hook writes (see `inject`). As in libvirt,
    a target without `offset` is at offset 0; paths are compared normalised ('/a//b' is '/a/b').
    """
    try:
        root = parse_domxml(domxml)
    except BadDomxml as e:
        return [f"the final domxml cannot be checked: {e}"]
    found = [
        (element, element.findtext("lockspace") or "", element.findtext("key") or "")
        for element in root.findall("devices/lease")
    ]
    ours = [element for element, lockspace, key in found if (lockspace, key) == (lease.lockspace, lease.key)]
    if not ours:
        others = ", ".join(f"{lockspace}:{key}" for _, lockspace, key in found)
        only = f" (only for {others})" if others else ""
        return [f"the final domxml holds no <lease> for {lease.name}{only}"]
    if len(ours) > 1:
        return [f"the final domxml holds {len(ours)} <lease> elements for {lease.name}, not exactly one"]
    others = [f"{lockspace}:{key}" for _, lockspace, key in found if (lockspace, key) != (lease.lockspace, lease.key)]
    if others:
        return [f"the final domxml holds a <lease> for {', '.join(others)} besides {lease.name}"]
    target = ours[0].find("target")
    if target is None:
        return [f"the <lease> for {lease.name} has no <target>"]
    problems = []
    path = target.get("path") or ""
    if not path:
        problems.append(f"the <lease> for {lease.name} has no target path")
    elif os.path.normpath(path) != os.path.normpath(lease.path):
        problems.append(f"the <lease> for {lease.name} names {path}, not this domain's {lease.path}")
    offset_text = target.get("offset", "0")
    try:
        offset: int | None = int(offset_text, 10)
    except ValueError:
        offset = None
    if offset != lease.offset:
        problems.append(f"the <lease> for {lease.name} is at offset {offset_text!r}, not {lease.offset}")
    return problems
