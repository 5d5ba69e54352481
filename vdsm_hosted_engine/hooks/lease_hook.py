"""The lease hook: inject the Engine VM's lease wherever its domxml is about to run.

Installed at `before_vm_start` (vdsm_hooks/before_vm_start/50_hosted_engine) and at
`before_vm_migrate_destination` (the incoming domxml must name the same lease, or libvirt would not
hand it over). Reads the domxml from the file named by `_hook_domxml`, the Engine VM's uuid and the storage domain
from the local hosted-engine.conf (`HOSTED_ENGINE_CONF` overrides its path), edits the file in place.
Exit 0 ok (also for any other VM, untouched), 2 failed-stop (vdsmd aborts the start): without its
lease the Engine VM must not run. Errors: one stderr line prefixed with the hook's name.
"""

from __future__ import annotations

import os
import sys

from vdsm_hosted_engine import config, constants
from vdsm_hosted_engine.errors import HostedEngineError
from vdsm_hosted_engine.hooks.lease import LeaseSpec, inject


def main(point: str = "before_vm_start") -> int:
    name = f"{point}/50_hosted_engine"
    try:
        path = os.environ["_hook_domxml"]
        conf = config.load_host_config(os.environ.get("HOSTED_ENGINE_CONF", config.HOSTED_ENGINE_CONF))
        with open(path, encoding="utf-8") as f:
            domxml = f.read()
        if not conf.vmid:
            return 0  # not deployed yet: no Engine VM to protect
        lease = LeaseSpec(
            constants.LOCKSPACE_NAME.decode(),
            constants.ENGINE_VM_RESOURCE.decode(),
            os.path.join(conf.storage, constants.HA_AGENT_DIR, constants.LEASES_FILE),
        )
        edited = inject(domxml, conf.vmid, lease)
        if edited != domxml:
            with open(path, "w", encoding="utf-8") as f:
                f.write(edited)
    except KeyError:
        print(f"{name}: _hook_domxml is not set (not run by vdsm?)", file=sys.stderr)
        return 2
    except (HostedEngineError, OSError) as e:
        one_line = " ".join(str(e).split())
        print(f"{name}: {one_line}", file=sys.stderr)
        return 2
    return 0
