"""Our verbs and events merged into VDSM's pickled schema, in a VDSM package directory of our own."""

import datetime
import os
import pickle

import pytest

from vdsm_hosted_engine.cli import vdsm_schema
from vdsm_hosted_engine.errors import InvalidRequest
from vdsm_hosted_engine.verbs import merged_schema

UUID = {"name": "UUID", "type": "alias", "sourcetype": "string", "description": "A UUID."}
VDSM_API = {"types": {"UUID": UUID}, "Host.ping2": {"description": "ping", "params": []}}
VDSM_EVENTS = {"types": {"UUID": UUID}, "|net|host_conn|": {"description": "refresh", "params": []}}


@pytest.fixture
def tmp_vdsm(tmp_path):
    """A VDSM package directory: its schema pickles in rpc/, an empty api/ (where vdsmapi.py is)."""
    (tmp_path / "api").mkdir()
    (tmp_path / "rpc").mkdir()
    for name, schema in (("vdsm-api.pickle", VDSM_API), ("vdsm-events.pickle", VDSM_EVENTS)):
        (tmp_path / "rpc" / name).write_bytes(pickle.dumps(schema, protocol=4))
    return tmp_path


def _read(path):
    return pickle.loads(path.read_bytes())


def test_install_merges_into_api_and_leaves_vdsms_files_alone(tmp_vdsm):
    before = {p.name: p.read_bytes() for p in (tmp_vdsm / "rpc").iterdir()}
    assert merged_schema.install(str(tmp_vdsm)) == [
        str(tmp_vdsm / "api" / "vdsm-api.pickle"),
        str(tmp_vdsm / "api" / "vdsm-events.pickle"),
    ]
    api = _read(tmp_vdsm / "api" / "vdsm-api.pickle")
    assert "Host.ping2" in api and "HostedEngine.getStatus" in api and "HostedEngine.migrateVM" in api
    assert {"UUID", "MaintenanceMode", "ClusterStatus"} <= set(api["types"])
    # aliases resolved, as schema_to_pickle.py leaves them: the param holds the type itself
    assert api["HostedEngine.setMaintenance"]["params"][0]["type"] is not None
    assert api["HostedEngine.setMaintenance"]["params"][0]["type"]["name"] == "MaintenanceMode"
    events = _read(tmp_vdsm / "api" / "vdsm-events.pickle")
    assert {"|net|host_conn|", "|hosted-engine|status|"} <= set(events)
    assert os.stat(tmp_vdsm / "api" / "vdsm-api.pickle").st_mode & 0o777 == 0o444
    assert {p.name: p.read_bytes() for p in (tmp_vdsm / "rpc").iterdir()} == before
    merged_schema.install(str(tmp_vdsm))  # again, after a vdsm upgrade: replaced, same content
    assert _read(tmp_vdsm / "api" / "vdsm-api.pickle") == api


def test_remove_leaves_vdsms_own_schema_to_be_read(tmp_vdsm):
    merged_schema.install(str(tmp_vdsm))
    assert len(merged_schema.remove(str(tmp_vdsm))) == 2
    assert sorted(os.listdir(tmp_vdsm / "api")) == []
    assert merged_schema.remove(str(tmp_vdsm)) == []


def test_a_type_vdsm_defines_differently_is_refused_and_nothing_is_written(tmp_vdsm):
    clash = dict(VDSM_EVENTS, types={"AgentState": {"name": "AgentState", "type": "enum", "values": {"x": "y"}}})
    (tmp_vdsm / "rpc" / "vdsm-events.pickle").write_bytes(pickle.dumps(clash, protocol=4))
    with pytest.raises(InvalidRequest, match="type AgentState is defined by VDSM already, differently"):
        merged_schema.install(str(tmp_vdsm))
    assert os.listdir(tmp_vdsm / "api") == []


@pytest.mark.parametrize(
    "data, message",
    [
        (pickle.dumps({"types": {}, "when": datetime.date(2026, 1, 1)}), "names datetime.date"),
        (pickle.dumps(["not", "a", "schema"]), "no 'types' mapping"),
    ],
)
def test_only_a_plain_data_vdsm_schema_is_read(data, message):
    with pytest.raises(InvalidRequest, match=message):
        merged_schema.load_pickle(data)


def test_command_line(tmp_vdsm, tmp_path, capsys):
    assert vdsm_schema.main(["install", "--vdsm-dir", str(tmp_vdsm)]) == 0
    assert capsys.readouterr().out == (
        f"install: {tmp_vdsm}/api/vdsm-api.pickle\ninstall: {tmp_vdsm}/api/vdsm-events.pickle\n"
    )
    missing = tmp_path / "nowhere"
    assert vdsm_schema.main(["install", "--vdsm-dir", str(missing)]) == 1
    assert capsys.readouterr().err == f"vdsm_schema: VDSM's schema {missing}/rpc/vdsm-api.pickle is missing\n"
