"""The HostedEngine verbs against the schema: agreement, validation, coercion, behaviour."""

import inspect

import pytest

from vdsm_hosted_engine.errors import InvalidRequest
from vdsm_hosted_engine.ha.snapshot import ActionKind
from vdsm_hosted_engine.observations import VmStatus
from vdsm_hosted_engine.rpc.jsonrpc import InvalidParams
from vdsm_hosted_engine.storage import whiteboard as wb
from vdsm_hosted_engine.storage.sanlock_lockspace import Liveness
from vdsm_hosted_engine.verbs.api import HostedEngine, methods
from vdsm_hosted_engine.verbs.schema import Schema

from .fake_backend import DOWN, UP, FakeBackend

SCHEMA = Schema.load()


@pytest.fixture
def fake_api():
    """The verbs over a FakeBackend, callable as the RPC server calls them."""
    backend = FakeBackend()
    return backend, methods(HostedEngine(backend), SCHEMA)


def test_class_and_schema_agree():
    verbs = {v.method: v for v in SCHEMA.verbs.values()}
    public = {n for n, _ in inspect.getmembers(HostedEngine, inspect.isfunction) if not n.startswith("_")}
    assert public == set(verbs)
    for name, verb in verbs.items():
        signature = list(inspect.signature(getattr(HostedEngine, name)).parameters)[1:]
        assert signature == [p.name for p in verb.params], name
    for verb in SCHEMA.verbs.values():
        for param in verb.params:
            assert param.type in SCHEMA.types or param.type in ("string", "int", "uint", "boolean", "float")


def test_get_status_is_ovirt_shaped_with_live_data(fake_api):
    backend, api = fake_api
    backend.live = {1: Liveness.LIVE, 2: Liveness.FAIL}
    status = api["HostedEngine.getStatus"]({})
    assert sorted(status) == ["1", "2", "global_maintenance", "invalid_slots", "view_age"]
    assert (status["1"]["live-data"], status["2"]["live-data"]) == (True, False)
    assert status["view_age"] == 1.5


def test_get_status_follows_the_view_and_its_age(fake_api):
    backend, api = fake_api
    first = api["HostedEngine.getStatus"]({})
    backend.view_age = 4.25
    again = api["HostedEngine.getStatus"]({})
    assert again == {**first, "view_age": 4.25}  # same view: the same answer, a new age
    backend.slots[2] = wb.HostSlot(2, 8, 0, DOWN, "h2")  # the agent's next cycle read this
    assert api["HostedEngine.getStatus"]({})["2"]["score"] == 0


@pytest.mark.parametrize(
    "verb", ["getStatus", "checkLiveliness", "getFailoverCapacity", "getResourceUsage", "getScore"]
)
def test_read_verbs_answer_from_the_agents_view_without_storage_or_sanlock(fake_api, verb):
    from vdsm_hosted_engine.virt.domxml import VmConfig

    backend, api = fake_api
    backend.vm_config = lambda: VmConfig("7d2b9a3c-6c3e-4ac5-bd6c-1d1b7c5b2b6e", memory_mib=4096, vcpus=2)
    backend.vm_cpu_seconds = lambda: None
    backend.spare_count = lambda: 1
    for _ in range(3):
        api[f"HostedEngine.{verb}"]({})
    assert backend.io_calls == []


@pytest.mark.parametrize(
    "verb, params, message",
    [
        ("HostedEngine.setMaintenance", {}, "missing parameter 'mode'"),
        ("HostedEngine.setMaintenance", {"mode": "partial"}, "'partial' is not one of global, local, none"),
        ("HostedEngine.setMaintenance", {"mode": "global", "extra": "1"}, "unknown parameter 'extra'"),
        ("HostedEngine.setMaintenance", {"mode": "global", "self": "1"}, "unknown parameter 'self'"),
        ("HostedEngine.cleanMetadata", {"hostId": "two"}, "'two' is not an integer"),
        ("HostedEngine.cleanMetadata", {"hostId": "-1"}, "is negative"),
        ("HostedEngine.cleanMetadata", {"hostId": "2", "force": "maybe"}, "is not true or false"),
    ],
)
def test_bad_params_are_refused_and_change_nothing(fake_api, verb, params, message):
    backend, api = fake_api
    with pytest.raises(InvalidParams, match=message):
        api[verb](params)
    assert (backend.global_maintenance, backend.local, backend.cleaned) == (False, False, [])


