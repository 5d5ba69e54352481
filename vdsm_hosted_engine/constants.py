"""Fixed names and numbers shared by every layer.

Values that reach shared storage or other hosts (lockspace and resource names, file names, slot
size, metadata versions) never change: hosts of different versions, and oVirt's own agents, read them.
"""

# sanlock names on the storage domain.
LOCKSPACE_NAME = b"hosted-engine"
ENGINE_VM_RESOURCE = b"engine-vm"

# Layout of a storage domain (DESIGN.md section 4), relative to the domain directory.
HA_AGENT_DIR = "ha_agent"
IMAGES_DIR = "images"
LOCKSPACE_FILE = "hosted-engine.lockspace"
METADATA_FILE = "hosted-engine.metadata"
LEASES_FILE = "hosted-engine.leases"
SHARED_CONF_FILE = "hosted-engine.conf"
DOMAIN_ID_FILE = "hosted-engine.domain"

# sanlock geometry: 512-byte sectors, 1 MiB alignment hold 2000 hosts in a lockspace and a
# paxos lease; both files are exactly one alignment unit.
SANLOCK_ALIGNMENT = 1024 * 1024
SANLOCK_SECTOR = 512
MAX_HOST_ID = 2000

# sanlock timing (REFERENCE.md): io_timeout default 10 s; a crashed host's leases are free
# host_dead = 8 x io_timeout + 60 s after its last renewal.
DEFAULT_IO_TIMEOUT = 10
SANLOCK_WATCHDOG_FIRE_TIMEOUT = 60
SANLOCK_RENEWAL_FAIL_FACTOR = 8
SANLOCK_RENEWAL_INTERVAL_FACTOR = 2

# Whiteboard (oVirt metadata v1).
SLOT_SIZE = 4096
RECORD_SIZE = 512
METADATA_SIZE = (MAX_HOST_ID + 1) * SLOT_SIZE
METADATA_PARSE_VERSION = 1
METADATA_FEATURE_VERSION = 1

# Defaults of the local configuration.
DEFAULT_CONF_DIR = "/etc/ovirt-hosted-engine"
DEFAULT_HA_CONF_DIR = "/etc/ovirt-hosted-engine-ha"
DEFAULT_BRIDGE = "ovirtmgmt"


def host_dead_seconds(io_timeout: int) -> int:
    """Seconds after a host's last lease renewal before another host may take its leases."""
    return SANLOCK_RENEWAL_FAIL_FACTOR * io_timeout + SANLOCK_WATCHDOG_FIRE_TIMEOUT
