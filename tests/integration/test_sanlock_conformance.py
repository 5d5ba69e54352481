"""Conformance of the simulated sanlock (`sim/sanlock.py`) to the real daemon.

Each sequence below is a table of sanlock operations on two hosts, written once and played by two
drivers: `RealDriver` (one real sanlock daemon per host, a storage process per host and a holder
process per host standing in for qemu) and `SimDriver` (`SimSanlock` on an explicit clock). Every
answer is normalised and must equal the table's expectation, on both drivers; so real and simulated
answer alike, or the simulator is wrong.

Normalised answers:
- a view (get_hosts on one host): None while sanlock cannot tell (EAGAIN), else {host id: (liveness
  name, generation delta)}; the owner record (read_resource_owners): [(host id, generation delta)].
  A generation delta counts from the first generation this run saw for that host id, so 0 is "as
  first joined" and 1 "rejoined once";
- acquire: "ok", "held" (-243 at once), "ok after waiting" (sanlock blocked the call, at least
  4 x io_timeout, until the owner was dead), or "error" (any other refusal); join / release: "ok";
  leave: "ok" or "busy" (EBUSY);
- live_owner: the host id or None; holds: inq_lockspace of the host's own id; holder_alive: whether
  the host's holder process lives.

A step with `within` (in io_timeouts) is an observation polled until it answers as expected or the
time is up (0.25 s between polls, simulated time on the simulator): sanlock's views converge at
renewals, every 2 x io_timeout, so "at once" is not a meaningful comparison for them. The unit test
tests/unit/sim/test_sanlock.py plays the same table on the simulator alone.

The integration test uses io_timeout 1 s. Only `crashed_holder_lease_is_free_once_dead` waits for
host_dead (8 x io + 60 s = 68 s) and is marked `slow`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import pytest

from tests.integration.conftest import IO_TIMEOUT
from vdsm_hosted_engine.lab.storage_host import StorageHost, StorageHostError
from vdsm_hosted_engine.sim.sanlock import AcquireResult, SimSanlock

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.25
WAITED_FACTOR = 4  # an acquire taking at least this many io_timeouts was blocked by sanlock


@dataclass(frozen=True)
class Step:
    """One operation of a sequence: `op` on `host`, its normalised `expect`ed answer, and for an
    observation `within` > 0, how long (in io_timeouts) it may take to converge to it."""

    op: str
    host: int
    expect: Any = "ok"
    within: float = 0.0
    args: dict[str, Any] = field(default_factory=dict)


def join(host: int) -> Step:
    return Step("join", host)


def leave(host: int, expect: str = "ok", unused: bool = True) -> Step:
    return Step("leave", host, expect, args={"unused": unused})


def acquire(host: int, expect: str = "ok") -> Step:
    return Step("acquire", host, expect)


def release(host: int) -> Step:
    return Step("release", host)


def crash(host: int) -> Step:
    return Step("crash", host)


def power_on(host: int) -> Step:
    return Step("power_on", host)


def view(observer: int, expect: dict[int, tuple[str, int]] | None, within: float = 0.0) -> Step:
    return Step("view", observer, expect, within)


def record(observer: int, expect: list[tuple[int, int]], within: float = 0.0) -> Step:
    return Step("record", observer, expect, within)


def owner(observer: int, expect: int | None, within: float = 0.0) -> Step:
    return Step("live_owner", observer, expect, within)


def holds(host: int, expect: bool) -> Step:
    return Step("holds", host, expect)


def holder_alive(host: int, expect: bool) -> Step:
    return Step("holder_alive", host, expect)


BOTH_LIVE = {1: ("live", 0), 2: ("live", 0)}
SETTLE = 6  # io_timeouts for views to converge (a renewal every 2 x io, a read of the others' leases)

JOINED = [join(1), join(2), view(1, BOTH_LIVE, SETTLE), view(2, BOTH_LIVE, SETTLE)]

SEQUENCES: dict[str, list[Step]] = {
    # add_lockspace completes after ~3 x io; get_hosts answers EAGAIN (None) right after, then both
    # host ids LIVE at their first generation.
    "join_both_live": [
        acquire(1, "error"),  # no lockspace joined yet
        join(1),
        holds(1, True),
        holds(2, False),
        join(2),
        view(2, None),
        view(1, BOTH_LIVE, SETTLE),
        view(2, BOTH_LIVE, SETTLE),
        record(1, []),
        owner(1, None),
    ],
    # One holder: a second acquire is refused at once (-243) while the owner is LIVE.
    "held_lease_refused": [
        *JOINED,
        acquire(1),
        acquire(2, "held"),
        record(2, [(1, 0)]),
        owner(1, 1),
        owner(2, 1),
    ],
    # A power cut leaves the owner record; the host id's fast reacquire (same host name) bumps its
    # generation, after which the stale record owns nothing and the lease is taken at once.
    "crash_rejoin_frees_the_stale_record": [
        *JOINED,
        acquire(1),
        crash(1),
        acquire(2, "held"),  # host 1 still looks live
        owner(2, 1),
        power_on(1),
        join(1),
        view(2, {1: ("live", 1), 2: ("live", 0)}, SETTLE),
        record(2, [(1, 0)]),
        owner(2, None),
        owner(1, None, SETTLE),
        acquire(2),
        record(1, [(2, 0)]),
        owner(1, 2),
    ],
    # rem_lockspace(unused) refuses with EBUSY while a process here holds the lease: nothing dies.
    "leave_unused_while_holding_is_busy": [
        *JOINED,
        acquire(1),
        leave(1, "busy"),
        holder_alive(1, True),
        holds(1, True),
        owner(2, 1),
        view(2, BOTH_LIVE),
    ],
    # rem_lockspace without unused kills the holder and leaves: the killed holder releases nothing,
    # its record stays, but its host id is free, so the record owns nothing.
    "leave_not_unused_kills_the_holder": [
        *JOINED,
        acquire(1),
        leave(1, unused=False),
        holder_alive(1, False),
        holds(1, False),
        record(2, [(1, 0)]),
        # Host 2's view of host 1 is as of its last renewal: wait for it to see the id gone before
        # judging the record (right after the leave, host 1 may still look LIVE with its generation).
        view(2, {2: ("live", 0)}, SETTLE),
        owner(2, None),
        acquire(2),
        record(2, [(2, 0)]),
    ],
    # A released lease and a left host id: the id is FREE (timestamp 0), and get_hosts stops listing
    # it; live_owner treats an unlisted id as free.
    "release_then_leave_is_free": [
        *JOINED,
        acquire(1),
        release(1),
        record(2, []),
        owner(2, None),
        leave(1),
        holds(1, False),
        view(2, {2: ("live", 0)}, SETTLE),
        acquire(2),
        owner(2, 2),
    ],
    # Leaving without a lease held works at once; the id is FREE: no longer listed.
    "leave_without_holding_is_free": [
        *JOINED,
        leave(1),
        holds(1, False),
        view(2, {2: ("live", 0)}, SETTLE),
        owner(2, None),
    ],
    # A crashed holder that stays down: LIVE, then FAIL after 8 x io without renewals (an acquire
    # now blocks inside sanlock), DEAD after 8 x io + 60 s, when the blocked acquire succeeds.
    "crashed_holder_lease_is_free_once_dead": [
        *JOINED,
        acquire(1),
        crash(1),
        acquire(2, "held"),
        view(2, {1: ("fail", 0), 2: ("live", 0)}, 14),
        owner(2, 1),
        acquire(2, "ok after waiting"),
        view(2, {1: ("dead", 0), 2: ("live", 0)}),
        record(2, [(2, 0)]),
        owner(2, 2),
    ],
}
SLOW = {"crashed_holder_lease_is_free_once_dead"}


# -- the interpreter -----------------------------------------------------------------------------


class Driver(Protocol):
    """The raw sanlock operations of a two-host run; answers not yet normalised."""

    io_timeout: int

    def join(self, host: int) -> None:
        """add_lockspace of the host's own id, blocking until done."""

    def leave(self, host: int, unused: bool) -> str:
        """rem_lockspace: "ok", or "busy" on EBUSY."""

    def acquire(self, host: int) -> str:
        """acquire by the host's holder process: "ok" (possibly after blocking) or "held" (-243)."""

    def release(self, host: int) -> None:
        """release by the host's holder process."""

    def crash(self, host: int) -> None:
        """The whole host dies at once: daemon, storage and holder processes."""

    def power_on(self, host: int) -> None:
        """A fresh daemon (same host name) after a crash, not joined."""

    def hosts(self, observer: int) -> dict[int, tuple[str, int]] | None:
        """get_hosts through `observer`'s daemon: {host id: (liveness, generation)} or None (EAGAIN)."""

    def owner_records(self, observer: int) -> list[tuple[int, int]]:
        """read_resource_owners: [(host id, generation)]."""

    def live_owner(self, observer: int) -> int | None:
        """`live_owner` of the record judged by `observer`'s view."""

    def holds(self, host: int) -> bool | None:
        """inq_lockspace of the host's own id."""

    def holder_alive(self, host: int) -> bool:
        """Whether the host's holder process lives."""

    def sleep(self, seconds: float) -> None:
        """Let time pass (wall clock, or the simulator's clock)."""

    def clock(self) -> float:
        """Monotonic seconds on this driver's clock."""