@pytest.fixture
def fake_verbs():
    """The HostedEngine class itself over a FakeBackend, called as VDSM's DynamicBridge calls it
    (positional arguments in schema order, none of our RPC server's checks)."""
    backend = FakeBackend()
    return backend, HostedEngine(backend, SCHEMA)


def test_an_unknown_maintenance_mode_is_refused_by_the_verb_itself(fake_verbs):
    backend, verbs = fake_verbs
    backend.global_maintenance = backend.local = True
    with pytest.raises(InvalidParams, match="'partial' is not one of global, local, none"):
        verbs.setMaintenance("partial")
    assert (backend.global_maintenance, backend.local) == (True, True)  # not cleared


def test_a_string_host_id_is_converted_so_the_liveness_check_applies(fake_verbs):
    backend, verbs = fake_verbs
    with pytest.raises(InvalidRequest, match="host 2 does not look stopped"):
        verbs.cleanMetadata("2")
    with pytest.raises(InvalidRequest, match="own slot"):
        verbs.cleanMetadata(hostId="1")
    assert backend.cleaned == []


@pytest.mark.parametrize("force", ["false", "False", False])
def test_force_false_as_a_string_is_not_forced(fake_verbs, force):
    backend, verbs = fake_verbs
    backend.reinitialize_lockspace = lambda: backend.actions.append("reinit")
    with pytest.raises(InvalidRequest, match="host 2 does not look stopped"):
        verbs.cleanMetadata("2", force)
    with pytest.raises(InvalidRequest, match="set global maintenance first"):
        verbs.reinitializeLockspace(force)
    assert (backend.cleaned, backend.actions) == ([], [])


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda v: v.cleanMetadata(2, 1), "1 is not true or false"),  # no truthiness
        (lambda v: v.cleanMetadata(2, "yes"), "'yes' is not true or false"),
        (lambda v: v.reinitializeLockspace(""), "'' is not true or false"),
        (lambda v: v.cleanMetadata(True), "expected an integer"),
        (lambda v: v.cleanMetadata(2, False, "extra"), "3 arguments given, at most 2 expected"),
        (lambda v: v.cleanMetadata(2, hostId=2), "parameter 'hostId' given twice"),
        (lambda v: v.cleanMetadata(), "missing parameter 'hostId'"),
        (lambda v: v.migrateVM(hostId="-3"), "is negative"),
        (lambda v: v.getSharedConfig("k", "he_elsewhere"), "'he_elsewhere' is not one of he_local, he_shared"),
        (lambda v: v.setSharedConfig("k", 5), "expected a string"),
    ],
)
def test_the_verbs_refuse_bad_arguments_whoever_calls_them(fake_verbs, call, message):
    backend, verbs = fake_verbs
    with pytest.raises(InvalidParams, match=message):
        call(verbs)
    assert (backend.global_maintenance, backend.local, backend.cleaned, backend.migrations) == (False, False, [], [])


def test_strings_from_vdsm_client_are_coerced(fake_api):
    backend, api = fake_api
    backend.slots[2] = wb.HostSlot(2, 7, 0, DOWN, "h2", stopped=True)
    backend.live = {1: Liveness.LIVE}
    assert api["HostedEngine.cleanMetadata"]({"hostId": "2", "force": "false"}) is True
    assert backend.cleaned == [2]


