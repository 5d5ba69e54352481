"""`hosted-engine --events [--follow]` against the running daemon.

Given the daemon has started the Engine VM, when an admin lists the events, then the transitions
from StartState to EngineUp are there, oldest first; when one follows them and sets global
maintenance, then the transition EngineUp-GlobalMaintenance is printed as it happens, once."""

import json
import queue
import re
import subprocess
import sys
import threading

from tests.integration.cli.test_daemon_cli import cli, status, tmp_daemon  # noqa: F401 (the fixture)
from tests.integration.conftest import wait_for

TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  ")


def test_events_list_then_follow(tmp_daemon):  # noqa: F811
    _process, conf, _tmp_path = tmp_daemon
    wait_for(
        lambda: (s := status(conf)) and "1" in s and s["1"]["engine-status"]["health"] == "good",
        timeout=90,
        interval=0.5,
        what="Engine up and healthy",
    )
    wait_for(lambda: "EngineUp" in cli(conf, "--events").stdout, timeout=30, what="EngineUp in --events")
    listed = cli(conf, "--events")
    assert listed.returncode == 0
    lines = [TIME.sub("", line) for line in listed.stdout.splitlines()]
    details = [line.split(":", 1)[0] for line in lines]
    assert details[0].startswith("StartState-") and details[-1].endswith("-EngineUp"), lines
    assert all(TIME.match(line) for line in listed.stdout.splitlines())
    as_json = [json.loads(line) for line in cli(conf, "--events", "--json").stdout.splitlines()]
    assert [e["number"] for e in as_json] == list(range(1, len(as_json) + 1))
    assert {e["kind"] for e in as_json} == {"transition"}

    follower = subprocess.Popen(
        [sys.executable, "-m", "vdsm_hosted_engine.cli.hosted_engine", "--events", "--follow", "--config", str(conf)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    printed: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [printed.put(line) for line in follower.stdout], daemon=True).start()
    try:
        seen = [printed.get(timeout=30) for _ in lines]  # the list first: the same events
        assert [TIME.sub("", line.rstrip("\n")) for line in seen] == lines
        assert cli(conf, "--set-maintenance", "--mode=global").returncode == 0
        new = TIME.sub("", printed.get(timeout=30))
        assert new.startswith("EngineUp-GlobalMaintenance: "), new
    finally:
        follower.terminate()
        follower.wait(timeout=10)
        follower.stdout.close()
        follower.stderr.close()
