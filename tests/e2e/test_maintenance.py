"""Global and local maintenance on the real lab."""

import time


def test_global_maintenance_leaves_a_dead_engine_alone_until_cleared(steady):
    lab = steady.lab
    host = steady.finding.engine_host
    steady.maintenance(host, "global")
    lab.kill_vm()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert lab.engine_host() is None, "HA acted during global maintenance"
        time.sleep(1)
    status = lab.call(host, "getStatus")
    assert status["global_maintenance"] is True
    steady.maintenance(host, "none")
    steady.wait_healthy(120)
    steady.audit()


def test_a_host_in_local_maintenance_does_not_take_the_engine(steady):
    lab = steady.lab
    source = steady.finding.engine_host
    resting, spare = [h for h in sorted(lab.hosts) if h != source]
    steady.maintenance(resting, "local")
    in_maintenance = lambda: lab.call(resting, "getScore")["state"] == "LocalMaintenance"  # noqa: E731
    lab.wait(f"{resting} in local maintenance", in_maintenance, 30)
    assert lab.call(resting, "getScore")["score"] == 0
    lab.set_network(source, False)
    assert steady.wait_healthy(180, where=lambda host: host != source) == spare
    steady.audit()