class Run:
    """Plays one sequence on one driver and normalises its answers."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.base: dict[int, int] = {}  # host id -> the first generation seen for it

    def delta(self, host_id: int, generation: int) -> int:
        return generation - self.base.setdefault(host_id, generation)

    def answer(self, step: Step) -> Any:
        d = self.driver
        if step.op == "join":
            d.join(step.host)
            return "ok"
        if step.op == "leave":
            return d.leave(step.host, step.args.get("unused", True))
        if step.op == "acquire":
            started = d.clock()
            outcome = d.acquire(step.host)
            waited = d.clock() - started >= WAITED_FACTOR * d.io_timeout
            return f"{outcome} after waiting" if waited else outcome
        if step.op == "release":
            d.release(step.host)
            return "ok"
        if step.op == "crash":
            d.crash(step.host)
            return "ok"
        if step.op == "power_on":
            d.power_on(step.host)
            return "ok"
        if step.op == "view":
            hosts = d.hosts(step.host)
            if hosts is None:
                return None
            return {h: (name, self.delta(h, gen)) for h, (name, gen) in sorted(hosts.items())}
        if step.op == "record":
            return [(h, self.delta(h, gen)) for h, gen in d.owner_records(step.host)]
        if step.op == "live_owner":
            return d.live_owner(step.host)
        if step.op == "holds":
            return d.holds(step.host)
        if step.op == "holder_alive":
            return d.holder_alive(step.host)
        raise ValueError(f"unknown step {step.op!r}")

    def step(self, step: Step) -> Any:
        if step.within <= 0:
            return self.answer(step)
        deadline = self.driver.clock() + step.within * self.driver.io_timeout
        while True:
            value = self.answer(step)
            if value == step.expect or self.driver.clock() >= deadline:
                return value
            self.driver.sleep(POLL_SECONDS)


def play(driver: Driver, steps: list[Step]) -> list[str]:
    """Every step's answer against its expectation; the mismatches as sentences (empty: conforms)."""
    run = Run(driver)
    mismatches = []
    for number, step in enumerate(steps, 1):
        value = run.step(step)
        logger.info("step %d %s host %d -> %r", number, step.op, step.host, value)
        if value != step.expect:
            mismatches.append(f"step {number} {step.op} on host {step.host}: {value!r}, expected {step.expect!r}")
    return mismatches


