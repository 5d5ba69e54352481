"""`HostedEngine` as VDSM's own `DynamicBridge` (lib/vdsm/rpc/Bridge.py) loads it, so that vdsmd
itself answers `HostedEngine.<verb>` on its port (54321) besides our daemon on 54322.

What the bridge does with a class it finds as `vdsm.API.<namespace>`, and what this module gives it:
- `apiObj(*[request params named in apiObj.ctorArgs])`: our `ctorArgs` is empty, so each request
  builds `HostedEngine()`, which forwards to the daemon's Unix socket (the verbs' state, the agent
  and the broker, live in the daemon; vdsmd only relays).
- `getattr(api, verb)(*args)`: positional arguments in schema order, the schema's defaults filled
  in, and none of our RPC server's checks (VDSM's own are logged, not enforced, unless
  `api_strict_mode`). The verbs here name and check them against the schema first, as the verbs
  in `verbs/api.py` do.
- The answer is VDSM's envelope: `{"status": {"code": 0, "message": "Done"}, "result": value}` on
  success; `{"status": {"code": <our code>, "message": <our message>}}` on a refusal, which the
  bridge raises to the client as a JSON-RPC error with our code (9000-9999, see errors.py).
- `command_info["HostedEngine_<verb>"] = {"ret": "result"}` tells the bridge which member of the
  envelope is the verb's return value; VDSM's Bridge.py must merge it into its own `command_info`.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from typing import Any, ClassVar

from vdsm_hosted_engine.config import HostConfig
from vdsm_hosted_engine.errors import HostedEngineError
from vdsm_hosted_engine.rpc.client import Client, ClientError, daemon_socket
from vdsm_hosted_engine.verbs.schema import Schema

logger = logging.getLogger(__name__)

NAMESPACE = "HostedEngine"
RESULT_MEMBER = "result"
DONE = {"code": 0, "message": "Done"}  # VDSM's doneCode
DAEMON_SOCKET = daemon_socket(HostConfig.run_dir)  # the daemon's default

Call = Callable[[str, dict[str, Any]], Any]  # (verb, checked keyword arguments) -> the verb's value


@functools.cache
def schema() -> Schema:
    return Schema.load()


command_info: dict[str, dict[str, str]] = {
    f"{NAMESPACE}_{verb.method}": {"ret": RESULT_MEMBER} for verb in schema().verbs.values()
}

# ClientError renders a server's error as "(code=N, message=M)"; the envelope carries M alone.
_SERVER_ERROR = re.compile(r"\(code=-?\d+, message=(?P<message>.*)\)", re.S)


def daemon_call(socket_path: str = DAEMON_SOCKET) -> Call:
    """Each verb forwarded to the daemon's Unix socket, one connection per call (as vdsm-client);
    the daemon's error comes back with its own code and message."""

    def unreachable(reason: str) -> HostedEngineError:
        return HostedEngineError(f"the hosted-engine daemon does not answer on {socket_path}: {reason}")

    def call(verb: str, params: dict[str, Any]) -> Any:
        try:
            client = Client.unix(socket_path)
        except (OSError, ClientError) as e:
            raise unreachable(str(e)) from None
        try:
            return client.call(f"{NAMESPACE}.{verb}", params)
        except ClientError as e:
            wire = _SERVER_ERROR.fullmatch(e.message)
            if wire is None:  # a transport problem, not the daemon's answer
                raise unreachable(e.message) from None
            error = HostedEngineError(wire["message"])
            error.code, error.expected = e.code, True
            raise error from None
        except OSError as e:
            raise unreachable(str(e)) from None
        finally:
            client.close()

    return call


def envelope(value: Any) -> dict[str, Any]:
    """VDSM's success response carrying `value` as the verb's return member."""
    return {"status": dict(DONE), RESULT_MEMBER: value}


def error_envelope(error: HostedEngineError) -> dict[str, Any]:
    """VDSM's error response: our code and message, unchanged."""
    return {"status": {"code": error.code, "message": error.message}}


class HostedEngine:
    """The namespace as VDSM's `API.HostedEngine`: one method per verb, signatures as the schema."""

    ctorArgs: ClassVar[list[str]] = []  # VDSM's name: the request params the constructor takes

    def __init__(self, call: Call | None = None) -> None:
        self._call = call or daemon_call()

    def _run(self, verb: str, *args: Any) -> dict[str, Any]:
        name = f"{NAMESPACE}.{verb}"
        try:
            params = schema().arguments(name, args, {})
            return envelope(self._call(verb, params))
        except HostedEngineError as e:
            if e.expected:
                logger.info("%s refused: %s", name, e.message)
            else:
                logger.warning("%s failed: %s", name, e.message)
            return error_envelope(e)

    def getStatus(self) -> dict[str, Any]:
        return self._run("getStatus")

    def getMonitorStatus(self) -> dict[str, Any]:
        return self._run("getMonitorStatus")

    def getScore(self) -> dict[str, Any]:
        return self._run("getScore")

    def getEvents(self) -> dict[str, Any]:
        return self._run("getEvents")

    def setMaintenance(self, mode: str) -> dict[str, Any]:
        return self._run("setMaintenance", mode)

    def startVM(self) -> dict[str, Any]:
        return self._run("startVM")

    def shutdownVM(self) -> dict[str, Any]:
        return self._run("shutdownVM")

    def poweroffVM(self) -> dict[str, Any]:
        return self._run("poweroffVM")

    def migrateVM(self, hostId: int = 0) -> dict[str, Any]:
        return self._run("migrateVM", hostId)

    def checkLiveliness(self) -> dict[str, Any]:
        return self._run("checkLiveliness")

    def cleanMetadata(self, hostId: int, force: bool = False) -> dict[str, Any]:
        return self._run("cleanMetadata", hostId, force)

    def getFailoverCapacity(self) -> dict[str, Any]:
        return self._run("getFailoverCapacity")

    def getResourceUsage(self) -> dict[str, Any]:
        return self._run("getResourceUsage")

    def getSharedConfig(self, key: str, type: str = "he_shared") -> dict[str, Any]:
        return self._run("getSharedConfig", key, type)

    def setSharedConfig(self, key: str, value: str, type: str = "he_shared") -> dict[str, Any]:
        return self._run("setSharedConfig", key, value, type)

    def reinitializeLockspace(self, force: bool = False) -> dict[str, Any]:
        return self._run("reinitializeLockspace", force)

    def joinHost(self, storage: str, hostname: str = "") -> dict[str, Any]:
        return self._run("joinHost", storage, hostname)

    def vmStateChanged(self) -> dict[str, Any]:
        return self._run("vmStateChanged")
