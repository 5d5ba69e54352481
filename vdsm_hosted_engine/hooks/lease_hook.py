"""The lease hook: inject the Engine VM's lease wherever its domxml is about to run.

Installed at `before_vm_start` (vdsm_hooks/before_vm_start/50_hosted_engine) and at
`before_vm_migrate_destination` (the incoming domxml must name the same lease, or libvirt would not
hand it over). Reads the domxml from the file named by `_hook_domxml`, the Engine VM's uuid and the storage domain
from the local hosted-engine.conf (`HOSTED_ENGINE_CONF` overrides its path), edits the file in place.
Exit 0 ok (also for any other VM, untouched), 2 failed-stop (vdsmd aborts the start): without its
lease the Engine VM must not run. Errors: one stderr line prefixed with the hook's name.

Every VM of the host passes through this hook, so whatever goes wrong must stop the Engine VM only.
The Engine VM is told from the others first, cheaply and without parsing: the `vmid=` line of the
conf (read leniently: another key's typo does not count), then whether that uuid occurs anywhere in
the domxml's bytes. No conf (an undeployed host) or no occurrence: exit 0, the file untouched. Only
then are the conf loaded and the domxml parsed, and any problem there is exit 2. A present conf
without a valid `vmid` is exit 2 too: the Engine VM cannot be told apart, so none is let through.

`installation_problem` tells the daemon and `--deploy` (first host or `--join`) whether this hook would
run from a hooks directory, found the way the VM runtime finds hook scripts (virt/hooks.py).
"""

from __future__ import annotations

import os
import sys

from vdsm_hosted_engine import config, constants
from vdsm_hosted_engine.errors import HostedEngineError, InvalidRequest
from vdsm_hosted_engine.hooks.lease import LeaseSpec, inject
from vdsm_hosted_engine.virt import hooks

HOOK_POINT = "before_vm_start"
SCRIPT_NAME = "50_hosted_engine"  # as vdsm-hook-hosted-engine installs it (vdsm_hooks/)


def installation_problem(hooks_dir: str) -> str | None:
    """Why the lease hook would not run from `hooks_dir` at before_vm_start; None when it would.

    Without it the Engine VM's domxml has no `<lease>` (the runtime then refuses to start it), so
    the daemon and deploy refuse up front instead of failing the first start after a failover."""
    if any(os.path.basename(script) == SCRIPT_NAME for script in hooks.scripts(hooks_dir, HOOK_POINT)):
        return None
    directory = os.path.join(hooks_dir, HOOK_POINT)
    script = os.path.join(directory, SCRIPT_NAME)
    if not os.path.isdir(hooks_dir):
        reason = f"{hooks_dir} does not exist"
    elif not os.path.isdir(directory):
        reason = f"{directory} does not exist"
    elif os.path.exists(script):
        reason = f"{script} is not an executable file"
    else:
        reason = f"{directory} has no {SCRIPT_NAME}"
    return (
        f"the Engine VM's lease hook is not installed in hooks_dir {hooks_dir} ({reason}), so the Engine VM "
        "would start without its sanlock lease: install vdsm-hook-hosted-engine there or point hooks_dir at it"
    )


def engine_vm_uuid(conf_text: str) -> str | None:
    """The `vmid` of a hosted-engine.conf's text, read without validating the other keys."""
    found = None
    for line in conf_text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == "vmid":
            found = value.strip()
    try:
        return config.parse_uuid(found) if found else None
    except ValueError:
        return None


def main(point: str = "before_vm_start") -> int:
    name = f"{point}/50_hosted_engine"
    conf_path = os.environ.get("HOSTED_ENGINE_CONF", config.HOSTED_ENGINE_CONF)
    try:
        path = os.environ["_hook_domxml"]
        try:
            with open(conf_path, "rb") as f:
                conf_text = f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return 0  # not deployed: no Engine VM to protect
        vm_uuid = engine_vm_uuid(conf_text)
        if vm_uuid is None:
            raise InvalidRequest(f"invalid configuration {conf_path}: no valid vmid, the Engine VM cannot be told")
        with open(path, "rb") as f:
            data = f.read()
        if vm_uuid.encode() not in data.lower():
            return 0  # another VM: passed untouched, whatever else is in its domxml or the conf
        conf = config.load_host_config(conf_path)
        try:
            domxml = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRequest("the Engine VM's domxml is not UTF-8") from None
        lease = LeaseSpec(
            constants.LOCKSPACE_NAME.decode(),
            constants.ENGINE_VM_RESOURCE.decode(),
            os.path.join(conf.domain_path, constants.HA_AGENT_DIR, constants.LEASES_FILE),
        )
        edited = inject(domxml, vm_uuid, lease)
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
