"""RealEnv's slow actions: one at a time, except a power-off that goes ahead of one that does not
end; the superseded action's late result is never taken for the running one's. The VM runtime is a
stand-in whose calls block until the test releases them (only the env's bookkeeping is under test);
ha.conf is read from a real file."""

import threading

import pytest

from tests.integration.conftest import wait_for
from vdsm_hosted_engine.errors import HostedEngineError
from vdsm_hosted_engine.ha.real_env import RealEnv
from vdsm_hosted_engine.ha.snapshot import Action, ActionKind


class BlockingRuntime:
    """migrate() and start() block until released; destroy() returns at once."""

    def __init__(self):
        self.release = threading.Event()
        self.destroyed = 0

    def migrate(self, *args, **kwargs):
        self.release.wait(30)

    def start(self):
        self.release.wait(30)

    def destroy(self):
        self.destroyed += 1


@pytest.fixture
def tmp_env(tmp_domain, tmp_path):
    runtime = BlockingRuntime()
    env = RealEnv(1, tmp_domain, runtime=runtime, broker=None, ha_conf_path=str(tmp_path / "ha.conf"))
    yield env, runtime
    runtime.release.set()


@pytest.mark.parametrize("hung", [ActionKind.MIGRATE_VM, ActionKind.START_VM])
def test_a_power_off_goes_ahead_of_an_action_that_does_not_end(tmp_env, hung):
    env, runtime = tmp_env
    env.begin(Action(hung, target=2, address="host2"))
    with pytest.raises(HostedEngineError, match="still running; not starting start"):
        env.begin(Action(ActionKind.START_VM))
    env.begin(Action(ActionKind.DESTROY_VM))
    result = wait_for(lambda: env.action_status()[1], timeout=10, what="the power-off's result")
    assert (result.kind, result.ok, runtime.destroyed) == (ActionKind.DESTROY_VM, True, 1)
    runtime.release.set()  # the superseded action ends late: its result is dropped
    wait_for(
        lambda: not any(t.name.startswith("vm-") for t in threading.enumerate()),
        timeout=10,
        what="the superseded action's thread to end",
    )
    assert env.action_status() == (None, None)


def test_local_maintenance_keeps_its_last_value_while_ha_conf_is_unreadable(tmp_env, tmp_path):
    env, _ = tmp_env
    (tmp_path / "ha.conf").write_text("local_maintenance=True\n")
    assert env.local_maintenance() is True
    (tmp_path / "ha.conf").unlink()
    (tmp_path / "ha.conf").mkdir()  # reading it now fails (EISDIR), as an EIO would
    assert env.local_maintenance() is True