# -- the simulated driver ------------------------------------------------------------------------


class SimDriver:
    """`SimSanlock` for two hosts on a clock of its own; time passes only in `sleep`."""

    def __init__(self, io_timeout: int = IO_TIMEOUT, host_count: int = 2) -> None:
        self.io_timeout = io_timeout
        self.now = 0.0
        self.alive: dict[int, bool] = {}
        self.sanlock = SimSanlock(range(1, host_count + 1), io_timeout, lambda: self.now, self._killed)
        for host in range(1, host_count + 1):
            self.sanlock.daemon_start(host)

    def _killed(self, host: int, reason: str) -> None:
        self.alive[host] = False

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.advance(self.now + seconds)

    def advance(self, until: float) -> None:
        self.now = max(self.now, until)
        self.sanlock.check_renewals()

    def join(self, host: int) -> None:
        self.advance(self.sanlock.add_lockspace(host))
        if not self.sanlock.add_lockspace_done(host):
            raise AssertionError(f"host {host} could not join")

    def leave(self, host: int, unused: bool) -> str:
        return "ok" if self.sanlock.rem_lockspace(host, unused=unused) else "busy"

    def acquire(self, host: int) -> str:
        self.alive.setdefault(host, True)  # the holder process starts at its first acquire
        while True:
            result = self.sanlock.acquire(host)
            if result.outcome is AcquireResult.WAIT:
                self.advance(result.until)
                continue
            if result.outcome is AcquireResult.HELD:
                return "held"
            if result.outcome is AcquireResult.OK:
                return "ok"
            return "error"

    def release(self, host: int) -> None:
        self.sanlock.release(host)

    def crash(self, host: int) -> None:
        self.sanlock.daemon_kill(host)
        self.alive.pop(host, None)

    def power_on(self, host: int) -> None:
        self.sanlock.daemon_start(host)

    def hosts(self, observer: int) -> dict[int, tuple[str, int]] | None:
        hosts = self.sanlock.get_hosts(observer)
        return None if hosts is None else {h: (v.liveness.value, v.generation) for h, v in hosts.items()}

    def owner_records(self, observer: int) -> list[tuple[int, int]]:
        return [(o.host_id, o.generation) for o in self.sanlock.read_resource_owners()]

    def live_owner(self, observer: int) -> int | None:
        return self.sanlock.live_owner(observer)

    def holds(self, host: int) -> bool | None:
        return self.sanlock.inq_lockspace(host)

    def holder_alive(self, host: int) -> bool:
        return self.alive.get(host, False)


