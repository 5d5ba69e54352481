"""Running VDSM hook directories around VM actions, exactly as vdsmd does (REFERENCE.md).

`<hooks_dir>/<hook point>/` holds executables run in sorted order. The domxml is in a file named by
the environment variable `_hook_domxml`, which scripts edit in place; `vmId` and the VM's custom
properties are in the environment too. Exit codes: 0 ok; 1 failed, later scripts still run; 2 failed,
later scripts are skipped. Any failure aborts a `before_*` action (HookError); failures at `after_*`
points are only logged. The edited domxml must still parse safely.
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass

from vdsm_hosted_engine.errors import HostedEngineError
from vdsm_hosted_engine.virt.xml import BadDomxml, parse_domxml

logger = logging.getLogger(__name__)

HOOK_TIMEOUT = 60.0


class HookError(HostedEngineError):
    """A hook script failed at a before_* point: the action is aborted."""

    code = 9301

    def __init__(self, point: str, script: str, returncode: int, stderr: str) -> None:
        self.point, self.script, self.returncode, self.stderr = point, script, returncode, stderr
        detail = f": {stderr.strip().splitlines()[-1]}" if stderr.strip() else ""
        super().__init__(f"hook {point}/{os.path.basename(script)} failed with exit code {returncode}{detail}")


@dataclass(frozen=True)
class HookRun:
    script: str
    returncode: int
    stderr: str


def scripts(hooks_dir: str, point: str) -> list[str]:
    directory = os.path.join(hooks_dir, point)
    if not os.path.isdir(directory):
        return []
    found = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            found.append(path)
    return found


def run(
    hooks_dir: str | None,
    point: str,
    domxml: str,
    vm_id: str,
    params: Mapping[str, str] | None = None,
    timeout: float = HOOK_TIMEOUT,
) -> str:
    """Run `point`'s scripts over `domxml`; the (possibly edited) domxml. Raises HookError at a
    before_* point when a script fails, BadDomxml when the result is not a safe domain XML."""
    found = scripts(hooks_dir, point) if hooks_dir else []
    if not found:
        return domxml
    with tempfile.NamedTemporaryFile("w", prefix=f"hook-{point}-", suffix=".xml", delete=False) as f:
        f.write(domxml)
        path = f.name
    try:
        env = {**os.environ, **(params or {}), "_hook_domxml": path, "vmId": vm_id}
        failures: list[HookRun] = []
        for script in found:
            try:
                done = subprocess.run(
                    [script], env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
                )
                result = HookRun(script, done.returncode, done.stderr)
            except subprocess.TimeoutExpired:
                result = HookRun(script, 2, f"timed out after {timeout:.0f} s")
            except OSError as e:
                result = HookRun(script, 2, str(e))
            if result.returncode == 0:
                logger.debug("hook %s/%s ok", point, os.path.basename(script))
                continue
            logger.error(
                "hook %s/%s failed (exit %d): %s",
                point,
                os.path.basename(script),
                result.returncode,
                result.stderr.strip(),
            )
            failures.append(result)
            if result.returncode == 2:
                break
        with open(path, encoding="utf-8") as f:
            edited = f.read()
    finally:
        os.unlink(path)
    if failures and point.startswith("before_"):
        first = failures[0]
        raise HookError(point, first.script, first.returncode, first.stderr)
    if not point.startswith("before_") or not domxml:
        return domxml  # after_* results are not used; before_vm_destroy has no domxml
    try:
        parse_domxml(edited)
    except BadDomxml as e:
        raise BadDomxml(f"after hook point {point}: {e}") from None
    return edited
