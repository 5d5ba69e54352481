"""The error tree of vdsm-hosted-engine.

Every error says whose fault it is::

    HostedEngineError             9000  base; `code` is stable on the wire, `expected` skips tracebacks
    +-- ConfigError               9001  the admin's files: every problem at once, file:line: key: reason
    +-- InvalidRequest            9002  a caller's bad argument (CLI, verb)
    |   +-- BadDomxml             9004  (virt/xml.py) a domxml that is not a libvirt domain
    +-- NotAllowed                9005  (rpc/jsonrpc.py) the caller's certificate may not call that verb
    +-- CorruptBlock              9003  another host's (or a broken writer's) data on shared storage
    +-- StorageError              9100  the environment: the shared storage domain
    |   +-- DomainNotFound        9101  the path holds no hosted-engine domain
    |   +-- DomainExists          9102  refusing to initialise over an existing domain
    |   +-- StorageUnavailable    9103  I/O on the domain failed (EIO, ENOENT, no O_DIRECT...)
    +-- SanlockError              9200  sanlock refused or failed; carries sanlock's errno and message
    |   +-- HostIdNotHeld         9201  a write needs this host's host id and sanlock says it is not held
    |   +-- LeaseHeldElsewhere    9202  -243: another host holds the lease
    |   +-- LockspaceBusy         9203  EBUSY: leaving refused, a process (the Engine VM) holds a lease
    +-- VmError                   9300  (virt/runtime.py) a VM action failed
    +-- HookError                 9301  (virt/hooks.py) a hook script failed at a before_* point
    +-- BugError                  9999  our own bug (an invariant broke); always logged with traceback
        +-- IllegalTransition     9998  (ha/fsm.py) the state machine left its transition table

Errors carry fields and render their message from them, so tests and callers can match on
fields instead of parsing text.

Codes: every class that can cross the wire has its own `code` in 9000-9999, documented in the
schema's `HostedEngineErrorCode` type (verbs/vdsm-api-hosted-engine.yml; a test keeps the two
equal). VDSM's own codes (`common/exception.py`, `storage/exception.py`, `gluster/exception.py`)
span 0-4900 and its storage errors note that codes above 5000 are left to the Engine, so a
hosted-engine refusal never reads as a VDSM error (2001-2003 were VDSM's MiscFile* errors).
Errors of the JSON-RPC layer keep JSON-RPC's own codes (-32700..-32600), as VDSM's do.
"""

from __future__ import annotations

import errno as errno_
from collections.abc import Sequence
from dataclasses import dataclass


class HostedEngineError(Exception):
    """Base of every error this package raises on purpose."""

    code: int = 9000
    expected: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in a configuration file; `line` is 0 when the problem is not on one line."""

    path: str
    line: int
    key: str
    reason: str
    value: str | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        value = f": {self.value!r}" if self.value is not None else ""
        return f"{where}: {self.key}{value}: {self.reason}"


class ConfigError(HostedEngineError):
    """The configuration has one or more problems; all of them are listed."""

    code = 9001
    expected = True

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = list(problems)
        super().__init__("invalid configuration:\n" + "\n".join(f"  {p}" for p in self.problems))


class InvalidRequest(HostedEngineError):
    """The caller asked for something invalid; nothing was changed."""

    code = 9002
    expected = True


class CorruptBlock(HostedEngineError):
    """A whiteboard block that cannot be trusted: ignored and reported, never used."""

    code = 9003
    expected = True

    def __init__(self, slot: int, reason: str) -> None:
        self.slot = slot
        self.reason = reason
        super().__init__(f"slot {slot}: {reason}")


class StorageError(HostedEngineError):
    """The shared storage domain is missing, malformed or unreachable."""

    code = 9100


class DomainNotFound(StorageError):
    code = 9101
    expected = True


class DomainExists(StorageError):
    code = 9102
    expected = True


class StorageUnavailable(StorageError):
    code = 9103


class SanlockError(HostedEngineError):
    """sanlock failed; `errno` and `reason` are sanlock's own."""

    code = 9200

    def __init__(self, operation: str, errno: int, reason: str) -> None:
        self.operation = operation
        self.errno = errno
        self.reason = reason
        super().__init__(f"sanlock {operation} failed: {reason} (errno {errno})")


class HostIdNotHeld(SanlockError):
    code = 9201
    expected = True

    def __init__(self, host_id: int) -> None:
        self.host_id = host_id
        super().__init__("inq_lockspace", 0, f"this host does not hold host id {host_id}")


class LeaseHeldElsewhere(SanlockError):
    code = 9202
    expected = True


class LockspaceBusy(SanlockError):
    """rem_lockspace(unused=True) refused: a lease in the lockspace is held here (by the Engine VM),
    and leaving would make sanlock kill its holder."""

    code = 9203
    expected = True

    def __init__(self, host_id: int) -> None:
        self.host_id = host_id
        super().__init__(
            "rem_lockspace", errno_.EBUSY, f"host id {host_id} is kept: a process on this host holds a lease"
        )


class BugError(HostedEngineError):
    """An invariant of our own code broke."""

    code = 9999