# -- the real driver -----------------------------------------------------------------------------


class RealDriver:
    """Real sanlock daemons, one per host (the `sanlock_hosts` fixture); each host's lease is held by
    a second process on its daemon, as qemu holds it in production."""

    def __init__(self, hosts: list[Any], io_timeout: int = IO_TIMEOUT) -> None:
        self.io_timeout = io_timeout
        self.hosts_ = {h.host_id: h for h in hosts}
        self.holders: dict[int, StorageHost] = {}

    def close(self) -> None:
        for holder in self.holders.values():
            holder.kill()

    def _holder(self, host: int) -> StorageHost:
        if host not in self.holders:
            self.holders[host] = self.hosts_[host].process("qemu")
        return self.holders[host]

    def clock(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def join(self, host: int) -> None:
        self.hosts_[host].call("join", host_id=host)

    def leave(self, host: int, unused: bool) -> str:
        try:
            self.hosts_[host].call("leave", host_id=host, unused=unused)
        except StorageHostError as e:
            if e.kind == "LockspaceBusy":
                return "busy"
            raise
        return "ok"

    def acquire(self, host: int) -> str:
        try:
            self._holder(host).call("acquire")
        except StorageHostError as e:
            if e.kind == "LeaseHeldElsewhere":
                return "held"
            logger.info("acquire on host %d: %s", host, e)
            return "error"
        return "ok"

    def release(self, host: int) -> None:
        self._holder(host).call("release")

    def crash(self, host: int) -> None:
        # The daemon dies first: a holder killed under a live daemon has its lease released by that
        # daemon (a clean client exit, not a crash), which raced the acquire on the other host.
        self.hosts_[host].crash()
        holder = self.holders.pop(host, None)
        if holder is not None:
            holder.kill()

    def power_on(self, host: int) -> None:
        self.hosts_[host].power_on()

    def hosts(self, observer: int) -> dict[int, tuple[str, int]] | None:
        leases = self.hosts_[observer].call("host_leases")
        return None if leases is None else {int(h): (name, gen) for h, (name, gen) in leases.items()}

    def owner_records(self, observer: int) -> list[tuple[int, int]]:
        return [(h, gen) for h, gen in self.hosts_[observer].call("owner_records")]

    def live_owner(self, observer: int) -> int | None:
        return self.hosts_[observer].call("live_owner")

    def holds(self, host: int) -> bool | None:
        return self.hosts_[host].call("holds", host_id=host)

    def holder_alive(self, host: int) -> bool:
        holder = self.holders.get(host)
        return holder is not None and holder.process.poll() is None


def sequence_params(marks: Callable[[str], list[Any]]) -> list[Any]:
    return [pytest.param(name, marks=marks(name), id=name) for name in SEQUENCES]


@pytest.mark.integration
@pytest.mark.parametrize("name", sequence_params(lambda n: [pytest.mark.slow] if n in SLOW else []))
def test_real_sanlock_answers_as_the_table_says(name: str, sanlock_hosts: Callable[[int], list[Any]]) -> None:
    """Given two hosts on real sanlock daemons, when the sequence runs, then every answer is the
    table's; and the simulator, given the same sequence, answers the same."""
    driver = RealDriver(sanlock_hosts(2))
    try:
        real = play(driver, SEQUENCES[name])
    finally:
        driver.close()
    assert real == [], "real sanlock differs from the table:\n" + "\n".join(real)
    simulated = play(SimDriver(), SEQUENCES[name])
    assert simulated == [], "the simulator differs from real sanlock:\n" + "\n".join(simulated)
