"""The verb schema (vdsm-api.yml form) and strict request validation against it.

The file is in VDSM's own form: a named type is defined once under `types` with an anchor and
used through an alias, so after YAML loading a param's `type` is either a primitive's name or the
type's own mapping (with its `name`); both are read here by name.

vdsm-client sends every `name=value` as a string: strings are coerced to the declared type (int,
uint, float, boolean, enum). Unknown params, missing required params and values of the wrong type
are refused (InvalidParams) naming the param and the reason; nothing is half-applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from vdsm_hosted_engine.rpc.jsonrpc import InvalidParams

SCHEMA_FILE = "vdsm-api-hosted-engine.yml"
_REQUIRED = object()


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    description: str
    default: Any = _REQUIRED

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


@dataclass(frozen=True)
class Verb:
    name: str  # "HostedEngine.getStatus"
    description: str
    params: tuple[Param, ...]
    returns: str
    added: str

    @property
    def method(self) -> str:
        return self.name.split(".", 1)[1]


def type_name(spec: Any) -> str:
    """The name of a param's or return's `type`: a primitive, a named type (an alias resolved by
    YAML to the type's mapping) or a list of either (`[uint]`, shown as `[uint]`)."""
    if isinstance(spec, dict):
        return str(spec["name"])
    if isinstance(spec, list):
        return f"[{type_name(spec[0])}]"
    return str(spec)


class Schema:
    def __init__(self, data: dict[str, Any]) -> None:
        self.types: dict[str, dict[str, Any]] = data.get("types") or {}
        self.verbs: dict[str, Verb] = {}
        for name, spec in data.items():
            if name == "types":
                continue
            params = tuple(
                Param(p["name"], type_name(p["type"]), p.get("description", ""), p.get("defaultvalue", _REQUIRED))
                for p in spec.get("params") or []
            )
            description = " ".join(str(spec["description"]).split())
            returns = type_name(spec["return"]["type"])
            self.verbs[name] = Verb(name, description, params, returns, str(spec["added"]))

    @classmethod
    def load(cls) -> Schema:
        text = resources.files("vdsm_hosted_engine.verbs").joinpath(SCHEMA_FILE).read_text()
        # libyaml's loader when present (as VDSM's schema_to_pickle.py): ~8x faster on this file,
        # which every `hosted-engine` run and every daemon start reads.
        return cls(yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))

    def arguments(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Validated keyword arguments for the verb `name` called with `args` (in schema order, as
        VDSM's DynamicBridge passes them) and `kwargs` (as our RPC server passes them)."""
        verb = self.verbs[name]
        if len(args) > len(verb.params):
            raise InvalidParams(f"{name}: {len(args)} arguments given, at most {len(verb.params)} expected")
        named = dict(kwargs)
        for param, value in zip(verb.params, args, strict=False):
            if param.name in named:
                raise InvalidParams(f"{name}: parameter {param.name!r} given twice")
            named[param.name] = value
        return self.coerce(verb, named)

    def coerce(self, verb: Verb, params: dict[str, Any]) -> dict[str, Any]:
        """Validated keyword arguments for `verb` (defaults filled in)."""
        known = {p.name for p in verb.params}
        unknown = sorted(set(params) - known)
        if unknown:
            raise InvalidParams(
                f"{verb.name}: unknown parameter {unknown[0]!r} (expected: {', '.join(sorted(known)) or 'none'})"
            )
        values = {}
        for param in verb.params:
            if param.name not in params:
                if param.required:
                    raise InvalidParams(f"{verb.name}: missing parameter {param.name!r}")
                values[param.name] = param.default
                continue
            values[param.name] = self._value(verb, param, params[param.name])
        return values

    def _value(self, verb: Verb, param: Param, value: Any) -> Any:
        where = f"{verb.name}: parameter {param.name!r}"
        kind = param.type
        if kind in self.types and self.types[kind].get("type") == "enum":
            allowed = list(self.types[kind]["values"])
            if value not in allowed:
                raise InvalidParams(f"{where}: {value!r} is not one of {', '.join(allowed)}")
            return value
        if kind == "string":
            if not isinstance(value, str):
                raise InvalidParams(f"{where}: expected a string")
            return value
        if kind in ("int", "uint"):
            if isinstance(value, bool):
                raise InvalidParams(f"{where}: expected an integer")
            try:
                number = int(value, 10) if isinstance(value, str) else int(value)
            except (TypeError, ValueError):
                raise InvalidParams(f"{where}: {value!r} is not an integer") from None
            if isinstance(value, float) and value != number:
                raise InvalidParams(f"{where}: {value!r} is not an integer")
            if kind == "uint" and number < 0:
                raise InvalidParams(f"{where}: {value!r} is negative")
            return number
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise InvalidParams(f"{where}: {value!r} is not true or false")
        if kind == "float":
            try:
                return float(value)
            except (TypeError, ValueError):
                raise InvalidParams(f"{where}: {value!r} is not a number") from None
        raise InvalidParams(f"{where}: the schema's type {kind!r} is unknown")  # our bug, caught by tests

    def help(self) -> str:
        lines = []
        for verb in self.verbs.values():
            params = " ".join(f"{p.name}={p.type}" + ("" if p.required else "?") for p in verb.params)
            lines.append(f"{verb.method} {params}".rstrip())
            lines.append(f"    {verb.description}")
        return "\n".join(lines)