def test_maintenance_modes(fake_api):
    backend, api = fake_api
    api["HostedEngine.setMaintenance"]({"mode": "global"})
    assert backend.global_maintenance
    api["HostedEngine.setMaintenance"]({"mode": "none"})
    assert (backend.global_maintenance, backend.local) == (False, False)
    backend.vm = VmStatus.UP  # the agent evacuates the Engine VM first (live migration, else shutdown)
    api["HostedEngine.setMaintenance"]({"mode": "local"})
    assert backend.local


def test_migrate_vm_is_asked_of_the_host_running_it_and_never_in_global_maintenance(fake_api):
    backend, api = fake_api
    with pytest.raises(InvalidRequest, match="does not run on this host"):
        api["HostedEngine.migrateVM"]({})
    backend.vm = VmStatus.UP
    with pytest.raises(InvalidRequest, match="runs on this host already"):
        api["HostedEngine.migrateVM"]({"hostId": 1})
    assert api["HostedEngine.migrateVM"]({}) == 3 and api["HostedEngine.migrateVM"]({"hostId": 2}) == 2
    assert backend.migrations == [0, 2]
    backend.global_maintenance = True
    with pytest.raises(InvalidRequest, match="global maintenance"):
        api["HostedEngine.migrateVM"]({"hostId": 2})


def test_manual_vm_actions_only_in_global_maintenance(fake_api):
    backend, api = fake_api
    with pytest.raises(InvalidRequest, match="set global maintenance"):
        api["HostedEngine.startVM"]({})
    assert backend.fresh_reads == 1  # not the agent's cached view: another host may have just set it
    backend.global_maintenance = True
    for verb, kind in (
        ("startVM", ActionKind.START_VM),
        ("shutdownVM", ActionKind.SHUTDOWN_VM),
        ("poweroffVM", ActionKind.DESTROY_VM),
    ):
        assert api[f"HostedEngine.{verb}"]({}) is True
        assert backend.actions[-1] is kind


def test_clean_metadata_refuses_a_live_or_running_host_unless_forced(fake_api):
    backend, api = fake_api
    with pytest.raises(InvalidRequest, match="host 2 does not look stopped"):
        api["HostedEngine.cleanMetadata"]({"hostId": 2})
    with pytest.raises(InvalidRequest, match="own slot"):
        api["HostedEngine.cleanMetadata"]({"hostId": 1})
    assert api["HostedEngine.cleanMetadata"]({"hostId": 2, "force": True}) is True
    assert backend.cleaned == [2]


def test_check_liveliness(fake_api):
    backend, api = fake_api
    assert api["HostedEngine.checkLiveliness"]({}) == {"up": True, "host": 2}
    backend.live = {1: Liveness.LIVE, 2: Liveness.DEAD}
    assert api["HostedEngine.checkLiveliness"]({}) == {"up": False, "host": None}


def test_help_is_generated_from_the_schema():
    text = SCHEMA.help()
    assert "setMaintenance mode=MaintenanceMode" in text
    assert "cleanMetadata hostId=uint force=boolean?" in text


