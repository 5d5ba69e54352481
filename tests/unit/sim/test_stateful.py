"""A stateful search over fault sequences (hypothesis): any sequence that breaks safety or liveness
shrinks to a minimal one.

Rules inject the scenario language's faults on a 3-host simulated cluster and let time pass; after
every step no two Engine VMs run and a running one holds the lease (the scenario Checker); at the
end everything is healed and the Engine must be up and healthy within the campaign's liveness
bound. With `HYPOTHESIS_PROFILE=thorough` the search runs far longer.
"""

import contextlib
import os

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from vdsm_hosted_engine.sim import campaign, scenario
from vdsm_hosted_engine.sim.scenario import Checker, Command, engine_available

HOSTS = 3
TARGETS = st.sampled_from(["engine", *map(str, range(1, HOSTS + 1))])
ON_OFF_FAULTS = ("libvirt", "destroy-fails", "read-fails", "sanlock-kill-fails", "local-maintenance")
HOST_FAULTS = (
    "crash-host",
    "power-on",
    "cut-network",
    "restore-network",
    "cut-storage",
    "restore-storage",
    "restart-agent",
    "hang-agent",
    "resume-agent",
    "restart-sanlock",
    "corrupt-slot",
    "forge-slot",
)
CLUSTER_FAULTS = ("kill-vm", "pause-vm", "resume-vm", "engine-unhealthy", "engine-healthy")


class FaultSequences(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.world = scenario.build_world({"hosts": HOSTS})
        self.checker = Checker()
        self.lines: list[str] = []
        self._capture = contextlib.ExitStack()
        self._capture.enter_context(scenario.capture(self.world, self.lines))
        for host in self.world.hosts.values():
            self.world.power_on(host)
        self._advance(60.0)

    def _advance(self, seconds: float) -> None:
        self.world.run_until(self.world.now + seconds, self.checker)

    def _do(self, name: str, *args: str) -> None:
        scenario.run_command(self.world, Command(self.world.now, name, args))

    @rule(fault=st.sampled_from(HOST_FAULTS), host=TARGETS, hang=st.booleans())
    def host_fault(self, fault: str, host: str, hang: bool) -> None:
        extra = ("hang",) if fault == "cut-storage" and hang else ()
        self._do(fault, host, *extra)

    @rule(fault=st.sampled_from(ON_OFF_FAULTS), host=TARGETS, on=st.booleans())
    def switch(self, fault: str, host: str, on: bool) -> None:
        value = {"libvirt": ("down", "up")}.get(fault, ("on", "off"))[0 if on else 1]
        self._do(fault, host, value)

    @rule(fault=st.sampled_from(CLUSTER_FAULTS))
    def cluster_fault(self, fault: str) -> None:
        self._do(fault)

    @rule(gap=st.sampled_from([5.0, 30.0, 120.0]), one_by_one=st.booleans())
    def power_cut_and_back(self, gap: float, one_by_one: bool) -> None:
        """Every host loses power; power comes back at once or one host at a time."""
        self._do("crash-host", "all")
        self._advance(gap)
        for host in range(1, HOSTS + 1) if one_by_one else ["all"]:
            self._do("power-on", str(host))
            if one_by_one:
                self._advance(20.0)

    @rule(host=TARGETS, down=st.sampled_from([10.0, 100.0]))
    def crash_and_back(self, host: str, down: float) -> None:
        hosts = self.world.running_vms() if host == "engine" else [int(host)]
        self._do("crash-host", host)
        self._advance(down)
        for crashed in hosts:
            self._do("power-on", str(crashed))

    @rule(host=TARGETS, seconds=st.sampled_from([40.0, 100.0]), hang=st.booleans(), everyone=st.booleans())
    def storage_outage(self, host: str, seconds: float, hang: bool, everyone: bool) -> None:
        """One host's storage (or every host's: a storage server reboot) fails or hangs, then is back."""
        hosts = ["all"] if everyone else (self.world.running_vms() if host == "engine" else [int(host)])
        for cut in hosts:
            self._do("cut-storage", str(cut), *(("hang",) if hang else ()))
        self._advance(seconds)
        for cut in hosts:
            self._do("restore-storage", str(cut))

    @rule(how=st.sampled_from(["ok", "fail", "hang", "stuck"]))
    def migrations(self, how: str) -> None:
        self._do("migrations", how)

    @rule(seconds=st.sampled_from([1.0, 10.0, 40.0, 100.0]))
    def time_passes(self, seconds: float) -> None:
        self._advance(seconds)

    @invariant()
    def safe(self) -> None:
        assert self.checker.violations == [], "\n".join(self.lines[-40:])

    def teardown(self) -> None:
        try:
            healed_at = self.world.now
            for command in campaign.heal(HOSTS, healed_at):
                scenario.run_command(self.world, command)
            until = healed_at + campaign.LIVENESS_BOUND
            while self.world.now < until and not engine_available(self.world):
                self._advance(1.0)
            assert self.checker.violations == [], "\n".join(self.lines[-40:])
            assert engine_available(self.world), (
                f"liveness: Engine not up and healthy {campaign.LIVENESS_BOUND:.0f} s after healing at "
                f"{healed_at:.0f} s\n" + "\n".join(self.lines[-60:])
            )
        finally:
            self._capture.close()


THOROUGH = os.environ.get("HYPOTHESIS_PROFILE") == "thorough"
FaultSequences.TestCase.settings = settings(
    max_examples=2000 if THOROUGH else 40, stateful_step_count=12, deadline=None
)
test_fault_sequences = FaultSequences.TestCase
