"""VDSM's pickled schema with our verbs and events merged in, where vdsm-client reads it first.

VDSM ships `vdsm-api.pickle` and `vdsm-events.pickle` in `<site-packages>/vdsm/rpc/`, made from its
YAML by `schema_to_pickle.py` (the YAML loaded, aliases resolved, pickled). Its reader
(`vdsm/api/vdsmapi.py`, `SchemaType.path`) looks in `vdsm/api/` first, then in `vdsm/rpc/`, so a
merged copy in `vdsm/api/` is what vdsm-client (and vdsmd) load, while VDSM's own files stay
untouched. The RPM runs `install` (`python3 -m vdsm_hosted_engine.cli.vdsm_schema`) after
installing and whenever vdsm's files in `vdsm/rpc/` change (a file trigger, so a vdsm upgrade gets
a fresh merge), and `remove` when it is erased.

Merging adds our top-level entries (`HostedEngine.<verb>`, `|hosted-engine|status|`) and our
`types`; a type or entry whose name VDSM already uses with another definition is refused (the
merged file would silently change one of VDSM's verbs). VDSM's pickles are read with an unpickler
that builds plain data only (dicts, lists, strings, numbers): no class is ever loaded.
"""

from __future__ import annotations

import importlib.util
import io
import logging
import os
import pickle
from importlib import resources
from typing import Any

import yaml

from vdsm_hosted_engine.errors import InvalidRequest
from vdsm_hosted_engine.verbs.schema import SCHEMA_FILE

logger = logging.getLogger(__name__)

EVENTS_FILE = "vdsm-events-hosted-engine.yml"
PAIRS = {"vdsm-api.pickle": SCHEMA_FILE, "vdsm-events.pickle": EVENTS_FILE}  # VDSM's file -> ours


class _PlainData(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise InvalidRequest(f"the schema pickle names {module}.{name}: only plain data is accepted")


def load_pickle(data: bytes) -> dict[str, Any]:
    schema = _PlainData(io.BytesIO(data)).load()
    if not isinstance(schema, dict) or not isinstance(schema.get("types"), dict):
        raise InvalidRequest("the schema pickle is not a VDSM schema (no 'types' mapping)")
    return schema


def ours(name: str) -> dict[str, Any]:
    """One of our schema files, loaded as VDSM's schema_to_pickle.py loads YAML."""
    return yaml.safe_load(resources.files("vdsm_hosted_engine.verbs").joinpath(name).read_text())


def merge(vdsm: dict[str, Any], added: dict[str, Any]) -> dict[str, Any]:
    """A new schema: VDSM's with `added` merged in; neither argument is changed."""
    merged = {key: value for key, value in vdsm.items() if key != "types"}
    types = dict(vdsm["types"])
    for name, spec in added["types"].items():
        if name in types and types[name] != spec:
            raise InvalidRequest(f"type {name} is defined by VDSM already, differently: rename ours")
        types[name] = spec
    for name, spec in added.items():
        if name == "types":
            continue
        if name in merged and merged[name] != spec:
            raise InvalidRequest(f"{name} is defined by VDSM already, differently")
        merged[name] = spec
    merged["types"] = types
    return merged


def vdsm_package_dir() -> str:
    spec = importlib.util.find_spec("vdsm")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise InvalidRequest("VDSM's Python package (vdsm) is not installed")
    return next(iter(spec.submodule_search_locations))


def install(vdsm_dir: str) -> list[str]:
    """Write every merged pickle into `<vdsm_dir>/api/`; the paths written. Every merge is made
    before anything is written, so a refused merge leaves the files as they were."""
    merged = {}
    for pickle_name, our_file in PAIRS.items():
        source = os.path.join(vdsm_dir, "rpc", pickle_name)
        try:
            with open(source, "rb") as f:
                vdsm = load_pickle(f.read())
        except FileNotFoundError:
            raise InvalidRequest(f"VDSM's schema {source} is missing") from None
        merged[pickle_name] = merge(vdsm, ours(our_file))
    written = []
    for pickle_name, schema in merged.items():
        target = os.path.join(vdsm_dir, "api", pickle_name)
        tmp = f"{target}.tmp"
        with open(tmp, "wb") as f:
            pickle.dump(schema, f, protocol=4)  # schema_to_pickle.py's protocol
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o444)  # as VDSM installs its own
        os.replace(tmp, target)
        written.append(target)
        logger.info("wrote %s (%s merged in)", target, PAIRS[pickle_name])
    return written


def remove(vdsm_dir: str) -> list[str]:
    """Remove the merged pickles (VDSM's own in `rpc/` are read again); the paths removed."""
    removed = []
    for pickle_name in PAIRS:
        target = os.path.join(vdsm_dir, "api", pickle_name)
        try:
            os.unlink(target)
        except FileNotFoundError:
            continue
        removed.append(target)
    return removed