def test_failover_capacity_and_spares(fake_api):
    from vdsm_hosted_engine.virt.domxml import VmConfig

    backend, api = fake_api
    backend.vm_config = lambda: VmConfig("7d2b9a3c-6c3e-4ac5-bd6c-1d1b7c5b2b6e", memory_mib=4096, vcpus=2)
    backend.vm_cpu_seconds = lambda: None
    backend.spare_count = lambda: 1
    backend.slots = {
        1: wb.HostSlot(1, 5, 3400, DOWN, "h1", extra={"mem_free_mib": "8192"}),
        2: wb.HostSlot(2, 7, 3400, UP, "h2"),
        3: wb.HostSlot(3, 7, 3400, DOWN, "h3", extra={"mem_free_mib": "1024"}),
        4: wb.HostSlot(4, 7, 0, DOWN, "h4", maintenance=True),
        5: wb.HostSlot(5, 7, 3000, DOWN, "h5"),
    }
    backend.live = {1: Liveness.LIVE, 2: Liveness.LIVE, 3: Liveness.LIVE, 4: Liveness.LIVE, 5: Liveness.FAIL}
    view = api["HostedEngine.getFailoverCapacity"]({})
    assert view["engineHost"] == 2
    assert {k: (v["canStart"], v["reasons"]) for k, v in view["hosts"].items()} == {
        "1": (True, []),
        "2": (False, ["runs the Engine VM"]),
        "3": (False, ["free memory 1024 MiB < 4096 MiB"]),
        "4": (False, ["local maintenance", "score 0"]),
        "5": (False, ["sanlock sees it fail"]),
    }
    usage = api["HostedEngine.getResourceUsage"]({})
    assert usage == {
        "engine": {"hostId": 2, "memoryMiB": 4096, "vcpus": 2, "cpuSeconds": None},
        "spareHosts": [1],
        "reservedHereMiB": 4096,
    }


def test_shared_config_verbs(fake_api, tmp_path):
    from vdsm_hosted_engine.storage.shared_config import SharedConfig

    backend, api = fake_api
    backend.shared_config = lambda: SharedConfig(str(tmp_path / "shared.conf"))
    assert api["HostedEngine.setSharedConfig"]({"key": "notify.to", "value": "ops@example.com"}) == {
        "key": "notify.to",
        "value": "ops@example.com",
        "version": 1,
    }
    assert api["HostedEngine.getSharedConfig"]({"key": "notify.to"})["value"] == "ops@example.com"
    with pytest.raises(InvalidRequest, match="no key 'nope'"):
        api["HostedEngine.getSharedConfig"]({"key": "nope"})


def test_reinitialize_lockspace_refusals(fake_api):
    backend, api = fake_api
    backend.reinitialize_lockspace = lambda: backend.actions.append("reinit")
    with pytest.raises(InvalidRequest, match="set global maintenance first"):
        api["HostedEngine.reinitializeLockspace"]({})
    backend.global_maintenance = True
    with pytest.raises(InvalidRequest, match=r"stop the agents on host\(s\) 2 first"):
        api["HostedEngine.reinitializeLockspace"]({})
    backend.vm = VmStatus.UP
    with pytest.raises(InvalidRequest, match="would kill it"):
        api["HostedEngine.reinitializeLockspace"]({"force": True})
    backend.vm = VmStatus.DOWN
    # Another host runs the Engine with its agent stopped (slot "stopped", host id kept): its lease
    # owner record names a live host, and reinitializing would make that host drop the lockspace and
    # sanlock kill the Engine VM there. Not even force overrides it (issue 12, defect 4).
    backend.slots[2] = wb.HostSlot(2, 7, 0, UP, "h2", stopped=True)
    backend.owner = 2
    for force in (False, True):
        with pytest.raises(InvalidRequest, match="host 2 holds the Engine VM lease"):
            api["HostedEngine.reinitializeLockspace"]({"force": force})
    backend.owner = None
    assert api["HostedEngine.reinitializeLockspace"]({"force": "true"}) is True
    assert backend.actions == ["reinit"]


def test_set_shared_config_refuses_a_bad_smtp_port_and_writes_nothing(fake_api, tmp_path):
    from vdsm_hosted_engine.storage.shared_config import SharedConfig

    backend, api = fake_api
    backend.shared_config = lambda: SharedConfig(str(tmp_path / "shared.conf"))
    api["HostedEngine.setSharedConfig"]({"key": "he.smtpPort", "value": "25"})
    with pytest.raises(InvalidRequest, match=r"^he.smtpPort: '25x': not an integer$"):
        api["HostedEngine.setSharedConfig"]({"key": "he.smtpPort", "value": "25x"})
    assert api["HostedEngine.getSharedConfig"]({"key": "he.smtpPort"}) == {
        "key": "he.smtpPort",
        "value": "25",
        "version": 1,
    }
