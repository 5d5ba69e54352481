"""after_vm_destroy: wake the local daemon at once (vdsm_hooks/after_vm_destroy/50_hosted_engine).

vdsmd runs it when any VM stops, also when qemu dies. For the Engine VM (matched by `vmId`) it asks
the local vdsm-hosted-engine daemon over its Unix socket to run a cycle now rather than at its next
tick. With no daemon socket (no daemon runs yet: deploy undoing its start of the Engine VM) there is
nobody to wake: exit 0, silently. Failures are only reported (after_* hooks cannot change anything):
exit 1 with one line.
"""

from __future__ import annotations

import os
import sys

from vdsm_hosted_engine import config
from vdsm_hosted_engine.errors import HostedEngineError
from vdsm_hosted_engine.rpc.client import Client, daemon_socket

NAME = "after_vm_destroy/50_hosted_engine"


def main() -> int:
    try:
        conf = config.load_host_config(os.environ.get("HOSTED_ENGINE_CONF", config.HOSTED_ENGINE_CONF))
        if not conf.vmid or os.environ.get("vmId", "").lower() != conf.vmid:
            return 0
        socket_path = daemon_socket(conf.run_dir)
        if not os.path.exists(socket_path):
            return 0  # no daemon runs (deploy undoing its Engine VM start): nobody to wake
        client = Client.unix(socket_path, window=10, deadline=30)
        try:
            client.call("HostedEngine.vmStateChanged", {})
        finally:
            client.close()
    except (HostedEngineError, OSError) as e:
        print(f"{NAME}: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    return 0
